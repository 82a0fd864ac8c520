"""Restores as an operator asks for them: preview, then carry out, with every guard.

``preview_restore`` decides everything (backup, WAL chain, target inside the window,
destination) and touches nothing; the CLI shows it, asks, and calls
``restore_database``, which decides again under the locks (a backup could have been
pruned meanwhile) and then acts:

- **copy** (default, or ``--to DIR --port P``): a new data directory recovered and left
  running on its own port, beside whatever runs now;
- **in place** (``--in-place``, embedded cluster only): see :mod:`.inplace`.

Both hold the ``restore`` lock exclusively and the repository lock shared (retention
waits for it), and record a ``restore.*`` ops event whether they succeed or fail.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from chairside.config import Settings
from chairside.errors import ChairsideError, InputError, OperationFailedError
from chairside.ops.backup import access
from chairside.ops.backup.locks import repository_lock
from chairside.ops.health.watch import INTERVAL_SECONDS as DATABASE_WATCH_INTERVAL
from chairside.ops.locks import named_lock
from chairside.ops.restore import aftercare, inplace
from chairside.ops.restore.build import build_recovered_cluster, discard
from chairside.ops.restore.copies import register_copy
from chairside.ops.restore.layout import RestoreLayout, copy_layout, in_place_layout, stamp
from chairside.ops.restore.plan import RestorePlan, plan_restore
from chairside.ops.restore.recovery import RecoveryOutcome
from chairside.ops.restore.targets import RecoveryTarget
from chairside.ops.restore.timelines import LiveTimeline, TimelineChoice, live_timeline
from chairside.ops.timeline.store import open_ops_store
from chairside.runtime.embedded import embedded_stack
from chairside.runtime.ports import port_in_use

RESTORE_LOCK = "restore"
WATCH_SETTLE_SECONDS = 3 * DATABASE_WATCH_INTERVAL
StepReporter = Callable[[str], None]


@dataclass(frozen=True)
class RestoreRequest:
    """What the operator asked for."""

    target: RecoveryTarget
    backup_id: str | None = None
    to: Path | None = None
    port: int | None = None
    in_place: bool = False
    repository: str | None = None
    timeline: TimelineChoice = None
    # In place: start a full backup on the new timeline in the background afterwards.
    backup_after: bool = True

    def kind(self) -> str:
        return "in_place" if self.in_place else "copy"


@dataclass(frozen=True)
class RestorePreview:
    """What a restore will do; shown before confirming, printed by --dry-run."""

    request: RestoreRequest
    plan: RestorePlan
    destination: str
    steps: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "mode": self.request.kind(),
            "destination": self.destination,
            "steps": list(self.steps),
            **self.plan.to_dict(),
        }


@dataclass(frozen=True)
class RestoreResult:
    """A finished restore: where the database is now and how recovery ended."""

    preview: RestorePreview
    data_dir: str
    port: int
    outcome: RecoveryOutcome
    seconds: float
    previous_data_dir: str | None = None
    notes: tuple[str, ...] = field(default=())
    background_backup: dict[str, object] | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            **self.preview.to_dict(),
            "data_dir": self.data_dir,
            "port": self.port,
            "previous_data_dir": self.previous_data_dir,
            "recovery": self.outcome.to_dict(),
            "seconds": round(self.seconds, 3),
            "notes": list(self.notes),
            "background_backup": self.background_backup,
        }


def preview_restore(settings: Settings, *, request: RestoreRequest) -> RestorePreview:
    """Plan the restore and describe its steps; in place, archive the current WAL first."""
    _check_request(settings, request)
    if request.in_place:
        live = embedded_stack(settings).postgres
        if live.exists and live.is_running():
            # The plan must see what the live cluster wrote last ("latest", recent times).
            inplace.archive_pending_wal(live, timeout=settings.wal_confirm_timeout_seconds)
    plan = _plan(settings, request)
    return _describe(settings, request, plan)


def restore_database(
    settings: Settings, *, request: RestoreRequest, step: StepReporter | None = None
) -> RestoreResult:
    """Carry out a restore under the locks; records an ops event either way."""
    report = step or (lambda _message: None)
    store = open_ops_store(settings)
    kind = f"restore.{request.kind()}"
    try:
        with (
            named_lock(
                settings.home, RESTORE_LOCK, purpose=f"{kind} to {request.target.describe()}"
            ),
            repository_lock(
                settings.home,
                request.repository or settings.backup_repository_url,
                mode="shared",
                purpose=kind,
            ),
        ):
            if request.in_place:
                result = _restore_in_place(settings, request, report)
            else:
                result = _restore_copy(settings, request, report)
    except ChairsideError as exc:
        store.record(
            kind,
            f"restore to {request.target.describe()} failed: {exc.message}",
            status="failed",
            details={"request": _request_dict(request), "error": exc.message},
        )
        raise
    store.record(
        kind,
        f"restored backup {result.preview.plan.backup.id} to {request.target.describe()} "
        f"into {result.data_dir}",
        details=result.to_dict(),
    )
    return result


def clean_interrupted_restore(settings: Settings, *, start: bool = True) -> inplace.CleanupReport:
    """Undo a killed in-place restore, stop its orphaned server, start the previous database."""
    with named_lock(settings.home, RESTORE_LOCK, purpose="restore cleanup"):
        report = aftercare.recover_interrupted(
            settings, embedded_stack(settings).postgres, start=start
        )
    if report.found:
        open_ops_store(settings).record(
            "restore.cleanup", "; ".join(report.actions), details=report.to_dict()
        )
    return report


def prune_previous_data(settings: Settings, *, keep: int = 0, dry_run: bool = False) -> list[Path]:
    """Remove data directories kept by in-place restores (all but the newest ``keep``)."""
    with named_lock(settings.home, RESTORE_LOCK, purpose="prune previous data directories"):
        removed = inplace.prune_previous(settings.home, keep=keep, dry_run=dry_run)
    if removed and not dry_run:
        open_ops_store(settings).record(
            "restore.prune-previous",
            f"removed {len(removed)} previous data director{'y' if len(removed) == 1 else 'ies'}",
            details={"removed": [str(p) for p in removed]},
        )
    return removed


# ---- internals ---------------------------------------------------------------------------


def _check_request(settings: Settings, request: RestoreRequest) -> None:
    if request.in_place and (request.to is not None or request.port is not None):
        raise InputError(
            "--in-place replaces the embedded cluster's data directory; it cannot be combined "
            "with --to or --port",
            field="in_place",
        )
    if request.in_place and not settings.embedded:
        raise InputError(
            "--in-place restores the embedded cluster only, and DATABASE_URL points elsewhere; "
            "restore a copy with --to DIR --port P and switch DATABASE_URL to it",
            field="in_place",
        )
    if request.port is not None and port_in_use(request.port):
        raise InputError(
            f"--port {request.port} is already in use; pick a free port or leave it out",
            field="port",
        )


def _plan(
    settings: Settings,
    request: RestoreRequest,
    *,
    sysid: str | None = None,
    live: LiveTimeline | None = None,
) -> RestorePlan:
    catalog = access.catalog(settings, request.repository)
    archive = access.wal_archive(settings, request.repository)
    if request.in_place and sysid is None:
        cluster = embedded_stack(settings).postgres
        if cluster.exists:
            sysid = inplace.control_system_identifier(cluster)
    return plan_restore(
        catalog, archive, target=request.target, backup_id=request.backup_id,
        system_identifier=sysid, timeline=request.timeline,
        live=live or live_timeline(settings), pg_bin_dir=settings.pg_bin_dir,
    )  # fmt: skip


def _describe(settings: Settings, request: RestoreRequest, plan: RestorePlan) -> RestorePreview:
    steps = [
        f"follow timeline {plan.timeline}: {plan.timeline_reason}",
        f"fetch and verify backup {plan.backup.id} (consistent at "
        f"{plan.backup.stop_time.isoformat(timespec='seconds')}, {plan.backup.total_size} bytes)",
        f"replay up to {len(plan.chain.segments)} archived WAL segments on timeline "
        f"{plan.timeline}, stopping at {plan.target.describe()}",
    ]
    if plan.chain.partial:
        steps.append(
            f"the end comes from a receiver's partial segment {plan.chain.partial} (pushed by "
            "`wal stream`; its finished segment was never archived)"
        )
    if request.in_place:
        live = embedded_stack(settings).postgres
        destination = str(live.data_dir)
        steps = [
            f"turn maintenance mode on and stop the embedded PostgreSQL (port {live.port}); "
            "its current WAL was archived before this plan",
            *steps,
            f"only after recovery succeeds: keep {live.data_dir} as "
            f"{live.data_dir.name}.previous-<stamp> and put the restored data in its place",
            "start PostgreSQL again on the restored data (archiving on, new timeline), put "
            "the previous modes back"
            + (", start a full backup in the background" if request.backup_after else ""),
        ]
    else:
        layout = copy_layout(settings.home, to=request.to, when=stamp())
        destination = str(layout.data_dir)
        steps.append(
            f"leave the copy running in {layout.data_dir} on "
            f"{f'port {request.port}' if request.port else 'a free port'} with archiving off; "
            "nothing else is touched"
        )
    return RestorePreview(request, plan, destination, tuple(steps))


def _restore_copy(
    settings: Settings, request: RestoreRequest, report: StepReporter
) -> RestoreResult:
    began = time.monotonic()
    _check_request(settings, request)
    preview = _describe(settings, request, _plan(settings, request))
    when = stamp()
    layout = copy_layout(settings.home, to=request.to, when=when)
    try:
        built = build_recovered_cluster(
            preview.plan, layout, catalog=access.catalog(settings, request.repository),
            archive=access.wal_archive(settings, request.repository), port=request.port,
            pg_bin_dir=settings.pg_bin_dir, step=report,
        )  # fmt: skip
    except BaseException:
        discard(layout)
        raise
    copy_id = when if layout.root is not None else f"{when}-{layout.data_dir.name}"
    register_copy(settings, layout, port=built.cluster.port, id=copy_id)
    return RestoreResult(
        preview=preview,
        data_dir=str(layout.data_dir),
        port=built.cluster.port,
        outcome=built.outcome,
        seconds=time.monotonic() - began,
        notes=(
            f"the copy is running on port {built.cluster.port} with the source's users and "
            f"passwords; list it with `chairside restore copies`, stop and remove it with"
            f" `chairside restore copies remove {copy_id} --yes`",
        ),
    )


def _restore_in_place(
    settings: Settings, request: RestoreRequest, report: StepReporter
) -> RestoreResult:
    began = time.monotonic()
    _check_request(settings, request)
    live = embedded_stack(settings).postgres
    if not live.exists:
        raise InputError(
            f"there is no embedded cluster in {live.data_dir} to restore in place; restore a "
            "copy with --to DIR instead",
            field="in_place",
        )
    for action in aftercare.recover_interrupted(settings, live, start=True).actions:
        report(action)
    sysid = inplace.control_system_identifier(live)
    was_running = live.is_running()
    if was_running:
        # Archive what the live cluster wrote last, so "latest" and recent times include it.
        segment = inplace.archive_pending_wal(live, timeout=settings.wal_confirm_timeout_seconds)
        if segment:
            report(f"archived the current WAL up to {segment}")
    # Planned before anything stops: a bad target refuses here and costs nothing.
    preview = _describe(settings, request, _plan(settings, request, sysid=sysid))
    when = stamp()
    layout = in_place_layout(settings.home, when=when)
    previous_modes = aftercare.enter_maintenance(
        settings, reason=f"in-place restore to {request.target.describe()}"
    )
    inplace.write_state(
        settings.home, phase="recovering", root=str(layout.root), live_was_running=was_running,
        modes=previous_modes,
    )  # fmt: skip
    try:
        try:
            if was_running:
                report(f"maintenance mode on; stopping the embedded PostgreSQL on port {live.port}")
                live.stop()
            built = build_recovered_cluster(
                preview.plan, layout, catalog=access.catalog(settings, request.repository),
                archive=access.wal_archive(settings, request.repository),
                pg_bin_dir=settings.pg_bin_dir, step=report,
            )  # fmt: skip
            report("recovery finished; stopping the restored copy to swap it in")
            built.cluster.stop()
        except BaseException:
            discard(layout)
            if was_running:
                live.start()  # the previous database, untouched
            inplace.clear_state(settings.home)
            raise
        kept = inplace.swap_in(
            settings.home, layout, when=when, live=live, new_timeline=built.outcome.timeline
        )
        discard(layout)
        report(f"swapped: the previous data directory is kept as {kept}")
        notes = [f"previous data kept in {kept}; remove it with `chairside restore prune-previous`"]
        if was_running:
            try:
                live.start()
            except ChairsideError as exc:
                failed = inplace.swap_back(settings.home, live=live, kept=kept, when=when)
                live.start()
                raise OperationFailedError(
                    f"PostgreSQL did not start on the restored data ({exc.message}); the "
                    f"previous data is back in place and running, the restored copy is kept "
                    f"in {failed}"
                ) from None
            notes.append(f"PostgreSQL is running again on port {live.port}")
        inplace.clear_state(settings.home)
    finally:
        if was_running and live.is_running():
            # The API's database watch saw PostgreSQL stopped; until its next looks it
            # answers "database unreachable". Keep maintenance on over a few of them.
            time.sleep(WATCH_SETTLE_SECONDS)
        aftercare.restore_modes(settings, previous_modes)
    report("maintenance mode is back to what it was before the restore")
    background = None
    if request.backup_after and was_running:
        background = aftercare.start_full_backup(settings)
        notes.append(
            f"a full backup on the new timeline {built.outcome.timeline} is running in the "
            f"background (pid {background.pid}, log {background.log_file})"
        )
        report(notes[-1])
    return RestoreResult(
        preview=preview, data_dir=str(live.data_dir), port=live.port, outcome=built.outcome,
        seconds=time.monotonic() - began, previous_data_dir=str(kept), notes=tuple(notes),
        background_backup=background.to_dict() if background else None,
    )  # fmt: skip


def _request_dict(request: RestoreRequest) -> dict[str, object]:
    return {
        "mode": request.kind(),
        "target": request.target.to_dict(),
        "backup_id": request.backup_id,
        "to": str(request.to) if request.to else None,
        "port": request.port,
    }


__all__ = [
    "RestoreLayout",
    "RestorePreview",
    "RestoreRequest",
    "RestoreResult",
    "clean_interrupted_restore",
    "preview_restore",
    "prune_previous_data",
    "restore_database",
]
