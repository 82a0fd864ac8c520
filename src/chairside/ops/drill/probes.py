"""What a drill measures and checks, on the restored copy and on the primary.

- :func:`newest_commit` finds a database's newest commit, the same way on both sides so
  their difference is the effective RPO: PostgreSQL's commit timestamps when
  ``track_commit_timestamp`` is on, otherwise the newest ``created_at``/``updated_at``
  among the application's tables (rows written in the lost window are exactly those).
- :func:`smoke_check` looks at the restored booking data inside a READ ONLY
  transaction: row counts, the schema revision, and real availability queries through
  the booking service. It can read, never write. (The data invariants, such as no
  double booking, are the validation's: :func:`check_invariants` runs them too.)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session

from chairside.booking import service as booking_service
from chairside.checks import CheckResult, CheckStatus
from chairside.errors import ChairsideError, DependencyDownError
from chairside.ops.database import migrations

_TIMESTAMP_COLUMNS = ("created_at", "updated_at")
_LIVE = "('pending_payment', 'confirmed')"


@dataclass(frozen=True)
class CommitPoint:
    """The newest commit a database knows of, how it was found, and its WAL position."""

    at: datetime | None
    method: str | None
    lsn: int | None = None


def libpq_conninfo(url: str) -> str:
    """A libpq URL for psycopg from a SQLAlchemy URL (drops the ``+psycopg`` driver)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def wait_until_usable(conninfo: str, *, timeout: float = 60) -> float:
    """Block until the database answers a query; returns when (monotonic)."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(conninfo, connect_timeout=3) as conn:
                conn.execute("SELECT 1").fetchone()
                return time.monotonic()
        except psycopg.Error as exc:
            last = exc
            time.sleep(0.1)
    raise DependencyDownError(f"the restored database did not answer within {timeout}s: {last}")


def newest_commit(conninfo: str, *, method: str | None = None) -> CommitPoint:
    """The newest commit of the database at ``conninfo`` (``method`` forces one way)."""
    with psycopg.connect(conninfo, connect_timeout=5, autocommit=True) as conn:
        lsn = None
        row = conn.execute(
            "SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() "
            "ELSE pg_current_wal_insert_lsn() END::text"
        ).fetchone()
        if row and row[0]:
            lsn = parse_lsn(str(row[0]))
        tracked = conn.execute("SHOW track_commit_timestamp").fetchone()
        if method in (None, "commit_timestamp") and tracked and tracked[0] == "on":
            found = conn.execute("SELECT (pg_last_committed_xact()).timestamp").fetchone()
            if found and found[0] is not None:
                return CommitPoint(found[0], "commit_timestamp", lsn)
            if method == "commit_timestamp":
                return CommitPoint(None, method, lsn)
        return CommitPoint(_newest_row_time(conn), "newest_row", lsn)


def parse_lsn(text: str) -> int:
    """``'0/2000028'`` as an integer."""
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


def _newest_row_time(conn: psycopg.Connection[Any]) -> datetime | None:
    columns = conn.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = 'public' AND column_name = ANY(%s) "
        "AND data_type = 'timestamp with time zone'",
        (list(_TIMESTAMP_COLUMNS),),
    ).fetchall()
    if not columns:
        return None
    parts = [
        f'SELECT max("{column}") AS t FROM public."{table}"'
        for table, column in columns
        if table.replace("_", "").isalnum() and column in _TIMESTAMP_COLUMNS
    ]
    row = conn.execute(f"SELECT max(t) FROM ({' UNION ALL '.join(parts)}) AS newest").fetchone()
    return row[0] if row else None


def find_app_database(conninfo_for: Callable[[str], str], preferred: str | None) -> str | None:
    """The restored database holding the booking schema (the configured one first)."""
    with psycopg.connect(conninfo_for("postgres"), connect_timeout=5, autocommit=True) as conn:
        names = [
            str(r[0])
            for r in conn.execute(
                "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate "
                "ORDER BY datname"
            )
        ]
    ordered = ([preferred] if preferred in names else []) + [n for n in names if n != preferred]
    for name in ordered:
        with psycopg.connect(conninfo_for(name), connect_timeout=5) as conn:
            row = conn.execute("SELECT to_regclass('public.bookings') IS NOT NULL").fetchone()
            if row and row[0]:
                return name
    return None


def smoke_check(
    url: URL | str, *, today: date | None = None
) -> tuple[dict[str, Any], list[CheckResult]]:
    """Read-only checks of restored booking data; returns facts and check results."""
    engine = create_engine(url, pool_pre_ping=False)
    facts: dict[str, Any] = {}
    checks: list[CheckResult] = []
    try:
        with Session(engine) as session:
            session.execute(text("SET TRANSACTION READ ONLY"))
            for table in ("users", "shops", "providers", "services", "bookings", "payments"):
                facts[f"{table}_rows"] = session.execute(
                    text(f"SELECT count(*) FROM {table}")
                ).scalar_one()
            facts["live_bookings"] = session.execute(
                text(f"SELECT count(*) FROM bookings WHERE status IN {_LIVE}")
            ).scalar_one()
            revision = session.execute(text("SELECT version_num FROM alembic_version")).scalar()
            head = migrations.head_revision()
            facts["schema_revision"] = revision
            checks.append(
                CheckResult(
                    "schema_revision",
                    CheckStatus.OK if revision == head else CheckStatus.WARNING,
                    f"restored schema at {revision}"
                    + ("" if revision == head else f"; this code expects {head}"),
                )
            )
            checks.append(_availability(session, facts, today))
            session.rollback()
    except ChairsideError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure to read restored data is a finding
        checks.append(
            CheckResult("smoke", CheckStatus.CRITICAL, f"reading the restored data failed: {exc}")
        )
    finally:
        engine.dispose()
    return facts, checks


def _availability(session: Session, facts: dict[str, Any], today: date | None) -> CheckResult:
    """Ask the booking service for a week of free slots of a few providers."""
    day = today or datetime.now(UTC).date()
    pairs = session.execute(
        text(
            "SELECT ps.provider_id, ps.service_id FROM provider_services ps "
            "JOIN providers p ON p.id = ps.provider_id ORDER BY ps.provider_id LIMIT 3"
        )
    ).all()
    if not pairs:
        return CheckResult("availability", CheckStatus.OK, "no provider offers a service yet")
    slots = 0
    for provider_id, service_id in pairs:
        try:
            found = booking_service.list_availability(
                session=session,
                provider_id=provider_id,
                service_id=service_id,
                first_day=day,
                last_day=day + timedelta(days=6),
            )
        except ChairsideError as exc:
            return CheckResult(
                "availability", CheckStatus.CRITICAL, f"availability query failed: {exc.message}"
            )
        slots += sum(run.count for run in found.runs)
    facts["availability_queries"] = len(pairs)
    facts["free_slots_next_7_days"] = slots
    return CheckResult(
        "availability",
        CheckStatus.OK,
        f"{len(pairs)} availability queries answered ({slots} free slots in 7 days)",
    )
