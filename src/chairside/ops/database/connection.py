"""One connection to the application database for an ops command, or a clear error."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, create_engine, pool
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from chairside.config import Settings
from chairside.db import database_url
from chairside.errors import DependencyDownError


@contextmanager
def app_database(settings: Settings) -> Iterator[Connection]:
    """A connection to the application database; DependencyDownError when unreachable."""
    url = database_url(settings)
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        try:
            conn = engine.connect()
        except OperationalError as exc:
            where = make_url(url).render_as_string(hide_password=True)
            raise DependencyDownError(
                f"cannot reach the database at {where}: {str(exc.orig).strip()}"
            ) from None
        with conn:
            yield conn
    finally:
        engine.dispose()
