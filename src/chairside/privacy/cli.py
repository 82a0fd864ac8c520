"""``chairside privacy``: a client's data for the operator, anonymisation, retention.

``export`` prints (or writes, 0600) everything held about one account as JSON.
``anonymise`` removes an account's personal data (destructive: ``--dry-run``, a question
on a terminal or ``--yes``, the ``privacy`` lock). ``retention`` anonymises clients
inactive for ``CHAIRSIDE_PRIVACY_INACTIVE_MONTHS`` (scheduled daily). Each is an ops event
naming the account by id, never by e-mail: the ops store is not anonymised.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from chairside.cli.output import DryRunOption, JsonOption, Output, YesOption, confirm, guarded
from chairside.config import Settings, get_settings
from chairside.db import database_url, make_engine, make_session_factory, transaction
from chairside.errors import DependencyDownError, InputError
from chairside.ops.locks import named_lock
from chairside.ops.timeline.store import current_actor, open_ops_store
from chairside.privacy import retention, service

app = typer.Typer(
    help="Data rights: export or anonymise a client's data; retention of inactive clients.",
    no_args_is_help=True,
)

EmailOption = Annotated[
    str | None, typer.Option("--email", help="The account's e-mail (case-insensitive).")
]
UserIdOption = Annotated[
    str | None, typer.Option("--user-id", help="The account's id (works after anonymisation).")
]


@app.command()
def export(
    email: EmailOption = None,
    user_id: UserIdOption = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write the JSON here (0600) instead of stdout.")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Everything held about one account, as JSON (to stdout, or to --out FILE)."""
    out = Output(json_mode=json_output)
    with guarded(out):
        settings = get_settings()
        wanted = _which(email, user_id)
        with _sessions(settings) as factory, factory() as session:
            user = service.find_account(session=session, **wanted)
            data = service.export_client(session=session, user_id=user.id)
        summary = _export_summary(data, out_file)
        if out_file is not None:
            _write_private(out_file, data)
        open_ops_store(settings).record(
            "privacy.export",
            f"exported the data of account {user.id}",
            details={k: v for k, v in summary.items() if k != "path"},
        )
    if out_file is None:
        # The export is the result: JSON either way, nothing else on stdout.
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return
    out.result(summary, lambda c: c.print(_describe_export(summary)))


@app.command()
def anonymise(
    email: EmailOption = None,
    user_id: UserIdOption = None,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    json_output: JsonOption = False,
) -> None:
    """Remove an account's personal data; bookings stay anonymised for the shop's books."""
    out = Output(json_mode=json_output)
    with guarded(out):
        settings = get_settings()
        wanted = _which(email, user_id)
        with (
            named_lock(settings.home, retention.LOCK_NAME, purpose="privacy anonymise"),
            _sessions(settings) as factory,
        ):
            with factory() as session:
                user = service.find_account(session=session, **wanted)
                plan = service.anonymise_client(
                    session=session, user_id=user.id, actor=None, by="operator", dry_run=True
                )
                session.rollback()
            if dry_run or plan.already_anonymised:
                report = plan
            else:
                confirm(
                    out,
                    f"anonymise account {plan.user_id} ({plan.role}; {plan.bookings} booking(s) "
                    "kept without its name)? This cannot be undone.",
                    yes=yes,
                )
                with transaction(factory) as session:
                    report = service.anonymise_client(
                        session=session,
                        user_id=plan.user_id,
                        actor=None,
                        by=f"operator {current_actor()}",
                    )
                open_ops_store(settings).record(
                    "privacy.anonymise",
                    f"anonymised account {report.user_id}",
                    details=report.to_dict(),
                )
    out.result(report.to_dict(), lambda c: _render_anonymisation(c, report))


@app.command("retention")
def retention_command(
    limit: Annotated[
        int, typer.Option(min=1, max=100_000, help="At most this many clients per run.")
    ] = 1000,
    dry_run: DryRunOption = False,
    json_output: JsonOption = False,
) -> None:
    """Anonymise clients inactive for CHAIRSIDE_PRIVACY_INACTIVE_MONTHS (no login, no booking)."""
    out = Output(json_mode=json_output)
    with guarded(out):
        report = retention.run_retention(get_settings(), dry_run=dry_run, limit=limit)
    out.result(report.to_dict(), lambda c: _render_retention(c, report))
    if report.refused:
        raise typer.Exit(1)


def _which(email: str | None, user_id: str | None) -> dict[str, Any]:
    if (email is None) == (user_id is None):
        raise InputError("say which account: --email EMAIL or --user-id ID (one of them)")
    if user_id is None:
        return {"email": email}
    try:
        return {"user_id": uuid.UUID(user_id)}
    except ValueError:
        raise InputError(
            f"--user-id {user_id!r} is not an account id; expected a UUID", field="--user-id"
        ) from None


@contextmanager
def _sessions(settings: Settings) -> Iterator[sessionmaker[Session]]:
    """A session factory on a one-connection engine; an unreachable database, clearly."""
    engine = make_engine(database_url(settings), pool_size=1)
    try:
        yield make_session_factory(engine)
    except OperationalError as exc:
        raise DependencyDownError(
            f"cannot reach the application database: {str(exc.orig).strip()}"
        ) from None
    finally:
        engine.dispose()


def _export_summary(data: dict[str, Any], path: Path | None) -> dict[str, Any]:
    bookings = data["bookings"]
    return {
        "path": str(path) if path else None,
        "user_id": data["account"]["id"],
        "bookings": len(bookings),
        "payments": sum(len(b["payments"]) for b in bookings),
        "reviews": len(data["reviews"]),
        "audit_entries": len(data["audit"]),
    }


def _write_private(path: Path, data: dict[str, Any]) -> None:
    """Write the export readable by its owner only, replacing the file atomically."""
    temporary = path.with_name(f".{path.name}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(data, handle, indent=2)
        handle.write("\n")
    temporary.replace(path)


def _describe_export(summary: dict[str, Any]) -> str:
    return (
        f"wrote the data of account {summary['user_id']} to {summary['path']}: "
        f"{summary['bookings']} booking(s), {summary['payments']} payment(s), "
        f"{summary['reviews']} review(s), {summary['audit_entries']} audit entries"
    )


def _render_anonymisation(console: Console, report: service.AnonymisationReport) -> None:
    if report.already_anonymised:
        console.print(f"account {report.user_id} was already anonymised at {report.anonymised_at}")
        return
    verb = "would anonymise" if report.dry_run else "anonymised"
    console.print(
        f"{verb} account {report.user_id} ({report.role}): {report.bookings} booking(s) and "
        f"{report.payments} payment(s) kept without personal data, {report.reviews} review "
        f"text(s) emptied, {report.audit_rows_redacted} audit row(s) redacted"
    )


def _render_retention(console: Console, report: retention.RetentionReport) -> None:
    if report.dry_run:
        console.print(
            f"would anonymise {len(report.inactive)} client(s) inactive since {report.cutoff} "
            f"({report.inactive_months} months)"
        )
    else:
        console.print(
            f"anonymised {len(report.anonymised)} client(s) inactive since {report.cutoff} "
            f"({report.inactive_months} months)"
        )
    for user_id, why in report.refused.items():
        console.print(f"  refused {user_id}: {why}")
