"""``chairside bookings``: the booking side's operator commands.

``expire-holds`` releases payment holds that ran out (the API does this lazily for the
slots it needs; this sweep tidies the rest and is safe to schedule). ``purge`` deletes
expired token revocations, old idempotency keys and delivered simulated webhooks.
``check`` verifies the no-overlap invariant on the database (exit codes of check
commands).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy import func, select

from chairside.booking import holds, housekeeping, integrity
from chairside.checks import CheckStatus
from chairside.cli.output import (
    CommandKind,
    DryRunOption,
    JsonOption,
    Output,
    YesOption,
    confirm,
    guarded,
)
from chairside.config import get_settings
from chairside.db import database_url, make_engine, make_session_factory, transaction
from chairside.ops.locks import named_lock
from chairside.ops.timeline.store import open_ops_store

app = typer.Typer(help="Booking-side operations: expire run-out holds, check the invariant.")


@app.command("expire-holds")
def expire_holds(
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="At most this many.")] = 1000,
    dry_run: DryRunOption = False,
    json_output: JsonOption = False,
) -> None:
    """Mark pending_payment bookings whose hold ran out as expired, freeing their slots."""
    out = Output(json_mode=json_output)
    with guarded(out):
        settings = get_settings()
        engine = make_engine(database_url(settings), pool_size=1)
        try:
            with named_lock(settings.home, "bookings-expire-holds", purpose="expire holds"):
                with transaction(make_session_factory(engine)) as session:
                    stale = [str(b.id) for b in holds.stale_holds(session=session, limit=limit)]
                    expired = 0
                    if not dry_run:
                        expired = holds.expire_stale_holds(session=session, limit=limit)
                if not dry_run:
                    open_ops_store(settings).record(
                        "bookings.expire_holds",
                        f"expired {expired} run-out payment holds",
                        details={"expired": expired},
                    )
        finally:
            engine.dispose()
        data = {"dry_run": dry_run, "stale": len(stale), "expired": expired, "booking_ids": stale}
        verb = "would expire" if dry_run else "expired"
        out.result(data, lambda c: c.print(f"{verb} {len(stale) if dry_run else expired} holds"))


@app.command("purge")
def purge(
    older_than_hours: Annotated[
        int, typer.Option(help="Keep idempotency keys and delivered webhooks this recent.")
    ] = 48,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    json_output: JsonOption = False,
) -> None:
    """Delete expired token revocations and refresh tokens, old idempotency keys, old webhooks."""
    out = Output(json_mode=json_output)
    with guarded(out):
        settings = get_settings()
        if not dry_run:
            confirm(out, "Delete expired revocations and old idempotency keys?", yes=yes)
        engine = make_engine(database_url(settings), pool_size=1)
        try:
            with named_lock(settings.home, "bookings-purge", purpose="purge booking-side rows"):
                with transaction(make_session_factory(engine)) as session:
                    now = session.scalar(select(func.now()))
                    assert now is not None
                    counts = housekeeping.purge(
                        session=session,
                        older_than_hours=older_than_hours,
                        now=now,
                        dry_run=dry_run,
                    )
                if not dry_run:
                    open_ops_store(settings).record(
                        "bookings.purge",
                        f"purged {sum(counts.to_dict().values())} booking-side rows",
                        details=counts.to_dict(),
                    )
        finally:
            engine.dispose()
        data = {"dry_run": dry_run, "older_than_hours": older_than_hours, **counts.to_dict()}
        verb = "would delete" if dry_run else "deleted"
        out.result(data, lambda c: c.print(f"{verb}: {counts.to_dict()}"))


@app.command("check")
def check(json_output: JsonOption = False) -> None:
    """Check that no two live bookings of a provider overlap (0 ok, 2 critical, 3 unknown)."""
    out = Output(json_mode=json_output)
    with guarded(out, CommandKind.CHECK):
        settings = get_settings()
        engine = make_engine(database_url(settings), pool_size=1)
        try:
            with make_session_factory(engine)() as session:
                report = integrity.check_bookings(session=session)
        finally:
            engine.dispose()
        status = CheckStatus.OK if report.ok else CheckStatus.CRITICAL
        data = {
            "status": status.value,
            "constraint_present": report.constraint_present,
            "overlaps": [
                {
                    "booking_a": o.booking_a,
                    "booking_b": o.booking_b,
                    "provider_id": o.provider_id,
                    "starts_at": o.starts_at.isoformat(),
                    "ends_at": o.ends_at.isoformat(),
                }
                for o in report.overlaps
            ],
        }

        def render(console: Console) -> None:
            if report.ok:
                console.print("ok: no overlapping live bookings; exclusion constraint present")
            else:
                console.print(
                    f"CRITICAL: {len(report.overlaps)} overlapping pairs; "
                    f"constraint present: {report.constraint_present}"
                )

        out.result(data, render)
    out.exit_check(status)
