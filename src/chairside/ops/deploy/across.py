"""``deploy roll`` and its rollback: a deployment across the API hosts of a topology.

With a topology (``CHAIRSIDE_TOPOLOGY``), a deployment does not stop the service: the
pre-deploy guard runs once; the migrations run once, on the leader (the write URL, which
is HAProxy's write port), before the first host; then each API host in turn is drained,
put on the new release, verified and put back (:mod:`chairside.ops.deploy.rolling`).

This is safe only with **expand-only migrations**: while the roll runs, hosts on the
previous release serve on the new schema, and a rollback puts hosts back on the previous
release without taking the schema back. A migration that drops or renames what the
previous release reads belongs to a later deployment, once no host runs that release
(expand, then contract). The record (``deploy/current.json``, then ``last.json``) keeps
each host's result; the ops timeline gets ``deploy.started``, one ``deploy.host`` per
host, and ``deploy.finished``/``deploy.failed``/``deploy.rolled_back``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chairside.checks import CheckResult, CheckStatus
from chairside.config import Settings
from chairside.db import database_url
from chairside.errors import (
    ChairsideError,
    ConfigError,
    GuardRefusedError,
    InputError,
    OperationFailedError,
)
from chairside.ops.database import migrations
from chairside.ops.deploy.guard import pre_deploy_checks
from chairside.ops.deploy.record import DeployRecord, close_record, read_record, write_record
from chairside.ops.deploy.release import Release
from chairside.ops.deploy.rolling import (
    HaproxyBalancer,
    HostControl,
    HostResult,
    HostStep,
    choose_hosts,
    plan_roll,
    plan_rollback,
    release_check,
    roll_hosts,
)
from chairside.ops.deploy.service import DEPLOY_LOCK, DeployOutcome
from chairside.ops.health.smoke import run_smoke
from chairside.ops.locks import named_lock
from chairside.ops.timeline.store import current_actor, open_ops_store
from chairside.topology.file import load_topology
from chairside.topology.model import ApiHost, Topology


@dataclass(frozen=True)
class RollOptions:
    drain_timeout: float = 30.0
    ready_timeout: float = 90.0
    smoke: bool = True


def topology_of(settings: Settings) -> Topology:
    """The topology a rolling deploy works on (``CHAIRSIDE_TOPOLOGY``)."""
    if settings.topology is None:
        raise InputError(
            "no topology: set CHAIRSIDE_TOPOLOGY to the topology file (`chairside lab env`"
            " prints the lab's); without one, deploy with `deploy start` and `deploy finish`",
            field="CHAIRSIDE_TOPOLOGY",
        )
    return load_topology(settings.topology)


def host_control(settings: Settings) -> HostControl:
    """How to restart this topology's API hosts on a release.

    A lab's ``topology.json`` (next to a running ``lab up``): the lab's own supervisor.
    Hosts on other machines (systemd over SSH) are not reachable from here yet.
    """
    from chairside.runtime.lab.control import running_supervisor
    from chairside.runtime.lab.hosts import LabHosts
    from chairside.runtime.lab.layout import LabLayout

    assert settings.topology is not None
    layout = LabLayout(settings.topology.parent)
    if (layout.root / "secrets.json").exists():
        running_supervisor(layout)  # an error naming `lab up` when it is not running
        return LabHosts(layout)
    raise ConfigError(
        f"{settings.topology} is not a running lab's topology: restarting API hosts on other"
        " machines (systemd over SSH) is not built yet; see docs/production.md"
    )


def verifier(
    settings: Settings, options: RollOptions
) -> Callable[[ApiHost, Release], list[CheckResult]]:
    """A host's verification: it serves the release, and the business smoke test (a
    canary booking made, paid, cancelled and refunded) passes through it directly."""

    def verify(host: ApiHost, release: Release) -> list[CheckResult]:
        checks = [release_check(host, release)]
        if options.smoke and checks[0].status is CheckStatus.OK:
            checks += run_smoke(settings, base_url=host.url).steps
        return checks

    return verify


def rolling_deploy(
    settings: Settings,
    *,
    release: Release,
    hosts: list[str] | None = None,
    reason: str | None = None,
    migrate: bool = True,
    force: bool = False,
    options: RollOptions | None = None,
    control: HostControl | None = None,
    step: Callable[[str], None] = lambda message: None,
) -> DeployOutcome:
    """Guard once, migrate once on the leader, then roll ``release`` onto each host."""
    options = options or RollOptions()
    topology = topology_of(settings)
    chosen = choose_hosts(topology, hosts)
    with named_lock(settings.home, DEPLOY_LOCK, purpose=f"deploy roll {release.label}"):
        control = control or host_control(settings)
        plan = plan_roll(chosen, control.release_of, release)
        if all(s.before == s.after for s in plan):
            raise InputError(f"every host already runs release {release.label}", field="release")
        step("Pre-deploy checks ...")
        checks = pre_deploy_checks(settings)
        _guard(checks, release.label, force=force)
        url = database_url(settings)
        now = datetime.now(UTC)
        record = DeployRecord(
            id=now.strftime("%Y%m%dT%H%M%SZ"),
            version=release.label,
            version_before=_label_of(plan),
            reason=reason,
            started_at=now.isoformat(timespec="seconds"),
            started_by=current_actor(),
            revision_before=migrations.current_revision(url=url),
            backup_id=None,
            baseline_p95_seconds=None,
            maintenance_was_on=False,
            critical_before=[c.name for c in checks if c.status is CheckStatus.CRITICAL],
            kind="rolling",
            hosts=[HostResult(s.host.name, s.before, s.after).to_dict() for s in plan],
        )
        forced = [c.name for c in checks if c.status is CheckStatus.CRITICAL]
        if forced:
            _step(record, "forced", f"started despite: {'; '.join(forced)}")
        write_record(settings, "current", record)
        store = open_ops_store(settings)
        store.record(
            "deploy.started",
            f"rolling deployment {record.id}: {record.version_before} -> {release.label} on"
            f" {', '.join(h.name for h in chosen)}" + (f" ({reason})" if reason else ""),
            details=record.to_dict(),
        )
        if migrate:
            step("Migrating once, on the leader (expand-only) ...")
            try:
                before, after = migrations.upgrade(url=url)
            except ChairsideError as exc:
                _step(record, "migrate", f"failed: {exc.message}")
                _end(
                    settings,
                    record,
                    "failed",
                    f"migrations failed ({exc.message}); no host was touched",
                )
                raise OperationFailedError(
                    f"migrations failed: {exc.message}; no host was touched"
                ) from None
            record.revision_after = after
            _step(
                record, "migrate", f"database {before or 'empty'} -> {after}, once, on the leader"
            )
            write_record(settings, "current", record)
        try:
            results = _roll(settings, record, plan, control, topology, options, step)
        except ChairsideError as exc:
            _end(settings, record, "failed", f"rolling deployment {record.id}: {exc.message}")
            raise
        failed = [r for r in results if r.state != "rolled"]
        if failed:
            bad = failed[0]
            summary = (
                f"rolling deployment {record.id} of {release.label} stopped at {bad.host}"
                f" ({bad.error}); {bad.host} is {bad.state}"
            )
            _end(settings, record, "failed", summary)
        else:
            _end(
                settings,
                record,
                "finished",
                f"rolling deployment {record.id}: every host on {release.label}",
            )
    next_step = None
    if record.state == "failed":
        next_step = (
            'fix the release and roll again, or `chairside deploy rollback "why"` to put every'
            f" host back on {record.version_before}"
        )
    return DeployOutcome(record=record, checks=_host_checks(results), next_step=next_step)


@dataclass
class RollingRollbackPlan:
    record: DeployRecord
    steps: list[HostStep]
    dry_run: bool

    def describe(self) -> str:
        hosts = ", ".join(f"{s.host.name} {s.before.label} -> {s.after.label}" for s in self.steps)
        return (
            f"roll back deployment {self.record.id} one host at a time: {hosts}; the database"
            " stays as it is (expand-only migrations: the previous release runs on it)"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "deploy": self.record.to_dict(),
            "dry_run": self.dry_run,
            "plan": self.describe(),
            "steps": [s.to_dict() for s in self.steps],
        }


def rolling_rollback(
    settings: Settings,
    *,
    reason: str,
    dry_run: bool = False,
    confirm: Callable[[RollingRollbackPlan], None] = lambda plan: None,
    options: RollOptions | None = None,
    control: HostControl | None = None,
    step: Callable[[str], None] = lambda message: None,
) -> tuple[RollingRollbackPlan, DeployOutcome | None]:
    """Every host the last deployment changed back to the release it had, one at a time."""
    if not reason.strip():
        raise InputError("say why you roll back: it goes to the timeline", field="reason")
    options = options or RollOptions()
    topology = topology_of(settings)
    with named_lock(settings.home, DEPLOY_LOCK, purpose=f"deploy rollback: {reason}"):
        return _rolling_rollback(
            settings,
            topology,
            reason=reason,
            dry_run=dry_run,
            confirm=confirm,
            options=options,
            control=control or host_control(settings),
            step=step,
        )


def is_rolling(settings: Settings) -> bool:
    """Was the deployment a rollback would undo a rolling one?"""
    record = read_record(settings, "current") or read_record(settings, "last")
    return record is not None and record.kind == "rolling"


def _rolling_rollback(
    settings: Settings,
    topology: Topology,
    *,
    reason: str,
    dry_run: bool,
    confirm: Callable[[RollingRollbackPlan], None],
    options: RollOptions,
    control: HostControl,
    step: Callable[[str], None],
) -> tuple[RollingRollbackPlan, DeployOutcome | None]:
    record = read_record(settings, "current") or read_record(settings, "last")
    if record is None or record.kind != "rolling":
        raise InputError("the last deployment was not a rolling one: nothing to roll back here")
    if record.reason and record.reason.startswith("rollback of "):
        raise InputError(
            f"deployment {record.id} is itself a rollback; deploy the release you want with"
            " `chairside deploy roll`"
        )
    results = [HostResult.from_dict(h) for h in record.hosts]
    # What each host runs now, not what the record last saw: a host may have been
    # restored since.
    for result in results:
        try:
            result.release_now = control.release_of(topology.api_host(result.host))
        except KeyError:
            pass
    plan = RollingRollbackPlan(record, plan_rollback(topology, results), dry_run)
    if not plan.steps:
        raise InputError(
            f"no host runs a release of deployment {record.id} any more: nothing to roll back"
        )
    if dry_run:
        return plan, None
    confirm(plan)
    now = datetime.now(UTC)
    back = DeployRecord(
        id=now.strftime("%Y%m%dT%H%M%SZ") + "-rollback",
        version=_label_of(plan.steps, after=True),
        version_before=_label_of(plan.steps),
        reason=f"rollback of {record.id}: {reason}",
        started_at=now.isoformat(timespec="seconds"),
        started_by=current_actor(),
        revision_before=record.revision_after or record.revision_before,
        backup_id=None,
        baseline_p95_seconds=None,
        maintenance_was_on=False,
        kind="rolling",
        hosts=[HostResult(s.host.name, s.before, s.after).to_dict() for s in plan.steps],
    )
    write_record(settings, "current", back)
    store = open_ops_store(settings)
    store.record(
        "deploy.started",
        f"rolling back deployment {record.id} ({record.version}): {plan.describe()}",
        status="warning",
        details=back.to_dict(),
    )
    try:
        done = _roll(settings, back, plan.steps, control, topology, options, step)
    except ChairsideError as exc:
        _end(settings, back, "failed", f"rollback of {record.id}: {exc.message}")
        raise
    failed = [r for r in done if r.state != "rolled"]
    if failed:
        _end(
            settings,
            back,
            "failed",
            f"rollback of {record.id} stopped at {failed[0].host} ({failed[0].error})",
        )
    else:
        _end(
            settings,
            back,
            "finished",
            f"deployment {record.id} of {record.version} rolled back on every host: {reason}",
            kind="deploy.rolled_back",
        )
    outcome = DeployOutcome(record=back, checks=_host_checks(done))
    if failed:
        outcome.next_step = f"see {failed[0].host}'s log; `chairside deploy rollback` again"
    return plan, outcome


def _roll(
    settings: Settings,
    record: DeployRecord,
    plan: list[HostStep],
    control: HostControl,
    topology: Topology,
    options: RollOptions,
    step: Callable[[str], None],
) -> list[HostResult]:
    store = open_ops_store(settings)

    def host_done(result: HostResult) -> None:
        record.hosts = [result.to_dict() if h["host"] == result.host else h for h in record.hosts]
        _step(
            record,
            f"host:{result.host}",
            f"{result.state}" + (f": {result.error}" if result.error else ""),
        )
        write_record(settings, "current", record)
        now = result.release_now.label if result.release_now else "?"
        store.record(
            "deploy.host",
            f"deployment {record.id}: {result.host} {result.state}, on {now}"
            + (f" ({result.error})" if result.error else ""),
            status="ok" if result.state == "rolled" else "failed",
            details=result.to_dict(),
        )

    return roll_hosts(
        plan,
        control=control,
        balancer=HaproxyBalancer.of(topology),
        verify=verifier(settings, options),
        drain_timeout=options.drain_timeout,
        ready_timeout=options.ready_timeout,
        step=step,
        host_done=host_done,
    )


def _guard(checks: list[CheckResult], label: str, *, force: bool) -> None:
    in_progress = [c for c in checks if c.name == "deploy_in_progress"]
    if in_progress and in_progress[0].status is CheckStatus.CRITICAL:
        raise GuardRefusedError(in_progress[0].summary)
    blocking = [c for c in checks if c.status is CheckStatus.CRITICAL]
    if blocking and not force:
        reasons = "; ".join(f"{c.name}: {c.summary}" for c in blocking)
        raise GuardRefusedError(
            f"refusing to deploy {label}: {reasons} (--force deploys anyway)",
            details={"checks": [c.to_dict() for c in checks]},
        )


def _end(
    settings: Settings, record: DeployRecord, state: str, summary: str, *, kind: str = ""
) -> None:
    record.state = state
    record.finished_at = datetime.now(UTC).isoformat(timespec="seconds")
    _step(record, "end", summary)
    close_record(settings, record)
    open_ops_store(settings).record(
        kind or ("deploy.finished" if state == "finished" else "deploy.failed"),
        summary,
        status="ok" if state == "finished" and not kind else ("warning" if kind else "failed"),
        details=record.to_dict(),
    )


def _label_of(plan: list[HostStep], *, after: bool = False) -> str:
    labels = sorted({(s.after if after else s.before).label for s in plan})
    return labels[0] if len(labels) == 1 else "mixed: " + ", ".join(labels)


def _host_checks(results: list[HostResult]) -> list[CheckResult]:
    checks = []
    for result in results:
        status = {
            "rolled": CheckStatus.OK,
            "restored": CheckStatus.CRITICAL,
            "failed": CheckStatus.CRITICAL,
        }.get(result.state, CheckStatus.UNKNOWN)
        now = result.release_now.label if result.release_now else result.release_before.label
        summary = f"{result.state}, on {now}" + (f": {result.error}" if result.error else "")
        checks.append(CheckResult(f"host:{result.host}", status, summary))
    return checks


def _step(record: DeployRecord, name: str, summary: str) -> None:
    record.steps.append(
        {"step": name, "at": datetime.now(UTC).isoformat(timespec="seconds"), "summary": summary}
    )
