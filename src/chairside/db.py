"""The application database: where it is, the engine, and sessions.

With ``DATABASE_URL`` set, that is the database. Without it, the embedded cluster under
``CHAIRSIDE_HOME`` is (``chairside up`` creates it). Engines and sessions are built by
functions, never at import time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

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


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    """An engine with a bounded pool that checks connections before use."""
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_timeout=10,
        connect_args={"connect_timeout": 5, "application_name": "chairside"},
    )


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work commits on success and rolls back on any error."""
    with factory() as session, session.begin():
        yield session
