"""An operator's mode switch, recorded on the timeline (``maintenance-mode on|off``).

:class:`~chairside.ops.deploy.modes.ModeSwitch` is the seam every worker reads; this is
the command's one service call: switch, then record who changed what as an ops event
``maintenance_mode.on|off`` or ``read_only.on|off`` (details ``before`` and ``after``).
"""

from __future__ import annotations

from chairside.config import Settings
from chairside.ops.deploy.modes import ModeState, ModeSwitch
from chairside.ops.timeline.store import open_ops_store


def switch_modes(
    settings: Settings,
    *,
    maintenance: bool | None = None,
    read_only: bool | None = None,
    reason: str | None = None,
) -> ModeState:
    """Turn a mode on or off (``None`` leaves it) and record the change as an ops event."""
    modes = ModeSwitch(settings)
    before = modes.current()
    after = modes.switch(maintenance=maintenance, read_only=read_only, reason=reason)
    name, on = (
        ("read_only", read_only) if maintenance is None else ("maintenance_mode", maintenance)
    )
    label = name.replace("_", " ")
    was = before.read_only if name == "read_only" else before.maintenance
    summary = f"{label} {'on' if on else 'off'}"
    if was == on:
        summary += " (it already was)"
    if reason:
        summary += f": {reason}"
    open_ops_store(settings).record(
        f"{name}.{'on' if on else 'off'}",
        summary,
        details={"before": before.to_dict(), "after": after.to_dict(), "reason": reason},
    )
    return after
