"""``chairside notify test``: prove the configured notification URLs reach someone."""

from __future__ import annotations

from typing import Annotated

import typer

from chairside.cli.output import JsonOption, Output, guarded
from chairside.config import get_settings
from chairside.errors import OperationFailedError
from chairside.ops.notify.service import notifier_from_settings, send_test
from chairside.ops.timeline.store import open_ops_store

notify_app = typer.Typer(help="Notifications through apprise URLs.")


@notify_app.command("test")
def test(
    url: Annotated[
        list[str] | None,
        typer.Option(help="Send to this apprise URL instead of CHAIRSIDE_NOTIFY_URLS."),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Send a test message to every notification URL; exit 1 if any did not take it."""
    out = Output(json_mode=json_output)
    with guarded(out):
        settings = get_settings()
        notifier = notifier_from_settings(settings, urls=url or [])
        report = send_test(notifier)
        open_ops_store(settings).record(
            "notify.test",
            f"test notification to {len(report.deliveries)} destination(s)",
            status="ok" if report.ok else "failed",
            details=report.to_dict(),
        )
        if not report.ok:
            raise OperationFailedError(
                f"not delivered to {', '.join(report.failed)}; check the URL and the service",
                details=report.to_dict(),
            )
        out.result(
            report.to_dict(),
            lambda console: console.print(
                "\n".join(f"delivered to {d.target}" for d in report.deliveries)
            ),
        )
