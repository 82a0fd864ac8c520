"""``chairside maintenance-mode``: switch maintenance and read-only modes."""

from __future__ import annotations

import enum
from typing import Annotated

import typer

from chairside.cli.output import JsonOption, Output, guarded
from chairside.config import get_settings
from chairside.ops.deploy.modes import ModeState, ModeSwitch


class Switch(enum.StrEnum):
    ON = "on"
    OFF = "off"
    STATUS = "status"


def maintenance_mode(
    switch: Annotated[Switch, typer.Argument(help="on, off, or status.")] = Switch.STATUS,
    read_only: Annotated[
        bool, typer.Option("--read-only", help="Switch read-only mode instead.")
    ] = False,
    reason: Annotated[str | None, typer.Option(help="Why; shown to clients.")] = None,
    json_output: JsonOption = False,
) -> None:
    """Answer 503 with Retry-After (maintenance) or refuse writes (--read-only)."""
    out = Output(json_mode=json_output)
    with guarded(out):
        modes = ModeSwitch(get_settings())
        if switch is Switch.STATUS:
            state = modes.current()
        else:
            on = switch is Switch.ON
            state = modes.switch(
                maintenance=None if read_only else on,
                read_only=on if read_only else None,
                reason=reason,
            )
        out.result(state.to_dict(), lambda c: c.print(_describe(state)))


def _describe(state: ModeState) -> str:
    parts = [
        f"maintenance {'ON' if state.maintenance else 'off'}",
        f"read-only {'ON' if state.read_only else 'off'}",
    ]
    if state.reason:
        parts.append(f"reason: {state.reason}")
    return ", ".join(parts)
