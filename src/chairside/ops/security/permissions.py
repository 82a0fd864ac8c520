"""File permissions under ``$CHAIRSIDE_HOME``: secrets private, the PostgreSQL data
directory the server user's alone, backups and the ops store not open to everyone.

Every finding names the path, its mode and the mode expected.
"""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path
from urllib.parse import urlsplit

from chairside.checks import CheckResult, CheckStatus
from chairside.config import Settings
from chairside.runtime.osuser import server_user

WORLD_WRITABLE_SHOWN = 10


def check_permissions(settings: Settings) -> list[CheckResult]:
    """Every permission check."""
    return [
        check_secrets(settings.home),
        check_postgres_data_dir(settings),
        check_backup_repository(settings),
        check_ops_store(settings.home),
        check_world_writable(settings.home),
    ]


def check_secrets(home: Path) -> CheckResult:
    """Critical when a secret file is readable by others than its owner or its dir is open."""
    secret_dir = home / "secrets"
    files = [home / "jwt-secret"]
    if secret_dir.is_dir():
        files += sorted(p for p in secret_dir.iterdir() if p.is_file() and not p.is_symlink())
    present = [p for p in files if p.is_file()]
    problems = [
        f"{p} is {_mode(p)} (expected 0600)" for p in present if _permission_bits(p) & 0o077
    ]
    if secret_dir.is_dir() and _permission_bits(secret_dir) & 0o077:
        problems.append(f"{secret_dir} is {_mode(secret_dir)} (expected 0700)")
    details: dict[str, object] = {"files": [str(p) for p in present]}
    if problems:
        return CheckResult(
            "secret_files",
            CheckStatus.CRITICAL,
            "secrets readable by others: " + "; ".join(problems),
            details=details,
        )
    if not present:
        return CheckResult("secret_files", CheckStatus.OK, f"no secret files under {home}")
    return CheckResult(
        "secret_files",
        CheckStatus.OK,
        f"{len(present)} secret file(s) are 0600 or stricter",
        details=details,
    )


def check_postgres_data_dir(settings: Settings) -> CheckResult:
    """Critical when the embedded cluster's data dir is not 0700 or not the server user's."""
    data_dir = settings.home / "pg" / "data"
    if not settings.embedded or not data_dir.is_dir():
        return CheckResult(
            "postgres_data_dir",
            CheckStatus.OK,
            f"no embedded cluster at {data_dir} (the database server guards its own files)",
        )
    user = server_user()
    expected_uid = os.geteuid() if user.uid is None else user.uid
    info = data_dir.stat()
    problems = []
    if info.st_mode & 0o077:
        problems.append(f"mode {_mode(data_dir)} (expected 0700)")
    if info.st_uid != expected_uid:
        problems.append(f"owner {_owner(info.st_uid)} (expected {user.name})")
    if problems:
        return CheckResult(
            "postgres_data_dir",
            CheckStatus.CRITICAL,
            f"{data_dir}: " + ", ".join(problems),
        )
    return CheckResult(
        "postgres_data_dir", CheckStatus.OK, f"{data_dir} is 0700, owned by {user.name}"
    )


def check_backup_repository(settings: Settings) -> CheckResult:
    """Critical when a local backup repository can be read by every user."""
    raw = settings.backup_repository_url
    if raw.startswith("s3://"):
        return CheckResult(
            "backup_repository", CheckStatus.OK, f"{raw}: access is the bucket policy's"
        )
    path = Path(urlsplit(raw).path if raw.startswith("file://") else raw)
    if not path.exists():
        return CheckResult("backup_repository", CheckStatus.OK, f"no backup repository at {path}")
    if _permission_bits(path) & 0o005 == 0o005:
        return CheckResult(
            "backup_repository",
            CheckStatus.CRITICAL,
            f"{path} is {_mode(path)}: every local user can read the backups (every account "
            "and booking); expected no access for others (chmod o-rwx)",
        )
    return CheckResult(
        "backup_repository", CheckStatus.OK, f"{path} is {_mode(path)}, closed to others"
    )


def check_ops_store(home: Path) -> CheckResult:
    """Critical when the ops store (events, incidents) is writable by every user."""
    path = home / "ops.db"
    if not path.exists():
        return CheckResult("ops_store", CheckStatus.OK, f"no ops store at {path}")
    if _permission_bits(path) & 0o002:
        return CheckResult(
            "ops_store",
            CheckStatus.CRITICAL,
            f"{path} is {_mode(path)}: anyone can rewrite the ops history; expected not "
            "writable by others (chmod o-w)",
        )
    return CheckResult("ops_store", CheckStatus.OK, f"{path} is {_mode(path)}")


def check_world_writable(home: Path) -> CheckResult:
    """Warning for any file or directory under the home that every user may write."""
    if not home.is_dir():
        return CheckResult("world_writable", CheckStatus.OK, f"no home at {home}")
    found: list[Path] = []
    for root, dirs, files in os.walk(home):
        for name in dirs + files:
            path = Path(root) / name
            try:
                info = path.lstat()
            except OSError:
                continue  # gone while walking
            if stat.S_ISLNK(info.st_mode) or stat.S_ISSOCK(info.st_mode):
                continue
            if info.st_mode & 0o002 and not (stat.S_ISDIR(info.st_mode) and info.st_mode & 0o1000):
                found.append(path)
    if not found:
        return CheckResult(
            "world_writable", CheckStatus.OK, f"nothing under {home} is world-writable"
        )
    shown = ", ".join(f"{p} ({_mode(p)})" for p in found[:WORLD_WRITABLE_SHOWN])
    more = (
        f" and {len(found) - WORLD_WRITABLE_SHOWN} more"
        if len(found) > WORLD_WRITABLE_SHOWN
        else ""
    )
    return CheckResult(
        "world_writable",
        CheckStatus.WARNING,
        f"world-writable under {home}: {shown}{more}; expected none (chmod o-w)",
        details={"paths": [str(p) for p in found]},
    )


def _permission_bits(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _mode(path: Path) -> str:
    return f"{_permission_bits(path):04o}"


def _owner(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"
