"""Restoring the embedded cluster in place, so that a failure never costs the old database.

The running cluster is stopped, a new data directory is recovered beside it
(``pg/restore-<stamp>/data``), and only when recovery has finished are the two swapped
by renames on one file system: ``pg/data`` becomes ``pg/data.previous-<stamp>`` (kept
until the operator prunes it) and the new directory becomes ``pg/data``. The swap keeps
the running configuration (port, socket, archiving) from the old directory and queues
the new timeline's history file and completed segments for archiving, which was off
while the copy recovered.

A state file, ``pg/restore-state.json``, says which phase a restore reached. A restore
killed at any moment leaves either the old directory in place (the half-built copy and
its server are cleaned up by :func:`clean_interrupted`), or, killed between the two
renames, a state that :func:`clean_interrupted` finishes or rolls back.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from chairside.errors import ComponentError, OperationFailedError
from chairside.ops.restore.layout import RestoreLayout, previous_dir, previous_dirs
from chairside.ops.restore.recovery import RECOVERY_KEYS, RestoredCluster, replace_config
from chairside.runtime.osuser import run_as
from chairside.runtime.postgres import CONF_FILE, PostgresCluster

STATE_FILE = "restore-state.json"
_SEGMENT = re.compile(r"^[0-9A-F]{24}$")


@dataclass(frozen=True)
class CleanupReport:
    """What :func:`clean_interrupted` found and did."""

    found: bool
    actions: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        return {"found": self.found, "actions": list(self.actions)}


def state_path(home: Path) -> Path:
    return home / "pg" / STATE_FILE


def write_state(home: Path, **state: Any) -> None:
    """Record the phase an in-place restore has reached (atomically; merged with before)."""
    path = state_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    merged = {**(read_state(home) or {}), **state}
    tmp.write_text(json.dumps(merged, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def read_state(home: Path) -> dict[str, Any] | None:
    path = state_path(home)
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def clear_state(home: Path) -> None:
    state_path(home).unlink(missing_ok=True)


def control_system_identifier(cluster: PostgresCluster) -> str:
    """The system identifier in ``pg_control`` (works with the server stopped)."""
    result = run_as(
        cluster.user, [cluster.binary("pg_controldata"), "-D", str(cluster.data_dir)], check=False
    )
    match = re.search(r"Database system identifier:\s+(\d+)", result.stdout)
    if result.returncode != 0 or not match:
        raise ComponentError(
            f"cannot read pg_control in {cluster.data_dir}: {result.stderr.strip()}"
        )
    return match.group(1)


def archive_pending_wal(cluster: PostgresCluster, *, timeout: float) -> str | None:
    """Switch WAL and wait until the finished segment is archived; its name, or None.

    Without this, the transactions in the segment being written when the cluster is
    stopped would be missing from a restore to "latest".
    """
    if cluster.read_config().get("archive_mode", "off") == "off":
        return None
    with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
        row = conn.execute(
            "SELECT pg_walfile_name(pg_switch_wal()), pg_current_wal_lsn()"
        ).fetchone()
        assert row is not None
        segment = str(row[0])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = conn.execute(
                "SELECT last_archived_wal >= %s, last_failed_wal FROM pg_stat_archiver",
                (segment,),
            ).fetchone()
            if done is not None and done[0]:
                return segment
            time.sleep(0.1)
    raise OperationFailedError(
        f"WAL segment {segment} was not archived within {timeout:.0f}s, so a restore could "
        "lose its transactions; check `chairside backup status` and the archive_command"
    )


def swap_in(
    home: Path, layout: RestoreLayout, *, when: str, live: PostgresCluster, new_timeline: int
) -> Path:
    """Make the recovered directory the live one; returns where the old one was kept."""
    kept = previous_dir(home, when=when)
    old_conf = (
        (live.data_dir / CONF_FILE).read_text() if (live.data_dir / CONF_FILE).exists() else None
    )
    _keep_live_settings(layout.data_dir, old_conf, live)
    _queue_new_timeline_for_archiving(layout.data_dir, new_timeline, live)
    write_state(
        home, phase="swapping", data=str(live.data_dir), previous=str(kept),
        recovered=str(layout.data_dir), root=str(layout.root),
    )  # fmt: skip
    os.replace(live.data_dir, kept)
    os.replace(layout.data_dir, live.data_dir)
    write_state(home, phase="swapped", data=str(live.data_dir), previous=str(kept))
    return kept


def swap_back(home: Path, *, live: PostgresCluster, kept: Path, when: str) -> Path:
    """Undo :func:`swap_in`: the kept directory is live again; returns the set-aside copy."""
    live.stop(mode="immediate")
    failed = home / "pg" / f"data.failed-restore-{when}"
    os.replace(live.data_dir, failed)
    os.replace(kept, live.data_dir)
    clear_state(home)
    return failed


def clean_interrupted(home: Path, *, template: PostgresCluster) -> CleanupReport:
    """Finish or undo what a killed in-place restore left; never touches a good pg/data."""
    state = read_state(home)
    actions: list[str] = []
    data_dir = home / "pg" / "data"
    if state and state.get("phase") == "swapping" and not (data_dir / "PG_VERSION").exists():
        recovered = Path(state["recovered"])
        previous = Path(state["previous"])
        if (recovered / "PG_VERSION").exists():
            os.replace(recovered, data_dir)
            actions.append(f"finished the interrupted swap: {recovered} is now {data_dir}")
        elif (previous / "PG_VERSION").exists():
            os.replace(previous, data_dir)
            actions.append(f"rolled back the interrupted swap: {previous} is {data_dir} again")
    if state and state.get("phase") == "swapped" and "previous" in state:
        previous = Path(state["previous"])
        if (previous / "PG_VERSION").exists() and not _running(template):
            # Killed after the swap but before the restored database ran: the restore was
            # never reported as done, so the previous database comes back.
            failed = (
                home / "pg" / f"data.failed-restore-{previous.name.removeprefix('data.previous-')}"
            )
            os.replace(data_dir, failed)
            os.replace(previous, data_dir)
            actions.append(
                f"rolled back the unfinished restore: {previous} is {data_dir} again (the "
                f"restored data is kept in {failed})"
            )
    for root in sorted((home / "pg").glob("restore-*")) if (home / "pg").is_dir() else []:
        if not root.is_dir():
            continue
        staging = RestoredCluster(
            data_dir=root / "data",
            port=template.port,
            password="",
            log_file=root / "postgresql.log",
            socket_dir=root / "run",
            bin_dir=template.bin_dir,
            user=template.user,
        )
        if staging.is_running():
            staging.stop(mode="immediate", timeout=30)
            actions.append(f"stopped the half-restored server in {root}")
        shutil.rmtree(root, ignore_errors=True)
        actions.append(f"removed the half-built restore {root}")
    if state is not None:
        clear_state(home)
    return CleanupReport(bool(actions), tuple(actions))


def _running(cluster: PostgresCluster) -> bool:
    cluster.clear_stale_pid()
    return cluster.is_running()


def prune_previous(home: Path, *, keep: int = 0, dry_run: bool = False) -> list[Path]:
    """Remove kept previous data directories but the newest ``keep``; returns them."""
    doomed = previous_dirs(home)
    doomed = doomed[: max(0, len(doomed) - keep)]
    if not dry_run:
        for path in doomed:
            shutil.rmtree(path)
    return doomed


def _keep_live_settings(data_dir: Path, old_conf: str | None, live: PostgresCluster) -> None:
    # The backup carried the configuration of the moment it was taken; the live one
    # (port, socket, archiving) is what the embedded runtime expects now.
    restored = PostgresCluster(
        data_dir=data_dir, port=live.port, password=live.password, log_file=live.log_file,
        socket_dir=live.socket_dir, bin_dir=live.bin_dir, user=live.user,
    )  # fmt: skip
    if old_conf is not None:
        target = data_dir / CONF_FILE
        target.write_text(old_conf)
        if not live.user.is_current:
            assert live.user.uid is not None and live.user.gid is not None
            os.chown(target, live.user.uid, live.user.gid)
    settings = {k: v for k, v in restored.read_config().items() if k not in RECOVERY_KEYS}
    replace_config(restored, settings)


def _queue_new_timeline_for_archiving(data_dir: Path, timeline: int, live: PostgresCluster) -> None:
    # Archiving was off while the copy recovered and was promoted, so PostgreSQL did not
    # mark the new timeline's history file and finished segments ".ready".
    if live.read_config().get("archive_mode", "off") == "off":
        return
    wal = data_dir / "pg_wal"
    status = wal / "archive_status"
    prefix = f"{timeline:08X}"
    current = _checkpoint_segment(data_dir, live)
    names = [f"{prefix}.history"] if (wal / f"{prefix}.history").exists() else []
    names += [
        p.name
        for p in wal.iterdir()
        if _SEGMENT.match(p.name) and p.name.startswith(prefix) and current and p.name < current
    ]
    for name in names:
        if not (status / f"{name}.done").exists():
            marker = status / f"{name}.ready"
            marker.touch()
            if not live.user.is_current:
                assert live.user.uid is not None and live.user.gid is not None
                os.chown(marker, live.user.uid, live.user.gid)


def _checkpoint_segment(data_dir: Path, live: PostgresCluster) -> str | None:
    result = run_as(live.user, [live.binary("pg_controldata"), "-D", str(data_dir)], check=False)
    match = re.search(r"Latest checkpoint's REDO WAL file:\s+([0-9A-F]{24})", result.stdout)
    return match.group(1) if match else None
