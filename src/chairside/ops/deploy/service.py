"""Deployments: start (guard, backup, maintenance mode), finish (migrate, serve, verify),
verify, and roll back.

Installing the new code is the operator's own step between ``start`` and ``finish``
(a package, an image, a checkout): Chairside does what comes before and after it, the
runbooks' deployment process. A rollback runs in two halves for the same reason:
``deploy rollback`` (still on the new code, which carries the migrations' downgrade
steps) puts the service in maintenance mode and takes the database back to the revision
it had before; then the operator installs the previous version and ``deploy finish``
brings it back into service and verifies it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from chairside.checks import CheckResult, CheckStatus, worst
from chairside.config import Settings
from chairside.db import database_url
from chairside.errors import ChairsideError, GuardRefusedError, InputError, OperationFailedError
from chairside.ops.backup.basebackup import take_full_backup
from chairside.ops.backup.runner import BackupProgress
from chairside.ops.database import migrations
from chairside.ops.deploy.guard import pre_deploy_checks
from chairside.ops.deploy.modes import ModeSwitch
from chairside.ops.deploy.record import DeployRecord, close_record, read_record, write_record
from chairside.ops.deploy.release import installed_version
from chairside.ops.deploy.window import judge_new_version, read_traffic
from chairside.ops.health.service import HealthKind, run_health
from chairside.ops.health.traffic import TrafficSample
from chairside.ops.locks import named_lock
from chairside.ops.notify.base import Notification, Severity
from chairside.ops.notify.service import notifier_from_settings
from chairside.ops.timeline.store import current_actor, open_ops_store

DEPLOY_LOCK = "deploy"
# The owner deploy marks the maintenance mode it switches on with (modes.py).
MODE_OWNER = "deploy"
# The runbook's rollback trigger: "response time > 2x baseline".
LATENCY_FACTOR = 2.0


@dataclass
class DeployOutcome:
    """A deployment record and the checks that judged it."""

    record: DeployRecord
    checks: list[CheckResult] = field(default_factory=list)
    next_step: str | None = None

    @property
    def status(self) -> CheckStatus:
        return worst(c.status for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "deploy": self.record.to_dict(),
            "status": self.status.value,
            "checks": [c.to_dict() for c in self.checks],
            "next_step": self.next_step,
        }


def start_deploy(
    settings: Settings,
    *,
    version: str,
    reason: str | None = None,
    force: bool = False,
    backup: bool = True,
    progress: BackupProgress | None = None,
) -> DeployOutcome:
    """Check, back up, switch maintenance mode on, and record the deployment of ``version``."""
    if not version.strip():
        raise InputError("version must not be empty: the version being deployed", field="version")
    with named_lock(settings.home, DEPLOY_LOCK, purpose=f"deploy {version}"):
        checks = pre_deploy_checks(settings)
        in_progress = [c for c in checks if c.name == "deploy_in_progress"]
        # An old backup is no reason to refuse a deployment that is about to take one.
        excused = {"backup_age"} if backup else set()
        blocking = [c for c in checks if c.status is CheckStatus.CRITICAL and c.name not in excused]
        if in_progress and in_progress[0].status is CheckStatus.CRITICAL:
            raise GuardRefusedError(in_progress[0].summary)
        if blocking and not force:
            reasons = "; ".join(f"{c.name}: {c.summary}" for c in blocking)
            raise GuardRefusedError(
                f"refusing to deploy {version}: {reasons}"
                + ("" if "--force" in reasons else " (--force deploys anyway)"),
                details={"checks": [c.to_dict() for c in checks]},
            )
        url = database_url(settings)
        modes = ModeSwitch(settings)
        mode_state = modes.current()
        now = datetime.now(UTC)
        record = DeployRecord(
            id=now.strftime("%Y%m%dT%H%M%SZ"),
            version=version,
            version_before=installed_version(),
            reason=reason,
            started_at=now.isoformat(timespec="seconds"),
            started_by=current_actor(),
            revision_before=migrations.current_revision(url=url),
            backup_id=None,
            baseline_p95_seconds=_p95(checks),
            # Maintenance left on by an earlier deployment or rollback is not the
            # operator's: this one must not keep it on when it finishes.
            maintenance_was_on=mode_state.maintenance and mode_state.owner != MODE_OWNER,
            critical_before=[c.name for c in checks if c.status is CheckStatus.CRITICAL],
        )
        if force and blocking:
            _step(record, "forced", f"started despite: {'; '.join(c.name for c in blocking)}")
        write_record(settings, "current", record)
        store = open_ops_store(settings)
        try:
            if backup:
                result = take_full_backup(settings, progress=progress)
                record.backup_id = result.manifest.id
                _step(record, "backup", f"full backup {result.manifest.id}")
                write_record(settings, "current", record)
        except ChairsideError as exc:
            record.state = "failed"
            _step(record, "backup", f"failed: {exc.message}")
            close_record(settings, record)
            store.record(
                "deploy.failed",
                f"deployment of {version} not started: the backup failed ({exc.message})",
                status="failed",
                details=record.to_dict(),
            )
            raise
        modes.switch(maintenance=True, reason=f"deploying {version}", owner=MODE_OWNER)
        _step(record, "maintenance_on", f"maintenance mode on: deploying {version}")
        write_record(settings, "current", record)
        store.record(
            "deploy.started",
            f"deployment {record.id}: {record.version_before} -> {version}"
            + (f" ({reason})" if reason else ""),
            details=record.to_dict(),
        )
    return DeployOutcome(
        record=record,
        checks=checks,
        next_step=f"install Chairside {version}, then run `chairside deploy finish`",
    )


def finish_deploy(
    settings: Settings,
    *,
    force: bool = False,
    observe_seconds: float = 0.0,
    wait: Callable[[float], None] = time.sleep,
) -> DeployOutcome:
    """Migrate, leave maintenance mode, verify the traffic served since (after
    ``observe_seconds`` of it); the deployment becomes ``last``."""
    with named_lock(settings.home, DEPLOY_LOCK, purpose="deploy finish"):
        record = read_record(settings, "current")
        if record is None:
            raise InputError(
                "no deployment in progress: start one with `chairside deploy start --version V`"
            )
        installed = installed_version()
        if installed != record.version and not force:
            raise GuardRefusedError(
                f"the installed Chairside is {installed}, but deployment {record.id} is of"
                f" {record.version}: install {record.version} first (--force finishes anyway)"
            )
        store = open_ops_store(settings)
        url = database_url(settings)
        try:
            before, after = migrations.upgrade(url=url)
        except ChairsideError as exc:
            _step(record, "migrate", f"failed: {exc.message}")
            write_record(settings, "current", record)
            store.record(
                "deploy.failed",
                f"deployment {record.id} of {record.version}: migrations failed ({exc.message})",
                status="failed",
                details=record.to_dict(),
            )
            raise OperationFailedError(
                f"migrations failed: {exc.message}. The service stays in maintenance mode; fix"
                " and run `chairside deploy finish` again, or `chairside deploy rollback`"
            ) from None
        record.revision_after = after
        _step(record, "migrate", f"database {before or 'empty'} -> {after}")
        ModeSwitch(settings).switch(
            maintenance=record.maintenance_was_on,
            reason="maintenance was on before the deployment"
            if record.maintenance_was_on
            else None,
        )
        _mark_serving(settings, record)
        _step(record, "maintenance_off", "serving again")
        write_record(settings, "current", record)
        if observe_seconds > 0:
            wait(observe_seconds)
        checks = verify_checks(settings, record)
        status = worst(c.status for c in checks)
        record.state = "failed" if status is CheckStatus.CRITICAL else "finished"
        record.finished_at = datetime.now(UTC).isoformat(timespec="seconds")
        _step(record, "verify", f"verification {status.value}")
        close_record(settings, record)
        store.record(
            "deploy.finished",
            f"deployment {record.id} of {record.version}: verification {status.value}",
            status="ok" if status is CheckStatus.OK else status.value,
            details={**record.to_dict(), "checks": [c.to_dict() for c in checks]},
        )
    next_step = None
    if record.state == "failed":
        next_step = f'roll back with `chairside deploy rollback "why"` (to {record.version_before})'
    return DeployOutcome(record=record, checks=checks, next_step=next_step)


def _mark_serving(settings: Settings, record: DeployRecord) -> None:
    """Keep when the new version began serving and the traffic counters then."""
    record.serving_since = datetime.now(UTC).isoformat(timespec="seconds")
    sample = read_traffic(settings)
    record.serving_baseline = sample.to_dict() if sample is not None else None


def verify_checks(settings: Settings, record: DeployRecord | None) -> list[CheckResult]:
    """Health and the business smoke test, and the new version's own traffic: error rate
    and p95 since it began serving (against the pre-deploy baseline)."""
    run = run_health(settings, kind=HealthKind.ALL)
    results = list(run.results)
    if record is not None and record.serving_baseline and record.serving_since:
        judged = judge_new_version(
            settings,
            TrafficSample.from_dict(record.serving_baseline),
            since=record.serving_since,
        )
        if judged is not None:
            by_name = {c.name: c for c in judged}
            results = [by_name.pop(c.name, c) for c in results] + list(by_name.values())
    checks = [*results, *run.smoke]
    checks.append(latency_against_baseline(_p95(results), record))
    if record is None:
        return checks
    # The question is whether the deployment broke something: what was already critical
    # before it started is reported, as a warning, and does not fail it.
    already = set(record.critical_before)
    return [
        replace(
            c,
            status=CheckStatus.WARNING,
            summary=f"{c.summary} (already critical before the deployment)",
        )
        if c.status is CheckStatus.CRITICAL and c.name in already
        else c
        for c in checks
    ]


def verify_deploy(settings: Settings) -> DeployOutcome:
    """Judge the service now, against the last (or current) deployment's baseline."""
    record = read_record(settings, "current") or read_record(settings, "last")
    checks = verify_checks(settings, record)
    if record is None:
        record = DeployRecord(
            id="none",
            version=installed_version(),
            version_before=installed_version(),
            reason=None,
            started_at="",
            started_by="",
            revision_before=None,
            backup_id=None,
            baseline_p95_seconds=None,
            maintenance_was_on=False,
            state="none",
        )
    return DeployOutcome(record=record, checks=checks)


@dataclass
class RollbackPlan:
    """What a rollback will do, shown before it does it."""

    record: DeployRecord
    revision_now: str | None
    revision_target: str | None
    dry_run: bool
    notified: dict[str, Any] | None = None

    @property
    def downgrade(self) -> bool:
        return self.revision_now != self.revision_target

    def describe(self) -> str:
        parts = [
            f"roll back deployment {self.record.id} ({self.record.version_before} ->"
            f" {self.record.version}): maintenance mode on"
        ]
        if self.downgrade:
            parts.append(
                f"database {self.revision_now} -> {self.revision_target or 'base'} (tables and"
                " columns added since are dropped with their data)"
            )
        else:
            parts.append("the database stays as it is")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "deploy": self.record.to_dict(),
            "dry_run": self.dry_run,
            "revision_now": self.revision_now,
            "revision_target": self.revision_target,
            "downgrade": self.downgrade,
            "plan": self.describe(),
            "notified": self.notified,
            "next_step": (
                f"install Chairside {self.record.version_before}, then run"
                " `chairside deploy finish`"
            ),
        }


def rollback_deploy(
    settings: Settings,
    *,
    reason: str,
    dry_run: bool = False,
    confirm: Callable[[RollbackPlan], None] = lambda plan: None,
) -> RollbackPlan:
    """Maintenance mode on and the database back to its pre-deployment revision; a
    deployment back to the previous version is left in progress for ``deploy finish``."""
    if not reason.strip():
        raise InputError("say why you roll back: it goes to the timeline and the notification")
    with named_lock(settings.home, DEPLOY_LOCK, purpose=f"deploy rollback: {reason}"):
        record = read_record(settings, "current") or read_record(settings, "last")
        if record is None or record.state in ("rolled_back", "none"):
            raise InputError("there is no deployment to roll back (see `chairside deploy history`)")
        if record.reason and record.reason.startswith("rollback of "):
            raise InputError(
                f"deployment {record.id} is itself a rollback: finish it with"
                " `chairside deploy finish`, or restore from a backup"
            )
        url = database_url(settings)
        plan = RollbackPlan(
            record=record,
            revision_now=migrations.current_revision(url=url),
            revision_target=record.revision_before,
            dry_run=dry_run,
        )
        if dry_run:
            return plan
        confirm(plan)
        ModeSwitch(settings).switch(
            maintenance=True, reason=f"rolling back {record.version}: {reason}", owner=MODE_OWNER
        )
        if plan.downgrade:
            migrations.downgrade(url=url, revision=plan.revision_target or "base")
        record.state = "rolled_back"
        record.finished_at = datetime.now(UTC).isoformat(timespec="seconds")
        _step(record, "rollback", f"{plan.describe()}; reason: {reason}")
        close_record(settings, record)
        now = datetime.now(UTC)
        back = DeployRecord(
            id=now.strftime("%Y%m%dT%H%M%SZ") + "-rollback",
            version=record.version_before,
            version_before=record.version,
            reason=f"rollback of {record.id}: {reason}",
            started_at=now.isoformat(timespec="seconds"),
            started_by=current_actor(),
            revision_before=plan.revision_now,
            backup_id=record.backup_id,
            baseline_p95_seconds=record.baseline_p95_seconds,
            maintenance_was_on=record.maintenance_was_on,
            critical_before=record.critical_before,
        )
        _step(back, "maintenance_on", "maintenance mode on: rolling back")
        write_record(settings, "current", back)
        plan.notified = _notify_rollback(settings, plan, reason)
        open_ops_store(settings).record(
            "deploy.rolled_back",
            f"deployment {record.id} of {record.version} rolled back: {reason}",
            status="warning",
            details=plan.to_dict(),
        )
    return plan


def deploy_history(settings: Settings, *, limit: int = 20) -> list[dict[str, Any]]:
    """The ``deploy.*`` events, newest first."""
    return [
        e.to_dict() for e in open_ops_store(settings).recent(kind_prefix="deploy.", limit=limit)
    ]


def _notify_rollback(settings: Settings, plan: RollbackPlan, reason: str) -> dict[str, Any] | None:
    # The runbook's step 4, "notify stakeholders": only when someone is configured.
    if settings.notify_urls is None:
        return None
    try:
        notifier = notifier_from_settings(settings)
    except ChairsideError as exc:
        return {"ok": False, "error": exc.message}
    message = Notification(
        title=f"Chairside deployment {plan.record.version} rolled back",
        body=f"{reason}\n{plan.describe()}.\nNext: {plan.to_dict()['next_step']}.",
        severity=Severity.WARNING,
    )
    return notifier.send(message).to_dict()


def latency_against_baseline(p95: float | None, record: DeployRecord | None) -> CheckResult:
    baseline = record.baseline_p95_seconds if record else None
    if p95 is None or not baseline:
        return CheckResult(
            "latency_vs_baseline",
            CheckStatus.OK,
            "no baseline to compare with (too little traffic before or since)",
        )
    ratio = p95 / baseline
    summary = (
        f"p95 {p95 * 1000:.0f} ms against {baseline * 1000:.0f} ms before the deployment"
        f" ({ratio:.1f}x)"
    )
    if ratio > LATENCY_FACTOR:
        return CheckResult(
            "latency_vs_baseline",
            CheckStatus.CRITICAL,
            summary + f": over {LATENCY_FACTOR:g}x, the runbook's rollback trigger",
        )
    return CheckResult("latency_vs_baseline", CheckStatus.OK, summary)


def _p95(checks: list[CheckResult]) -> float | None:
    for check in checks:
        if check.name == "latency_p95":
            value = check.details.get("p95_seconds")
            return float(value) if isinstance(value, int | float) else None
    return None


def _step(record: DeployRecord, name: str, summary: str) -> None:
    record.steps.append(
        {"step": name, "at": datetime.now(UTC).isoformat(timespec="seconds"), "summary": summary}
    )
