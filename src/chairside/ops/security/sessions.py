"""Breach containment, part one: log accounts out everywhere.

Each account's cutoff goes through the accounts domain (:func:`revocation.revoke_all`,
the same write "log out everywhere" makes): PostgreSQL's ``users.tokens_valid_after``,
which every request checks, so it holds across restarts and a flushed Redis. Each account
gets an audit row with no actor (the operator acted, not the user) in the same
transaction; the whole run gets one ops event.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from chairside.accounts import revocation
from chairside.accounts.models import User
from chairside.audit import service as audit
from chairside.config import Settings
from chairside.db import database_url, make_engine, make_session_factory, transaction
from chairside.errors import DependencyDownError, InputError, NotFoundError
from chairside.ops.locks import named_lock
from chairside.ops.timeline.store import current_actor, open_ops_store

LOCK_NAME = "security-sessions"


@dataclass(frozen=True)
class RevokePlan:
    """Whose sessions a revocation ends."""

    scope: str
    accounts: list[tuple[uuid.UUID, str]]

    def describe(self) -> str:
        return f"log out {len(self.accounts)} account(s) everywhere ({self.scope})"


@dataclass(frozen=True)
class RevokeReport:
    """What ``security revoke-sessions`` did (or would do, with ``dry_run``)."""

    plan: RevokePlan
    dry_run: bool
    tokens_valid_after: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "scope": self.plan.scope,
            "dry_run": self.dry_run,
            "accounts": [email for _, email in self.plan.accounts],
            "count": len(self.plan.accounts),
            "tokens_valid_after": (
                self.tokens_valid_after.isoformat() if self.tokens_valid_after else None
            ),
        }


def revoke_sessions(
    settings: Settings,
    *,
    email: str | None,
    everyone: bool,
    dry_run: bool,
    confirm: Callable[[RevokePlan], None],
) -> RevokeReport:
    """Refuse every token issued so far to one account (``email``) or to all (``everyone``)."""
    if (email is None) == (not everyone):
        raise InputError("say whose sessions to end: --user EMAIL or --all (not both)")
    engine = make_engine(database_url(settings), pool_size=1)
    factory = make_session_factory(engine)
    try:
        with named_lock(settings.home, LOCK_NAME, purpose="security revoke-sessions"):
            with factory() as session:
                plan = _plan(session, email=email)
            if dry_run:
                return RevokeReport(plan=plan, dry_run=True)
            confirm(plan)
            with transaction(factory) as session:
                moment = _revoke(session, plan)
    except OperationalError as exc:
        raise DependencyDownError(
            f"cannot reach the application database: {str(exc.orig).strip()}"
        ) from None
    finally:
        engine.dispose()
    report = RevokeReport(plan=plan, dry_run=False, tokens_valid_after=moment)
    open_ops_store(settings).record(
        "security.revoke_sessions",
        f"logged out {len(plan.accounts)} account(s) everywhere ({plan.scope})",
        details=report.to_dict(),
    )
    return report


def _plan(session: Session, *, email: str | None) -> RevokePlan:
    query = select(User.id, User.email).order_by(User.email)
    if email is not None:
        query = query.where(func.lower(User.email) == email.strip().lower())
    accounts = [(row.id, row.email) for row in session.execute(query)]
    if email is not None and not accounts:
        raise NotFoundError(f"no account with e-mail {email!r}", field="--user")
    return RevokePlan(scope=f"user {email}" if email else "all accounts", accounts=accounts)


def _revoke(session: Session, plan: RevokePlan) -> datetime | None:
    moment: datetime | None = None
    operator = current_actor()
    for user_id, _ in plan.accounts:
        moment = revocation.revoke_all(session=session, user_id=user_id)
        audit.record(
            session=session,
            actor=None,
            action="account.logged_out_everywhere",
            entity="user",
            entity_id=user_id,
            after={"tokens_valid_after": moment, "by": f"operator {operator}"},
        )
    return moment
