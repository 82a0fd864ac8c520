"""The failover drill: kill the database leader under a booking load and measure.

What it answers, in the report recorded as a ``drill.failover`` ops event:

- how long after the kill bookings succeed again (against the topology's target);
- how many bookings the API acknowledged (201) that the new leader does not have
  (0 is the promise of synchronous mode);
- whether any two live bookings overlap (never, by the exclusion constraint);
- how many answers were 500 outside the requests in flight at the kill;
- whether the old leader, started again, rejoins as a replica on the new timeline.

It runs against the lab (``chairside lab up``), whose supervisor keeps a killed host
down until the drill lets it start again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text

from chairside.booking.integrity import check_bookings
from chairside.checks import CheckResult, CheckStatus, worst
from chairside.config import Settings
from chairside.db import make_engine, make_session_factory, transaction
from chairside.errors import ChairsideError, DependencyDownError, GuardRefusedError
from chairside.ops.drill.booking_load import BookingLoad, first_success_after, server_errors
from chairside.ops.timeline.store import OpsEvent, open_ops_store
from chairside.runtime.lab.control import kill_host, running_supervisor, start_host
from chairside.runtime.lab.layout import LabLayout
from chairside.topology.file import load_resolved
from chairside.topology.model import Topology
from chairside.topology.patroni import ClusterView, cluster_view

EVENT_KIND = "drill.failover"


@dataclass
class FailoverReport:
    """What one failover drill measured; ``to_dict`` is the JSON contract (docs/cli.md)."""

    started_at: str
    old_leader: str
    synchronous_mode: bool
    failover_target_seconds: float
    new_leader: str | None = None
    timeline_before: int | None = None
    timeline_after: int | None = None
    failover_seconds: float | None = None
    bookings_attempted: int = 0
    bookings_acknowledged: int = 0
    committed_lost: int | None = None
    double_bookings: int | None = None
    server_errors: int = 0
    server_error_samples: list[str] = field(default_factory=list)
    proxy_or_overload_errors: int = 0
    no_answer: int = 0
    old_leader_rejoined: bool = False
    rejoin_seconds: float | None = None
    finished_at: str | None = None
    checks: list[CheckResult] = field(default_factory=list)
    error: str | None = None

    @property
    def status(self) -> CheckStatus:
        if self.error is not None:
            return CheckStatus.CRITICAL
        return worst(c.status for c in self.checks)

    @property
    def passed(self) -> bool:
        return self.status is CheckStatus.OK

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "passed": self.passed,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "old_leader": self.old_leader,
            "new_leader": self.new_leader,
            "timeline_before": self.timeline_before,
            "timeline_after": self.timeline_after,
            "synchronous_mode": self.synchronous_mode,
            "failover_seconds": _round(self.failover_seconds),
            "failover_target_seconds": self.failover_target_seconds,
            "bookings_attempted": self.bookings_attempted,
            "bookings_acknowledged": self.bookings_acknowledged,
            "committed_lost": self.committed_lost,
            "double_bookings": self.double_bookings,
            "server_errors": self.server_errors,
            "server_error_samples": self.server_error_samples,
            "proxy_or_overload_errors": self.proxy_or_overload_errors,
            "no_answer": self.no_answer,
            "old_leader_rejoined": self.old_leader_rejoined,
            "rejoin_seconds": _round(self.rejoin_seconds),
            "checks": [c.to_dict() for c in self.checks],
            "error": self.error,
        }


def plan_failover(settings: Settings) -> tuple[Topology, ClusterView]:
    """The lab and its cluster, checked fit for a drill (a leader, replicas streaming)."""
    layout = LabLayout.of(settings)
    running_supervisor(layout)
    topology = load_resolved(layout.root)
    view = cluster_view(topology)
    if view.leader is None:
        raise GuardRefusedError("the cluster has no leader now; a failover drill needs one")
    streaming = [
        m for m in view.replicas if m.state in {"running", "streaming"} and m.lag_bytes is not None
    ]
    if not streaming:
        raise GuardRefusedError("no replica streams from the leader; nothing could take over")
    return topology, view


def run_failover_drill(
    settings: Settings,
    *,
    warmup_seconds: float = 3.0,
    settle_seconds: float = 3.0,
    rejoin_timeout_seconds: float = 120.0,
    clients: int = 4,
    step: Callable[[str], None] = lambda message: None,
) -> FailoverReport:
    """Kill the leader under load, measure, let it rejoin, record the report."""
    layout = LabLayout.of(settings)
    topology, view = plan_failover(settings)
    assert view.leader is not None
    pg = topology.postgres
    report = FailoverReport(
        started_at=_now(),
        old_leader=view.leader.name,
        synchronous_mode=pg.synchronous_mode,
        failover_target_seconds=pg.failover_budget_seconds,
        timeline_before=view.leader.timeline,
    )
    api_url = f"http://{topology.haproxy.host}:{topology.haproxy.api_port}"
    load = BookingLoad(api_url=api_url, clients=clients)
    killed_at: float | None = None
    try:
        step(f"Preparing a booking load of {clients} clients through {api_url} ...")
        load.prepare()
        load.start()
        time.sleep(warmup_seconds)
        step(f"Killing the leader {report.old_leader} ...")
        kill_host(layout, report.old_leader)
        # From when the leader is certainly dead: a booking that began while the kill was
        # under way may still have committed on it.
        killed_at = time.monotonic()
        deadline = killed_at + 3 * report.failover_target_seconds
        while time.monotonic() < deadline:
            first = first_success_after(load.snapshot(), killed_at)
            if first is not None:
                report.failover_seconds = first.finished - killed_at
                break
            time.sleep(0.2)
        step(f"Bookings succeed again after {_round(report.failover_seconds)} s; settling ...")
        time.sleep(settle_seconds)
    except ChairsideError as exc:
        report.error = exc.message
    finally:
        load.stop()
    _count_answers(report, load, killed_at=killed_at)
    try:
        _verify_data(report, topology, layout, load)
    except ChairsideError as exc:
        report.error = report.error or exc.message
    step(f"Letting {report.old_leader} start again and waiting for it to rejoin ...")
    _rejoin(report, topology, layout, timeout=rejoin_timeout_seconds)
    report.checks = _checks(report)
    report.finished_at = _now()
    save_failover_report(settings, report)
    return report


def _count_answers(report: FailoverReport, load: BookingLoad, *, killed_at: float | None) -> None:
    attempts = load.snapshot()
    report.bookings_attempted = len(attempts)
    report.bookings_acknowledged = len(load.acknowledged())
    moments = [killed_at] if killed_at is not None else []
    errors = server_errors(attempts, in_flight_at=moments)
    report.server_errors = len(errors)
    report.server_error_samples = sorted({str(a.error) for a in errors})[:3]
    report.proxy_or_overload_errors = sum(1 for a in attempts if a.status in {502, 503, 504})
    report.no_answer = sum(1 for a in attempts if a.status == 0)


def _verify_data(
    report: FailoverReport, topology: Topology, layout: LabLayout, load: BookingLoad
) -> None:
    """Acknowledged bookings present on the new leader; no overlapping live bookings."""
    engine = make_engine(layout.write_url(topology), pool_size=1)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with transaction(make_session_factory(engine)) as session:
                    acknowledged = sorted(load.acknowledged())
                    found = session.execute(
                        text("SELECT count(*) FROM bookings WHERE id::text = ANY(:ids)"),
                        {"ids": acknowledged},
                    ).scalar_one()
                    integrity = check_bookings(session=session)
                break
            except Exception as exc:  # noqa: BLE001 - the new leader may still be settling
                if time.monotonic() > deadline:
                    raise DependencyDownError(f"the new leader did not answer: {exc}") from None
                time.sleep(0.5)
    finally:
        engine.dispose()
    report.committed_lost = len(acknowledged) - int(found)
    report.double_bookings = len(integrity.overlaps)
    view = cluster_view(topology)
    if view.leader is not None:
        report.new_leader = view.leader.name
        report.timeline_after = view.leader.timeline


def _rejoin(
    report: FailoverReport, topology: Topology, layout: LabLayout, *, timeout: float
) -> None:
    started = time.monotonic()
    start_host(layout, report.old_leader)
    while time.monotonic() - started < timeout:
        try:
            view = cluster_view(topology)
        except DependencyDownError:
            time.sleep(0.5)
            continue
        member = view.member(report.old_leader)
        leader = view.leader
        if (
            member is not None
            and leader is not None
            and not member.is_leader
            and member.state in {"running", "streaming"}
            and member.lag_bytes is not None
            and member.timeline == leader.timeline
        ):
            report.old_leader_rejoined = True
            report.rejoin_seconds = time.monotonic() - started
            report.timeline_after = leader.timeline  # Patroni reports it a loop late
            return
        time.sleep(0.5)


def _checks(report: FailoverReport) -> list[CheckResult]:
    checks = []
    target = report.failover_target_seconds
    if report.failover_seconds is None:
        checks.append(
            CheckResult("failover_time", CheckStatus.CRITICAL, "bookings never succeeded again")
        )
    else:
        ok = report.failover_seconds <= target
        checks.append(
            CheckResult(
                "failover_time",
                CheckStatus.OK if ok else CheckStatus.CRITICAL,
                f"bookings succeed again {report.failover_seconds:.1f} s after the kill "
                f"(target {target:.0f} s)",
            )
        )
    checks.append(
        CheckResult(
            "new_leader",
            CheckStatus.OK
            if report.new_leader and report.new_leader != report.old_leader
            else CheckStatus.CRITICAL,
            f"{report.new_leader} leads on timeline {report.timeline_after} "
            f"(was {report.old_leader} on {report.timeline_before})",
        )
    )
    lost = report.committed_lost
    lost_status = CheckStatus.OK if lost == 0 else CheckStatus.CRITICAL
    if lost and not report.synchronous_mode:
        lost_status = CheckStatus.WARNING  # asynchronous replication may lose the newest
    checks.append(
        CheckResult(
            "committed_bookings_lost",
            lost_status if lost is not None else CheckStatus.UNKNOWN,
            f"{lost} of {report.bookings_acknowledged} acknowledged bookings missing "
            "on the new leader",
        )
    )
    checks.append(
        CheckResult(
            "double_bookings",
            CheckStatus.OK if report.double_bookings == 0 else CheckStatus.CRITICAL,
            f"{report.double_bookings} overlapping live bookings",
        )
    )
    checks.append(
        CheckResult(
            "server_errors",
            CheckStatus.OK if report.server_errors == 0 else CheckStatus.CRITICAL,
            f"{report.server_errors} answers of 500 outside the requests in flight at the kill "
            f"({report.proxy_or_overload_errors} of 502/503/504, {report.no_answer} unanswered)",
        )
    )
    checks.append(
        CheckResult(
            "old_leader_rejoined",
            CheckStatus.OK if report.old_leader_rejoined else CheckStatus.CRITICAL,
            f"{report.old_leader} rejoined as a replica after {_round(report.rejoin_seconds)} s"
            if report.old_leader_rejoined
            else f"{report.old_leader} did not rejoin as a replica",
        )
    )
    return checks


def save_failover_report(settings: Settings, report: FailoverReport) -> OpsEvent:
    """Keep the report in the ops store (one ``drill.failover`` event)."""
    summary = (
        f"failover drill {'passed' if report.passed else 'FAILED'}: {report.old_leader} -> "
        f"{report.new_leader} in {_round(report.failover_seconds)} s, "
        f"{report.committed_lost} committed bookings lost, {report.double_bookings} double"
    )
    return open_ops_store(settings).record(
        EVENT_KIND, summary, status="ok" if report.passed else "failed", details=report.to_dict()
    )


def render_failover_markdown(data: dict[str, Any]) -> str:
    """The report as Markdown."""
    verdict = "PASSED" if data.get("passed") else "FAILED"
    lines = [
        f"# Failover drill {data.get('started_at')}: {verdict}",
        "",
        "| | |",
        "|---|---|",
        f"| leader | {data.get('old_leader')} -> {data.get('new_leader')} |",
        f"| timeline | {data.get('timeline_before')} -> {data.get('timeline_after')} |",
        f"| synchronous mode | {data.get('synchronous_mode')} |",
        f"| writes back after | {data.get('failover_seconds')} s "
        f"(target {data.get('failover_target_seconds')} s) |",
        f"| bookings attempted / acknowledged | {data.get('bookings_attempted')} / "
        f"{data.get('bookings_acknowledged')} |",
        f"| committed bookings lost | {data.get('committed_lost')} |",
        f"| double bookings | {data.get('double_bookings')} |",
        f"| answers of 500 (not in flight) | {data.get('server_errors')} |",
        f"| old leader rejoined | {data.get('old_leader_rejoined')} "
        f"({data.get('rejoin_seconds')} s) |",
        "",
    ]
    if data.get("error"):
        lines += [f"**Error:** {data['error']}", ""]
    checks = data.get("checks") or []
    if checks:
        lines += ["| check | status | summary |", "|---|---|---|"]
        lines += [f"| {c['name']} | {c['status']} | {c['summary']} |" for c in checks]
    return "\n".join(lines)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
