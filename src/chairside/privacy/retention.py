"""Retention: anonymise clients inactive for ``CHAIRSIDE_PRIVACY_INACTIVE_MONTHS``.

A client is **inactive** when they have neither been seen (no token pair issued: no login,
no refresh; their registration counts as seen) nor had booking activity (a booking of
theirs created, changed or taking place) since the cutoff, ``now() - N months`` as
PostgreSQL counts months. Such a client cannot have an upcoming booking, so the
anonymisation's refusals never apply to them; only clients are taken, never providers,
owners or admins.

Each client is anonymised in a transaction of their own (one failure does not undo the
others); the run holds the ``privacy`` lock and is one ``privacy.retention`` ops event,
which the security audit's compliance area reads back (:func:`check_retention`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Select, exists, func, or_, select, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from chairside.accounts.models import User
from chairside.booking.models import Booking
from chairside.checks import CheckResult, CheckStatus
from chairside.config import Settings
from chairside.db import database_url, make_engine, make_session_factory, transaction
from chairside.errors import DependencyDownError, GuardRefusedError
from chairside.ops.locks import named_lock
from chairside.ops.timeline.store import OpsEvent, open_ops_store
from chairside.privacy import service

LOCK_NAME = "privacy"
RETENTION_EVENT = "privacy.retention"
# The job runs daily; two days without a run means it is not running.
RETENTION_STALE_AFTER = timedelta(hours=48)
CUTOFF = text("SELECT now() - make_interval(months => :months)")


def cutoff_of(conn: Connection | Session, months: int) -> datetime:
    """The moment before which a client without activity counts as inactive."""
    moment: datetime = conn.execute(CUTOFF, {"months": months}).scalar_one()
    return moment


def inactive_clients(cutoff: datetime) -> Select[tuple[uuid.UUID]]:
    """Clients not anonymised, not seen and without booking activity since ``cutoff``."""
    seen = func.coalesce(User.last_seen_at, User.created_at)
    booking_activity = exists().where(
        Booking.client_id == User.id,
        or_(
            Booking.created_at >= cutoff,
            Booking.updated_at >= cutoff,
            Booking.ends_at >= cutoff,
        ),
    )
    return (
        select(User.id)
        .where(
            User.role == "client",
            User.anonymised_at.is_(None),
            seen < cutoff,
            ~booking_activity,
        )
        .order_by(seen)
    )


@dataclass
class RetentionReport:
    """What a retention run did (or, with ``dry_run``, would do)."""

    dry_run: bool
    inactive_months: int
    cutoff: datetime
    inactive: list[uuid.UUID]
    anonymised: list[uuid.UUID] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # user id -> why

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "inactive_months": self.inactive_months,
            "cutoff": self.cutoff.isoformat(),
            "inactive": len(self.inactive),
            "anonymised": len(self.anonymised),
            "refused": self.refused,
            "user_ids": [str(u) for u in (self.inactive if self.dry_run else self.anonymised)],
        }


def run_retention(settings: Settings, *, dry_run: bool, limit: int = 1000) -> RetentionReport:
    """Anonymise up to ``limit`` inactive clients, oldest activity first."""
    months = settings.privacy_inactive_months
    engine = make_engine(database_url(settings), pool_size=1)
    factory = make_session_factory(engine)
    try:
        with named_lock(settings.home, LOCK_NAME, purpose="privacy retention"):
            with factory() as session:
                cutoff = cutoff_of(session, months)
                inactive = list(session.scalars(inactive_clients(cutoff).limit(limit)))
            report = RetentionReport(
                dry_run=dry_run, inactive_months=months, cutoff=cutoff, inactive=inactive
            )
            if dry_run:
                return report
            for user_id in inactive:
                try:
                    with transaction(factory) as session:
                        if _anonymise_if_still_inactive(session, user_id, cutoff):
                            report.anonymised.append(user_id)
                except GuardRefusedError as exc:
                    report.refused[str(user_id)] = exc.message
    except OperationalError as exc:
        raise DependencyDownError(
            f"cannot reach the application database: {str(exc.orig).strip()}"
        ) from None
    finally:
        engine.dispose()
    open_ops_store(settings).record(
        RETENTION_EVENT,
        f"anonymised {len(report.anonymised)} client(s) inactive for {months} months",
        status="ok" if not report.refused else "warning",
        details=report.to_dict(),
    )
    return report


def _anonymise_if_still_inactive(session: Session, user_id: uuid.UUID, cutoff: datetime) -> bool:
    """Anonymise the client unless they came back since the list was read.

    The row is locked first and the question asked again: a login commits its
    ``last_seen_at`` on this row, so it either finished before (the client is skipped) or
    waits for this transaction.
    """
    still = session.scalar(
        inactive_clients(cutoff).where(User.id == user_id).with_for_update(of=User)
    )
    if still is None:
        return False
    service.anonymise_client(session=session, user_id=user_id, actor=None, by="retention")
    return True


def last_retention_run(settings: Settings) -> OpsEvent | None:
    """The newest recorded (not dry) retention run, from the ops store."""
    events = open_ops_store(settings).recent(kind_prefix=RETENTION_EVENT, limit=1)
    return events[0] if events else None


def check_retention(settings: Settings, conn: Connection) -> CheckResult:
    """Ok only when retention ran within two days and no client is past the retention age."""
    months = settings.privacy_inactive_months
    try:
        cutoff = cutoff_of(conn, months)
        overdue = int(
            conn.execute(
                select(func.count()).select_from(inactive_clients(cutoff).subquery())
            ).scalar_one()
        )
    except DBAPIError as exc:
        conn.rollback()
        return CheckResult(
            "privacy_retention",
            CheckStatus.UNKNOWN,
            f"could not count inactive clients: {str(exc.orig).strip().splitlines()[0]} "
            "(run `chairside db migrate`)",
        )
    last = last_retention_run(settings)
    details: dict[str, object] = {
        "inactive_months": months,
        "cutoff": cutoff.isoformat(),
        "overdue_clients": overdue,
        "last_run_at": last.at.isoformat() if last else None,
    }
    problems = []
    if last is None:
        problems.append("privacy retention has never run")
    elif datetime.now(UTC) - last.at > RETENTION_STALE_AFTER:
        problems.append(f"privacy retention last ran at {last.at.isoformat(timespec='seconds')}")
    if overdue:
        problems.append(
            f"{overdue} client(s) inactive for more than {months} months are not anonymised"
        )
    if problems:
        return CheckResult(
            "privacy_retention",
            CheckStatus.WARNING,
            "; ".join(problems)
            + "; expected a run at least every 48 h (the schedule's privacy-retention job, "
            "or `chairside privacy retention`) and no client past the retention age",
            details=details,
        )
    return CheckResult(
        "privacy_retention",
        CheckStatus.OK,
        f"retention ran at {last.at.isoformat(timespec='seconds') if last else '?'}; "
        f"no client inactive for more than {months} months",
        details=details,
    )
