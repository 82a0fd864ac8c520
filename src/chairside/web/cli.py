"""``chairside ops break-glass``: a short-lived ops console token, issued on the host."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from chairside.cli.output import JsonOption, Output, guarded
from chairside.config import get_settings
from chairside.ops.health.service import api_base_url
from chairside.ops.timeline.store import current_actor, open_ops_store
from chairside.web import breakglass

app = typer.Typer(help="The ops console (/ops): access while logins cannot work.")


@app.command("break-glass")
def break_glass(
    minutes: Annotated[
        int,
        typer.Option(
            "--minutes",
            help=f"How long the token works (1-{breakglass.MAX_MINUTES}).",
        ),
    ] = breakglass.DEFAULT_MINUTES,
    json_output: JsonOption = False,
) -> None:
    """Print a console token (and a link carrying it) that works with the database down."""
    out = Output(json_mode=json_output)
    with guarded(out):
        settings = get_settings()
        actor = current_actor()
        token, claims = breakglass.issue_token(settings, issued_by=actor, minutes=minutes)
        open_ops_store(settings).record(
            "ops_console.break_glass",
            f"break-glass console token issued to {actor}, valid until "
            f"{claims.expires_at.isoformat(timespec='seconds')}",
            details={"jti": claims.jti, "minutes": minutes},
        )
        url = f"{api_base_url(settings)}/ops#break-glass={token}"
        data = {
            "token": token,
            "url": url,
            "expires_at": claims.expires_at.isoformat(timespec="seconds"),
            "issued_by": actor,
        }

        def render(console: Console) -> None:
            console.print(f"Ops console token, valid until {data['expires_at']}:")
            console.print(token, soft_wrap=True)
            console.print("Open (the token stays in the browser tab, never in a server log):")
            console.print(url, soft_wrap=True, markup=False)

        out.result(data, render)
