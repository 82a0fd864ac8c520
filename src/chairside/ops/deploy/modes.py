"""Maintenance and read-only modes.

A mode is on when the settings say so (``CHAIRSIDE_MAINTENANCE_MODE``,
``CHAIRSIDE_READ_ONLY``) or when an operator switched it on with
``chairside maintenance-mode on``, which writes ``$CHAIRSIDE_HOME/modes.json``. Every
worker on the host reads that file (re-parsed only when it changes), so the switch
takes effect without a restart. Coordinating several hosts is the deploy work's job;
this module is the seam it plugs into.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from chairside.config import Settings
from chairside.ops.timeline.store import open_ops_store


@dataclass(frozen=True)
class ModeState:
    """Which modes are on, why, and since when."""

    maintenance: bool = False
    read_only: bool = False
    reason: str | None = None
    since: str | None = None
    retry_after: int = 300
    # Who switched it on: "deploy" for `deploy start`/`rollback`, else None (an operator,
    # a restore). A deployment only keeps maintenance on after it if someone else set it.
    owner: str | None = None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class ModeSwitch:
    """Reads and writes the mode state of one Chairside home."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._path = settings.home / "modes.json"
        self._cached: tuple[float, ModeState] | None = None

    @property
    def path(self) -> Path:
        return self._path

    def current(self) -> ModeState:
        """The modes in force now: the settings' and the switched-on file's, combined."""
        stored = self._read_file()
        return ModeState(
            maintenance=self._settings.maintenance_mode or stored.maintenance,
            read_only=self._settings.read_only or stored.read_only,
            reason=stored.reason
            or ("set in settings" if self._settings.maintenance_mode else None),
            since=stored.since,
            retry_after=self._settings.maintenance_retry_after,
            owner=stored.owner,
        )

    def switch(
        self,
        *,
        maintenance: bool | None = None,
        read_only: bool | None = None,
        reason: str | None = None,
        owner: str | None = None,
    ) -> ModeState:
        """Turn modes on or off; ``None`` leaves a mode as it is."""
        stored = self._read_file()
        new = ModeState(
            maintenance=stored.maintenance if maintenance is None else maintenance,
            read_only=stored.read_only if read_only is None else read_only,
            reason=reason,
            since=datetime.now(UTC).isoformat(timespec="seconds"),
            owner=owner,
        )
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text(json.dumps(new.to_dict(), indent=2) + "\n")
        tmp.replace(self._path)
        self._cached = None
        return self.current()

    def _read_file(self) -> ModeState:
        try:
            mtime = os.stat(self._path).st_mtime
        except FileNotFoundError:
            return ModeState()
        if self._cached and self._cached[0] == mtime:
            return self._cached[1]
        try:
            data = json.loads(self._path.read_text())
            state = ModeState(
                maintenance=bool(data.get("maintenance")),
                read_only=bool(data.get("read_only")),
                reason=data.get("reason"),
                since=data.get("since"),
                owner=data.get("owner"),
            )
        except (json.JSONDecodeError, OSError):
            # A torn or hand-mangled file: fail safe by keeping the service up.
            state = ModeState()
        self._cached = (mtime, state)
        return state


def switch_modes(
    settings: Settings, *, on: bool, read_only: bool = False, reason: str | None = None
) -> ModeState:
    """``maintenance-mode on|off``: ``on`` sets one mode (maintenance, or read-only with
    ``read_only``); ``off`` clears read-only with ``read_only``, else every mode ``on``
    set, so a round trip always ends serving normally. Recorded as an ops event."""
    modes = ModeSwitch(settings)
    before = modes.current()
    if on:
        state = modes.switch(
            maintenance=None if read_only else True,
            read_only=True if read_only else None,
            reason=reason,
        )
    else:
        state = modes.switch(maintenance=None if read_only else False, read_only=False)
    mode = "read_only" if read_only else ("maintenance" if on else "all")
    open_ops_store(settings).record(
        f"modes.{'on' if on else 'off'}",
        f"{mode.replace('_', '-')} mode {'on' if on else 'off'}"
        + (f": {reason}" if reason else "")
        + f" (maintenance {'ON' if state.maintenance else 'off'},"
        f" read-only {'ON' if state.read_only else 'off'})",
        details={"mode": mode, **state.to_dict(), "before": before.to_dict(), "reason": reason},
    )
    return state
