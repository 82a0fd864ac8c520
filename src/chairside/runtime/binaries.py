"""Locating the PostgreSQL server binaries and the Redis server."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from chairside.errors import BinaryNotFoundError

MIN_POSTGRES_MAJOR = 15
_DEBIAN_ROOT = Path("/usr/lib/postgresql")


def find_pg_bin_dir(configured: Path | None = None) -> Path:
    """The directory holding ``initdb``, ``pg_ctl`` and ``postgres`` (15 or newer)."""
    if configured is not None:
        if not (configured / "pg_ctl").exists() or not (configured / "initdb").exists():
            raise BinaryNotFoundError(
                f"CHAIRSIDE_PG_BIN_DIR={str(configured)!r} holds no initdb/pg_ctl; point it at "
                f"a PostgreSQL {MIN_POSTGRES_MAJOR}+ bin directory, or install the server: "
                f"apt-get install postgresql-{MIN_POSTGRES_MAJOR}"
            )
        return configured
    candidates = sorted(
        (int(m.group(1)), d / "bin")
        for d in (_DEBIAN_ROOT.iterdir() if _DEBIAN_ROOT.is_dir() else [])
        if (m := re.fullmatch(r"(\d+)", d.name)) and (d / "bin" / "pg_ctl").exists()
    )
    usable = [path for major, path in candidates if major >= MIN_POSTGRES_MAJOR]
    if usable:
        return usable[-1]
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).resolve().parent
    raise BinaryNotFoundError(
        f"PostgreSQL {MIN_POSTGRES_MAJOR}+ server binaries (initdb, pg_ctl) were not found in "
        f"{_DEBIAN_ROOT}/*/bin or on PATH; install them with: "
        f"apt-get install postgresql-{MIN_POSTGRES_MAJOR} (or set CHAIRSIDE_PG_BIN_DIR)"
    )


def find_redis_server(configured: str) -> Path | None:
    """The ``redis-server`` binary, or ``None`` when it is not installed."""
    found = shutil.which(configured)
    return Path(found) if found else None
