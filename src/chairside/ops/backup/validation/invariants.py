"""The application's own invariants, checked on a test-restored copy of the database.

A restore that PostgreSQL accepts can still hold data the application would never have
written; these checks say so in the application's terms:

- **no overlapping live bookings**: no two bookings of one provider in a live status
  (``pending_payment``, ``confirmed``) overlap, buffers included; the exclusion
  constraint promises it, and a damaged index or a hand-made restore could break it.
  Skipped, with a note, while the ``bookings`` table does not exist;
- **row counts** of the application's tables, recorded so two validations (or a
  validation and production) can be compared.
"""

from __future__ import annotations

import time

import psycopg
from psycopg import sql

from chairside.checks import CheckResult, CheckStatus

LIVE_STATUSES = ("pending_payment", "confirmed")
KEY_TABLES = (
    "users", "accounts", "shops", "providers", "services", "bookings", "payments",
    "reviews", "audit_log",
)  # fmt: skip
_MAX_TABLES = 60


def check_invariants(conninfo: str) -> list[CheckResult]:
    """Every invariant of the application database reached by ``conninfo``."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        return [_no_overlapping_bookings(conn), _row_counts(conn)]


def _no_overlapping_bookings(conn: psycopg.Connection[tuple[object, ...]]) -> CheckResult:
    began = time.monotonic()
    columns = {
        str(row[0])
        for row in conn.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name = 'bookings'"
        )
    }
    if not columns:
        return _result(
            "no_overlapping_bookings", CheckStatus.OK,
            "skipped: the database has no bookings table yet", began, {"skipped": True},
        )  # fmt: skip
    start, end = (
        ("buffered_starts_at", "buffered_ends_at")
        if {"buffered_starts_at", "buffered_ends_at"} <= columns
        else ("starts_at", "ends_at")
    )
    query = sql.SQL(
        "SELECT a.id::text, b.id::text, a.provider_id::text FROM bookings a "
        "JOIN bookings b ON a.provider_id = b.provider_id AND a.id < b.id "
        "AND tstzrange(a.{s}, a.{e}, '[)') && tstzrange(b.{s}, b.{e}, '[)') "
        "WHERE a.status = ANY(%s) AND b.status = ANY(%s) LIMIT 5"
    ).format(s=sql.Identifier(start), e=sql.Identifier(end))
    clashes = conn.execute(query, (list(LIVE_STATUSES), list(LIVE_STATUSES))).fetchall()
    if clashes:
        pairs = "; ".join(f"{a} and {b} (provider {p})" for a, b, p in clashes)
        return _result(
            "no_overlapping_bookings", CheckStatus.CRITICAL,
            f"live bookings overlap for one provider: {pairs}", began,
            {"examples": [list(c) for c in clashes]},
        )  # fmt: skip
    return _result(
        "no_overlapping_bookings", CheckStatus.OK,
        "no two live bookings of a provider overlap", began,
    )  # fmt: skip


def _row_counts(conn: psycopg.Connection[tuple[object, ...]]) -> CheckResult:
    began = time.monotonic()
    tables = [
        str(row[0])
        for row in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        )
    ]
    ordered = [t for t in KEY_TABLES if t in tables] + [t for t in tables if t not in KEY_TABLES]
    counts: dict[str, int] = {}
    for table in ordered[:_MAX_TABLES]:
        row = conn.execute(
            sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier("public", table))
        ).fetchone()
        counts[table] = int(str(row[0])) if row else 0
    key = {t: counts[t] for t in KEY_TABLES if t in counts}
    summary = ", ".join(f"{t} {n}" for t, n in (key or counts).items()) or "no tables"
    return _result("row_counts", CheckStatus.OK, summary, began, {"tables": counts})


def _result(
    name: str,
    status: CheckStatus,
    summary: str,
    began: float,
    details: dict[str, object] | None = None,
) -> CheckResult:
    return CheckResult(
        name, status, summary, round((time.monotonic() - began) * 1000, 1), details or {}
    )
