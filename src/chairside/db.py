"""The application database: where it is, the engine, and sessions.

With ``DATABASE_URL`` set, that is the database. Without it, the embedded cluster under
``CHAIRSIDE_HOME`` is (``chairside up`` creates it). Engines and sessions are built by
functions, never at import time.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import ArgumentError, DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from chairside.config import Settings
from chairside.errors import ConfigError


class Base(DeclarativeBase):
    """Declarative base of every application table."""


def database_url(settings: Settings) -> str:
    """The SQLAlchemy URL of the application database (psycopg 3 driver)."""
    if settings.database_url is not None:
        return normalize_url(settings.database_url.get_secret_value())
    from chairside.runtime.embedded import embedded_stack

    return embedded_stack(settings).database_url


def redis_url(settings: Settings) -> str | None:
    """The Redis URL, or None when Chairside runs without Redis."""
    if settings.redis_url is not None:
        return settings.redis_url.get_secret_value()
    if not settings.embedded:
        return None
    from chairside.runtime.embedded import embedded_stack

    return embedded_stack(settings).redis_url


def normalize_url(raw: str) -> str:
    """Accept ``postgres://`` and ``postgresql://`` URLs and pin the psycopg 3 driver."""
    try:
        url = make_url(raw)
    except ArgumentError:
        raise ConfigError(
            "DATABASE_URL is not a database URL; expected postgresql://user:pass@host:port/db"
        ) from None
    if url.get_backend_name() not in {"postgresql", "postgres"}:
        raise ConfigError(
            f"DATABASE_URL uses {url.get_backend_name()!r}; only PostgreSQL "
            "(postgresql://…) is supported"
        )
    return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


# A pooled connection idle for longer than this is pinged before use: long enough that a
# busy worker (connections back in the pool for milliseconds) skips the round trip, short
# enough that one left over from before a database restart (which takes seconds) is
# replaced instead of failing a request.
PING_AFTER_IDLE_SECONDS = 1.0


def make_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int | None = None,
    pool_timeout: float = 10,
    prepared_statements: bool = True,
) -> Engine:
    """An engine with a bounded pool that checks connections that sat idle before use.

    The API passes its capacity settings (api/lifespan.py): requests are admitted no more
    than ``pool_size`` at a time, so the pool never makes one wait, and ``pool_timeout``
    only bounds the reserve's users (health, metrics, console). ``prepared_statements``
    off: for a transaction-mode pooler (PgBouncer), where consecutive transactions of one
    connection may run on different servers, so a statement psycopg prepared on one is
    unknown (or already known) on the next.
    """
    connect_args: dict[str, object] = {"connect_timeout": 5, "application_name": "chairside"}
    if not prepared_statements:
        connect_args["prepare_threshold"] = None
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size if max_overflow is None else max_overflow,
        pool_timeout=pool_timeout,
        connect_args=connect_args,
    )
    event.listen(engine, "checkin", _note_checkin)
    event.listen(engine, "checkout", partial(_ping_if_idle, engine.dialect))
    return engine


def _note_checkin(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    record.info["checked_in_at"] = time.monotonic()


def _ping_if_idle(
    dialect: Dialect, dbapi_connection: Any, record: ConnectionPoolEntry, proxy: Any
) -> None:
    """``pool_pre_ping``, but only for connections that sat in the pool for a while."""
    checked_in_at = record.info.get("checked_in_at")
    if checked_in_at is None or time.monotonic() - checked_in_at < PING_AFTER_IDLE_SECONDS:
        return  # fresh from connect, or back in the pool a moment ago
    try:
        alive = dialect.do_ping(dbapi_connection)
    except dialect.loaded_dbapi.Error:
        alive = False
    if not alive:
        # The pool discards this connection and checks out another (a fresh one, if the
        # server restarted: it invalidates every connection older than this one).
        raise DisconnectionError("pooled connection is gone; reconnecting")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work commits on success and rolls back on any error."""
    with factory() as session, session.begin():
        yield session
