"""Running and inspecting Alembic migrations of the application database."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool
from sqlalchemy.exc import OperationalError

from chairside.errors import DependencyDownError, InputError

SCRIPT_LOCATION = Path(__file__).resolve().parents[2] / "migrations"


@dataclass(frozen=True)
class Revision:
    """One migration: its id, what it does, and whether the database has it."""

    revision: str
    down_revision: str | None
    message: str
    applied: bool


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    """The newest revision this code knows."""
    head = ScriptDirectory.from_config(alembic_config("postgresql://")).get_current_head()
    assert head is not None
    return head


def current_revision(*, url: str) -> str | None:
    """The revision the database is at, or None before the first migration."""
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except OperationalError as exc:
        raise DependencyDownError(f"cannot reach the database: {exc.orig}") from None
    finally:
        engine.dispose()


def upgrade(*, url: str, revision: str = "head") -> tuple[str | None, str | None]:
    """Migrate forward to ``revision``; returns (before, after). InputError for an older one."""
    before = current_revision(url=url)
    script = ScriptDirectory.from_config(alembic_config(url))
    if revision != "head" and revision not in {r.revision for r in script.walk_revisions()}:
        known = ", ".join(r.revision for r in script.walk_revisions())
        raise InputError(f"unknown revision {revision!r}; known: head, {known}", field="revision")
    if before is not None and revision not in ("head", before):
        applied = {r.revision for r in script.iterate_revisions(before, "base")}
        if revision in applied:
            raise InputError(
                f"revision {revision!r} is older than the database's {before!r}: migrate only "
                "goes forward; going back drops data, which `chairside deploy rollback` does "
                "(with a prompt and the deployment's backup)",
                field="revision",
            )
    command.upgrade(alembic_config(url), revision)
    return before, current_revision(url=url)


def downgrade(*, url: str, revision: str) -> tuple[str | None, str | None]:
    """Migrate down to ``revision`` ("base" for an empty schema); returns (before, after).

    The downgrade steps live in the newer revisions' files, so this must run while the
    newer code is still installed.
    """
    before = current_revision(url=url)
    script = ScriptDirectory.from_config(alembic_config(url))
    known = {r.revision for r in script.walk_revisions()}
    if revision != "base" and revision not in known:
        raise InputError(
            f"unknown revision {revision!r}; known: base, {', '.join(sorted(known))}",
            field="revision",
        )
    if before is not None and before not in known:
        raise InputError(
            f"the database is at {before!r}, which this code does not know: downgrade with"
            " the code that applied it",
            field="revision",
        )
    command.downgrade(alembic_config(url), revision)
    return before, current_revision(url=url)


def history(*, url: str | None) -> list[Revision]:
    """Every revision, oldest first, with whether the database has it applied."""
    script = ScriptDirectory.from_config(alembic_config(url or "postgresql://"))
    current = current_revision(url=url) if url else None
    applied: set[str] = set()
    if current:
        applied = {r.revision for r in script.iterate_revisions(current, "base")}
    revisions = [
        Revision(
            revision=r.revision,
            down_revision=r.down_revision if isinstance(r.down_revision, str) else None,
            message=(r.doc or "").splitlines()[0] if r.doc else "",
            applied=r.revision in applied,
        )
        for r in script.walk_revisions()
    ]
    return list(reversed(revisions))
