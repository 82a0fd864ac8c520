"""The ``replication`` health check: WAL receivers and slots, read through the app's engine.

The judging is ``ops/backup/replication.py``'s (the same rules as ``backup status`` and
the sync policy); this module only reads the server through the probe's engine.
"""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from chairside.checks import CheckResult, CheckStatus
from chairside.config import Settings
from chairside.ops.backup import replication
from chairside.ops.backup.sync_policy import fallback_since


def check_replication(engine: Engine, settings: Settings) -> CheckResult:
    """Receivers the WAL mode needs, the synchronous one in sync mode, slots holding WAL."""
    try:
        with engine.connect() as conn:
            facts = replication.read_replication(
                lambda sql: list(conn.exec_driver_sql(sql).fetchall())
            )
    except SQLAlchemyError as exc:
        return CheckResult(
            "replication", CheckStatus.UNKNOWN, f"cannot read pg_stat_replication: {exc!s:.200}"
        )
    return replication.check_replication(settings, facts, fallback_since=fallback_since(settings))
