"""What surrounds an in-place swap: maintenance mode, recovery after a kill, a new backup.

- While the embedded database is down for an in-place restore, the API answers 503 with
  ``Retry-After`` (maintenance mode) rather than failing requests; the modes in force
  before are put back afterwards, on success and on failure. The previous
  ``modes.json`` is kept in the restore's state file, so a restore killed mid-way gets
  its modes back from the next ``restore cleanup`` or ``chairside up``.
- After a kill, the next cleanup also starts the previous database again when it was
  running before the restore (``up`` starts it itself).
- After a successful restore, a full backup on the new timeline is started in the
  background, so the new branch soon has a backup of its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from chairside.config import Settings
from chairside.ops.backup.archiving import archive_environment
from chairside.ops.deploy.modes import ModeSwitch
from chairside.ops.restore import inplace
from chairside.ops.restore.layout import stamp
from chairside.runtime.postgres import PostgresCluster

NO_FILE = "__absent__"


def enter_maintenance(settings: Settings, *, reason: str) -> str:
    """Switch maintenance mode on; returns the previous ``modes.json`` to put back."""
    switch = ModeSwitch(settings)
    try:
        previous = switch.path.read_text()
    except FileNotFoundError:
        previous = NO_FILE
    switch.switch(maintenance=True, reason=reason)
    return previous


def restore_modes(settings: Settings, previous: str) -> None:
    """Put back the modes saved by :func:`enter_maintenance`."""
    path = ModeSwitch(settings).path
    if previous == NO_FILE:
        path.unlink(missing_ok=True)
        return
    tmp = path.with_suffix(".restore-tmp")
    tmp.write_text(previous)
    tmp.replace(path)


def recover_interrupted(
    settings: Settings, live: PostgresCluster, *, start: bool
) -> inplace.CleanupReport:
    """Undo a killed in-place restore: directories, modes, and (``start``) the database."""
    state = inplace.read_state(settings.home) or {}
    report = inplace.clean_interrupted(settings.home, template=live)
    actions = list(report.actions)
    previous_modes = state.get("modes")
    if isinstance(previous_modes, str):
        restore_modes(settings, previous_modes)
        actions.append("put back the maintenance/read-only modes in force before the restore")
    if start and state.get("live_was_running") and live.exists and not live.is_running():
        live.start()
        actions.append(f"started the previous database again on port {live.port}")
    return inplace.CleanupReport(bool(actions), tuple(actions))


@dataclass(frozen=True)
class BackgroundBackup:
    """A full backup started in the background after a restore."""

    pid: int
    log_file: Path

    def to_dict(self) -> dict[str, object]:
        return {"pid": self.pid, "log_file": str(self.log_file)}


def start_full_backup(settings: Settings) -> BackgroundBackup:
    """Start ``chairside backup full`` detached, logging to ``$CHAIRSIDE_HOME/logs``."""
    log_dir = settings.home / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_file = log_dir / f"backup-after-restore-{stamp()}.log"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CHAIRSIDE_") and k != "DATABASE_URL"
    }
    env.update(archive_environment(settings))
    env["CHAIRSIDE_ENV"] = settings.env
    if settings.pg_bin_dir is not None:
        env["CHAIRSIDE_PG_BIN_DIR"] = str(settings.pg_bin_dir)
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "chairside", "backup", "full", "--json"],
            env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    return BackgroundBackup(process.pid, log_file)
