"""Building a recovered cluster from a restore plan, in a layout of its own.

Shared by every kind of restore (side-by-side copy, in place, the validation's test
restore): stream the backup's archives into the new data directory, verifying them as
they pass, stage the planned WAL, recover to the target on a free port with archiving
off, and check that nothing went wrong on the way (a WAL segment that failed its
checksum ends recovery early, and that early end is refused here, never accepted as the
target). Progress is reported as named steps.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from chairside.errors import ComponentError, OperationFailedError
from chairside.ops.backup.catalog import BackupCatalog
from chairside.ops.backup.walarchive import WalArchive
from chairside.ops.restore.layout import RestoreLayout
from chairside.ops.restore.plan import RestorePlan
from chairside.ops.restore.recovery import (
    RecoveryFailedError,
    RecoveryOutcome,
    RestoredCluster,
    prepare_recovery,
    run_recovery,
)
from chairside.ops.restore.targets import TargetKind
from chairside.ops.restore.unpack import is_archive, unpack_backup
from chairside.ops.restore.wal_staging import WalStager
from chairside.runtime.binaries import find_pg_bin_dir
from chairside.runtime.osuser import server_user
from chairside.runtime.ports import free_port

StepReporter = Callable[[str], None]
UnpackedHook = Callable[[RestoredCluster, Path], None]
"""Called with the unpacked, untouched copy and the fetched files (e.g. to verify them)."""


@dataclass(frozen=True)
class BuiltCluster:
    """A recovered, promoted, running cluster and how recovery ended."""

    cluster: RestoredCluster
    outcome: RecoveryOutcome
    wal_fetched: int


def build_recovered_cluster(
    plan: RestorePlan,
    layout: RestoreLayout,
    *,
    catalog: BackupCatalog,
    archive: WalArchive,
    port: int | None = None,
    pg_bin_dir: Path | None = None,
    step: StepReporter | None = None,
    after_unpack: UnpackedHook | None = None,
    timeout: float = 3600,
) -> BuiltCluster:
    """Make ``layout.data_dir`` a recovered copy of ``plan``; stopped and removed on failure."""
    report = step or (lambda _message: None)
    user = server_user()
    cluster = RestoredCluster(
        data_dir=layout.data_dir,
        port=port or free_port(),
        password="",
        log_file=layout.log_file,
        socket_dir=layout.socket_dir,
        bin_dir=find_pg_bin_dir(pg_bin_dir),
        user=user,
    )
    _check_reachable(layout.data_dir.parent)
    stager = WalStager(
        archive, layout.wal_dir, plan.chain.to_fetch, archived=plan.archived, owner=user
    )
    try:
        manifest = catalog.read_manifest(plan.backup.id)
        # The archives are streamed into the data directory; the rest (backup_manifest)
        # is small and kept beside it for ``after_unpack``.
        kept = [f.name for f in manifest.files if not is_archive(f.name)]
        for path in [
            layout.files_dir,
            *catalog.fetch_files(manifest.id, layout.files_dir, names=kept),
        ]:
            path.chmod(0o755 if path.is_dir() else 0o644)  # read by the server user
        # The first segments are staged while the backup unpacks, so replay does not
        # wait for them.
        stager.prepare(history_files=plan.history_files)
        stager.start()
        report(
            f"fetching, verifying and unpacking backup {manifest.id} ({manifest.stored_size} "
            f"bytes) into {layout.data_dir}"
        )
        unpack_backup(catalog, manifest, layout.data_dir, user=user)
        if after_unpack is not None:
            after_unpack(cluster, layout.files_dir)
        shutil.rmtree(layout.files_dir, ignore_errors=True)
        prepare_recovery(
            cluster, restore_script=stager.script, target=plan.effective_target,
            timeline=plan.timeline,
        )  # fmt: skip
        if plan.recovery_target is not None:
            report(
                f"{plan.target.describe()} is after the last archived commit: recovering to "
                "the end of the archived WAL, which is the state at that time"
            )
        report(
            f"recovering to {plan.target.describe()} on timeline {plan.timeline} "
            f"({len(plan.chain.segments)} WAL segments available) on port {cluster.port}"
        )
        try:
            outcome = run_recovery(cluster, timeout=timeout)
        except RecoveryFailedError as exc:
            stager.check()  # a damaged segment is the real cause, when there is one
            raise RecoveryFailedError(exc.message + _gap_note(plan)) from None
        stager.stop()
        _check_staging(plan, stager)
        _check_reached(plan, stager, outcome)
    except BaseException:
        stager.stop()
        _stop_quietly(cluster)
        raise
    finally:
        shutil.rmtree(layout.files_dir, ignore_errors=True)
    shutil.rmtree(layout.wal_dir, ignore_errors=True)
    report(f"recovered: timeline {outcome.timeline}, ends at LSN {outcome.end_lsn}")
    return BuiltCluster(cluster, outcome, stager.fetched)


def discard(layout: RestoreLayout, cluster: RestoredCluster | None = None) -> None:
    """Stop a half-built copy and remove every directory of its layout."""
    if cluster is not None:
        _stop_quietly(cluster)
    if layout.root is not None:
        shutil.rmtree(layout.root, ignore_errors=True)
        return
    for path in (layout.data_dir, layout.wal_dir, layout.files_dir, layout.socket_dir):
        shutil.rmtree(path, ignore_errors=True)


def _check_staging(plan: RestorePlan, stager: WalStager) -> None:
    # A segment that failed to stage matters only when recovery needed it. With a target,
    # PostgreSQL refuses to finish short of it, so a finished recovery did not need it (it
    # may still have asked, reading ahead); "latest" needs every segment.
    if plan.effective_target.kind is TargetKind.LATEST:
        stager.check()


def _asked(stager: WalStager) -> set[str]:
    return {p.name.removeprefix(".requested-") for p in stager.directory.glob(".requested-*")}


def _check_reached(plan: RestorePlan, stager: WalStager, outcome: RecoveryOutcome) -> None:
    if plan.effective_target.kind is not TargetKind.LATEST or not plan.chain.to_fetch:
        return
    # Replaying to "latest" must have used the whole planned chain; stopping short
    # would be a quiet restore to an earlier point.
    asked = _asked(stager)
    last = plan.chain.to_fetch[-1]
    if last not in asked:
        raise OperationFailedError(
            f"recovery ended before reaching the newest archived WAL segment {last} (it ended "
            f"at LSN {outcome.end_lsn}); the restore is discarded"
        )


def _gap_note(plan: RestorePlan) -> str:
    if not plan.chain.missing:
        return ""
    return (
        f"; WAL segment {plan.chain.missing} is missing from the archive, so recovery cannot "
        f"go past {plan.chain.newest_segment}"
    )


def _check_reachable(path: Path) -> None:
    from chairside.runtime.osuser import run_as

    path.mkdir(parents=True, exist_ok=True)
    user = server_user()
    if user.is_current:
        return
    if run_as(user, ["test", "-x", str(path)], check=False).returncode != 0:
        raise OperationFailedError(
            f"the '{user.name}' user cannot reach {path}; restore somewhere it can traverse "
            "(not under /root), e.g. /var/lib/chairside or /tmp"
        )


def _stop_quietly(cluster: RestoredCluster) -> None:
    try:
        cluster.stop(mode="immediate", timeout=30)
    except (ComponentError, OSError):
        pass
