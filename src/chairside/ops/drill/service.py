"""Run one drill: restore to a scratch cluster, check it, measure RTO and RPO, clean up.

The clock starts when the drill starts, as it would when an operator is paged: the RTO
covers planning, fetching, unpacking, WAL replay and promotion, up to the moment the
restored database answers a query. The RPO compares the newest commit in the restored
copy with the newest commit on the primary *at drill start* (the moment the simulated
disaster struck); with the primary gone (a real DR scenario) it is not measurable and
the report says so, giving the restored copy's newest commit instead.

The scratch cluster lives under ``CHAIRSIDE_DRILL_DIR`` (default ``$CHAIRSIDE_HOME/
drills``) on a free port with archiving off, so it can never write into any archive,
and it is stopped and removed in a ``finally``: a failed or interrupted drill leaves
nothing running. Drills hold the ``drill`` lock (one at a time) and the repository lock
shared (retention waits), and every drill, passed or failed, is recorded.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from chairside.checks import CheckResult, CheckStatus
from chairside.config import Settings
from chairside.db import database_url
from chairside.errors import ChairsideError
from chairside.ops.backup import access
from chairside.ops.backup.locks import repository_lock
from chairside.ops.backup.manifest import Manifest
from chairside.ops.backup.validation.invariants import check_invariants
from chairside.ops.backup.walarchive import segment_number
from chairside.ops.drill import probes
from chairside.ops.drill.report import DrillReport, save_report
from chairside.ops.locks import named_lock
from chairside.ops.restore.build import BuiltCluster, build_recovered_cluster, discard
from chairside.ops.restore.layout import RestoreLayout, stamp, under_root
from chairside.ops.restore.plan import DEFAULT_SEGMENT_SIZE, plan_restore
from chairside.ops.restore.recovery import RestoredCluster
from chairside.ops.restore.targets import LATEST, RecoveryTarget
from chairside.ops.restore.timelines import TimelineChoice, live_timeline

DRILL_LOCK = "drill"
StepReporter = Callable[[str], None]


def drill_root(settings: Settings) -> Path:
    """Where scratch clusters of drills are built."""
    return (settings.drill_dir or settings.home / "drills").expanduser().absolute()


def run_drill(
    settings: Settings,
    *,
    repository: str | None = None,
    target: RecoveryTarget = LATEST,
    backup_id: str | None = None,
    step: StepReporter | None = None,
    timeline: TimelineChoice = None,
) -> DrillReport:
    """Restore into a scratch cluster, check and measure it, clean up, record the report."""
    report_step = step or (lambda _message: None)
    began = time.monotonic()
    repo_url = repository or settings.backup_repository_url
    report = DrillReport(
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        repository=repo_url,
        target=target.describe(),
        rto_target_seconds=settings.drill_rto_target_seconds,
        rpo_target_seconds=settings.drill_rpo_target_seconds,
    )
    primary = _primary_commit(settings, report)
    layout = under_root(drill_root(settings) / f"{stamp()}-{secrets.token_hex(3)}")
    built: BuiltCluster | None = None
    try:
        with (
            named_lock(settings.home, DRILL_LOCK, purpose=f"drill from {repo_url}"),
            repository_lock(settings.home, repo_url, mode="shared", purpose="drill"),
        ):
            built = _restore(
                settings, report, layout, repo_url, target, backup_id, report_step, timeline
            )
            usable = probes.wait_until_usable(built.cluster.conninfo(), timeout=60)
            report.rto_seconds = usable - began
            report_step(f"usable after {report.rto_seconds:.1f}s; checking the restored data")
            checks_began = time.monotonic()
            _check(settings, report, built.cluster, primary)
            report.phases["checks"] = time.monotonic() - checks_began
    except ChairsideError as exc:
        report.error = exc.message
    except BaseException as exc:
        report.error = f"drill interrupted: {exc!r}"
        raise
    finally:
        report_step("removing the scratch cluster")
        discard(layout, built.cluster if built else None)
        report.cleaned_up = not layout.data_dir.exists() and not (
            built is not None and built.cluster.is_running()
        )
        report.finished_at = datetime.now(UTC).isoformat(timespec="seconds")
        report.phases["total"] = time.monotonic() - began
        save_report(settings, report)
    return report


def _restore(
    settings: Settings,
    report: DrillReport,
    layout: RestoreLayout,
    repo_url: str,
    target: RecoveryTarget,
    backup_id: str | None,
    step: StepReporter,
    timeline: TimelineChoice,
) -> BuiltCluster:
    phase = time.monotonic()
    catalog = access.catalog(settings, repo_url)
    archive = access.wal_archive(settings, repo_url)
    plan = plan_restore(
        catalog, archive, target=target, backup_id=backup_id, timeline=timeline,
        live=live_timeline(settings), pg_bin_dir=settings.pg_bin_dir,
    )  # fmt: skip
    report.backup_id = plan.backup.id
    report.timeline = plan.timeline
    report.timeline_reason = plan.timeline_reason
    step(f"following timeline {plan.timeline}: {plan.timeline_reason}")
    report.backup_stop_time = plan.backup.stop_time.isoformat()
    report.phases["plan"] = time.monotonic() - phase
    step(f"restoring backup {plan.backup.id} to {target.describe()} into {layout.root}")
    phase = time.monotonic()
    built = build_recovered_cluster(
        plan,
        layout,
        catalog=catalog,
        archive=archive,
        pg_bin_dir=settings.pg_bin_dir,
        step=step,
        timeout=settings.drill_timeout_seconds,
    )
    report.phases["restore"] = time.monotonic() - phase
    report.recovery = {
        **built.outcome.to_dict(),
        "wal_fetched": built.wal_fetched,
        "newest_wal": plan.chain.newest_segment,
        "replayed_through_lsn": _segment_end(plan.chain.newest_segment, plan.backup),
        "port": built.cluster.port,
    }
    return built


def _primary_commit(settings: Settings, report: DrillReport) -> probes.CommitPoint | None:
    """The primary's newest commit at drill start; None when it does not answer."""
    try:
        point = probes.newest_commit(probes.libpq_conninfo(database_url(settings)))
    except Exception as exc:  # noqa: BLE001 - a gone primary is a normal DR scenario
        report.checks.append(
            CheckResult(
                "primary",
                CheckStatus.OK,
                f"the primary did not answer ({type(exc).__name__}); RPO not measurable against it",
            )
        )
        return None
    report.primary_newest_commit = point.at.isoformat() if point.at else None
    return point


def _check(
    settings: Settings,
    report: DrillReport,
    cluster: RestoredCluster,
    primary: probes.CommitPoint | None,
) -> None:
    preferred = _app_database_name(settings)
    database = probes.find_app_database(cluster.conninfo, preferred)
    restored = probes.newest_commit(
        cluster.conninfo(database or "postgres"), method=primary.method if primary else None
    )
    report.restored_newest_commit = restored.at.isoformat() if restored.at else None
    _measure_rpo(report, primary, restored)
    if database is None:
        report.smoke = {"skipped": "no database with the booking schema in the backup"}
        report.checks.append(
            CheckResult("smoke", CheckStatus.OK, "skipped: the backup has no booking schema")
        )
    else:
        report.checks.extend(check_invariants(cluster.conninfo(database)))
        facts, checks = probes.smoke_check(_restored_url(cluster, database))
        report.smoke = {"database": database, **facts}
        report.checks.extend(checks)
    report.checks.extend(_target_checks(report))


def _measure_rpo(
    report: DrillReport, primary: probes.CommitPoint | None, restored: probes.CommitPoint
) -> None:
    if primary is None:
        return
    report.rpo_method = primary.method
    # The end of the newest segment replayed, not the copy's current LSN: promotion
    # writes WAL of its own. What the primary wrote beyond it never reached the archive.
    replayed = report.recovery.get("replayed_through_lsn")
    if primary.lsn is not None and isinstance(replayed, int):
        report.rpo_wal_bytes = max(0, primary.lsn - replayed)
    if primary.at is None:
        report.rpo_seconds = 0.0  # nothing was ever committed: nothing to lose
    elif restored.at is not None:
        report.rpo_seconds = max(0.0, (primary.at - restored.at).total_seconds())


def _target_checks(report: DrillReport) -> list[CheckResult]:
    results = []
    for name, value, target in (
        ("rto", report.rto_seconds, report.rto_target_seconds),
        ("rpo", report.rpo_seconds, report.rpo_target_seconds),
    ):
        if value is None:
            results.append(CheckResult(name, CheckStatus.OK, f"{name.upper()} not measured"))
        elif target is None:
            # Measured but not judged: a drill without targets proves the restore works,
            # not that it is fast enough, and must not read as a pass on RTO/RPO.
            setting = f"CHAIRSIDE_DRILL_{name.upper()}_TARGET_SECONDS"
            results.append(
                CheckResult(
                    name,
                    CheckStatus.WARNING,
                    f"{name.upper()} {value:.1f}s, not judged: no {name.upper()} target is set "
                    f"({setting})",
                    details={"target_seconds": None, "measured_seconds": value},
                )
            )
        else:
            met = value <= target
            results.append(
                CheckResult(
                    name,
                    CheckStatus.OK if met else CheckStatus.CRITICAL,
                    f"{name.upper()} {value:.1f}s {'within' if met else 'OVER'} the target "
                    f"of {target:.0f}s",
                )
            )
    return results


def _segment_end(segment: str | None, manifest: Manifest) -> int | None:
    if segment is None:
        return None
    size = manifest.wal_segment_size or DEFAULT_SEGMENT_SIZE
    return (segment_number(segment, size) + 1) * size


def _app_database_name(settings: Settings) -> str | None:
    try:
        return make_url(database_url(settings)).database
    except ChairsideError:
        return None


def _restored_url(cluster: RestoredCluster, database: str) -> URL:
    return URL.create(
        "postgresql+psycopg",
        username="postgres",
        database=database,
        query={"host": str(cluster.socket_dir), "port": str(cluster.port)},
    )
