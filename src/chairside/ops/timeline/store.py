"""The ops store: events and incidents kept apart from the application database.

Default: a SQLite file ``$CHAIRSIDE_HOME/ops.db``; production: ``CHAIRSIDE_OPS_STORE_URL``
(any SQLAlchemy URL, typically a separate PostgreSQL database). A point-in-time restore
of the application database leaves this store as it was.
"""

from __future__ import annotations

import json
import os
import pwd
import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Engine,
    Integer,
    String,
    Text,
    create_engine,
    event,
    select,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.pool import NullPool

from chairside.config import Settings


class OpsBase(DeclarativeBase):
    """Declarative base of the ops store's tables (not migrated with the app database)."""


class OpsEventRow(OpsBase):
    __tablename__ = "ops_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16))
    summary: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(128))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


@dataclass(frozen=True)
class OpsEvent:
    """One thing that happened to the service, as an operator would log it."""

    id: int
    at: datetime
    kind: str
    status: str
    summary: str
    actor: str
    details: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "kind": self.kind,
            "status": self.status,
            "summary": self.summary,
            "actor": self.actor,
            "details": self.details,
        }


class OpsStore:
    """Records and reads ops events."""

    def __init__(self, engine: Engine, *, create_tables: bool = True) -> None:
        self.engine = engine
        if create_tables:
            OpsBase.metadata.create_all(engine)

    def record(
        self,
        kind: str,
        summary: str,
        *,
        status: str = "ok",
        details: dict[str, Any] | None = None,
    ) -> OpsEvent:
        """Append an event (kind like ``backup.full``, status ``ok``/``failed``/…)."""
        row = OpsEventRow(
            at=datetime.now(UTC),
            kind=kind,
            status=status,
            summary=summary,
            actor=current_actor(),
            details=json.loads(json.dumps(details or {}, default=str)),
        )
        with Session(self.engine) as session, session.begin():
            session.add(row)
            session.flush()
            return _to_event(row)

    def recent(self, *, kind_prefix: str | None = None, limit: int = 50) -> list[OpsEvent]:
        """The newest events first, optionally only kinds starting with ``kind_prefix``."""
        query = select(OpsEventRow).order_by(OpsEventRow.id.desc()).limit(limit)
        if kind_prefix:
            query = query.where(OpsEventRow.kind.startswith(kind_prefix))
        with Session(self.engine) as session:
            return [_to_event(row) for row in session.scalars(query)]

    def listing(
        self, *, since: datetime | None = None, kind_prefix: str | None = None, limit: int = 100
    ) -> list[OpsEvent]:
        """The newest ``limit`` events since ``since`` of kinds starting so, oldest first."""
        query = select(OpsEventRow).order_by(OpsEventRow.id.desc()).limit(limit)
        if since is not None:
            query = query.where(OpsEventRow.at >= since.astimezone(UTC))
        if kind_prefix:
            query = query.where(OpsEventRow.kind.startswith(kind_prefix))
        with Session(self.engine) as session:
            return [_to_event(row) for row in reversed(list(session.scalars(query)))]

    def between(self, start: datetime, end: datetime) -> list[OpsEvent]:
        """Events from ``start`` to ``end`` (UTC, both included), oldest first."""
        query = (
            select(OpsEventRow)
            .where(OpsEventRow.at >= start.astimezone(UTC), OpsEventRow.at <= end.astimezone(UTC))
            .order_by(OpsEventRow.at, OpsEventRow.id)
        )
        with Session(self.engine) as session:
            return [_to_event(row) for row in session.scalars(query)]


# One engine per store URL per process, and no pool: a connection is opened per use and
# closed after it. A long-running process (the scheduler, the API) records events for
# days; an engine per call with a pool each would leave connections behind every time,
# and a pool of its own would hold connections to a store between rare writes.
_ENGINES: dict[str, tuple[Engine, set[str]]] = {}
_ENGINES_LOCK = threading.Lock()


def open_ops_store(settings: Settings) -> OpsStore:
    """The ops store of these settings (SQLite under CHAIRSIDE_HOME unless configured)."""
    if settings.ops_store_url is not None:
        url = settings.ops_store_url.get_secret_value()
    else:
        settings.home.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{settings.home / 'ops.db'}"
    with _ENGINES_LOCK:
        engine, created = _ENGINES.get(url) or (_new_engine(url), set())
        # Tables are created once per engine, and again when a module that defines more
        # of them (incidents, say) was imported since.
        missing = set(OpsBase.metadata.tables) - created
        store = OpsStore(engine, create_tables=bool(missing))
        _ENGINES[url] = (engine, created | missing)
    return store


def _new_engine(url: str) -> Engine:
    engine = create_engine(url, poolclass=NullPool)
    if url.startswith("sqlite"):
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def current_actor() -> str:
    """Who is acting: the (sudo) user and the host, as events and incidents record it.

    ``$USER`` is unset under cron, systemd and ``docker exec``: the effective user's name
    from the password database then, and its number only when it has no entry.
    """
    user = os.environ.get("SUDO_USER") or os.environ.get("USER") or _effective_user()
    return f"{user}@{socket.gethostname()}"


def _effective_user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return f"uid {os.geteuid()}"


def _to_event(row: OpsEventRow) -> OpsEvent:
    at = row.at if row.at.tzinfo else row.at.replace(tzinfo=UTC)
    return OpsEvent(row.id, at, row.kind, row.status, row.summary, row.actor, dict(row.details))
