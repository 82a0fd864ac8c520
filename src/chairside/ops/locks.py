"""Named locks for ops work, held as ``flock`` on files under ``$CHAIRSIDE_HOME/locks``.

Files rather than database locks, because the database may be the thing being restored.
A lock is exclusive (one restore at a time) or shared (many validations may read a
backup while retention, which needs it exclusively, waits). The kernel drops a lock when
its process dies, so a ``kill -9`` never leaves one behind.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from chairside.errors import InputError, LockHeldError

LockMode = Literal["shared", "exclusive"]


def lock_path(home: Path, name: str) -> Path:
    if not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise InputError(f"lock name {name!r} may use letters, digits, '-', '_' and '.' only")
    return home / "locks" / f"{name}.lock"


@contextmanager
def named_lock(
    home: Path,
    name: str,
    *,
    mode: LockMode = "exclusive",
    purpose: str = "",
    wait_seconds: float = 0,
) -> Iterator[None]:
    """Hold lock ``name`` for the block; raise :class:`LockHeldError` naming the holder."""
    path = lock_path(home, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    flag = fcntl.LOCK_SH if mode == "shared" else fcntl.LOCK_EX
    deadline = time.monotonic() + wait_seconds
    note: Path | None = None
    acquired = False
    try:
        while True:
            try:
                fcntl.flock(fd, flag | fcntl.LOCK_NB)
                acquired = True
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockHeldError(
                        f"the '{name}' lock is held by {describe_holder(path)}; "
                        "wait for it to finish, or check it with `ps` before retrying"
                    ) from None
                time.sleep(0.1)
        holder = {
            "pid": os.getpid(),
            "purpose": purpose,
            "mode": mode,
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        if mode == "exclusive":
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(holder).encode(), 0)
        else:
            # Shared holders each leave a note, so a refusal names who holds it now
            # rather than whoever held it exclusively last.
            note = _holders_dir(path) / f"{os.getpid()}-{id(holder):x}.json"
            note.parent.mkdir(exist_ok=True)
            note.write_text(json.dumps(holder))
        yield
    finally:
        if note is not None:
            note.unlink(missing_ok=True)
        elif mode == "exclusive" and acquired:
            os.ftruncate(fd, 0)  # the next refusal must not name a holder that is gone
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def is_locked(home: Path, name: str) -> bool:
    """True when someone holds lock ``name`` in any mode."""
    path = lock_path(home, name)
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def describe_holder(path: Path) -> str:
    """Who holds the lock now: the exclusive holder, or every live shared holder."""
    holders = [h for h in [_read(path), *map(_read, _notes(path))] if h and _alive(h.get("pid"))]
    if not holders:
        return "another process"
    return ", ".join(
        f"pid {h.get('pid')} ({h.get('purpose') or 'unknown'}, {h.get('mode', 'exclusive')}) "
        f"since {h.get('since')}"
        for h in holders
    )


def _holders_dir(path: Path) -> Path:
    return path.with_name(f"{path.name}.holders")


def _notes(path: Path) -> list[Path]:
    folder = _holders_dir(path)
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def _read(path: Path) -> dict[str, object] | None:
    try:
        data = json.loads(path.read_text() or "{}")
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) and data else None


def _alive(pid: object) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
