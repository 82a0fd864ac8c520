"""The status of every host of the topology, as check results.

Patroni for the leader and each replica (state, timeline, lag), HAProxy for its
backends, Sentinel for the Redis master, and each API host's ``/health/ready`` (which
reflects that host's own path to the leader). ``chairside lab status`` shows these, and
``chairside status`` / ``health`` add them when ``CHAIRSIDE_TOPOLOGY`` names a topology.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from chairside.checks import CheckResult, CheckStatus
from chairside.config import Settings
from chairside.errors import ChairsideError
from chairside.runtime.lab.api import ready_path
from chairside.topology.file import load_topology
from chairside.topology.haproxy import BackendServer, backend_servers
from chairside.topology.model import Topology
from chairside.topology.patroni import ClusterView, cluster_view
from chairside.topology.sentinel import sentinel_reports


def topology_checks(topology: Topology) -> list[CheckResult]:
    """One result per host or role of ``topology``."""
    results = [*_etcd(topology), *_postgres(topology), *_haproxy(topology), _sentinel(topology)]
    results += _api_hosts(topology)
    return results


def _etcd(topology: Topology) -> list[CheckResult]:
    results = []
    for member in topology.etcd:
        ok, latency, summary = _http_check(f"{member.client_url}/health")
        status = CheckStatus.OK if ok else CheckStatus.CRITICAL
        results.append(CheckResult(f"etcd:{member.name}", status, summary, latency))
    return results


def _postgres(topology: Topology) -> list[CheckResult]:
    try:
        view = cluster_view(topology)
    except ChairsideError as exc:
        return [CheckResult("postgres", CheckStatus.CRITICAL, exc.message)]
    results = []
    for node in topology.postgres.nodes:
        results.append(_member_check(topology, view, node.name))
    if view.leader is None:
        results.insert(0, CheckResult("postgres", CheckStatus.CRITICAL, "no leader"))
    elif topology.postgres.synchronous_mode and not any(
        m.role == "sync_standby" for m in view.members
    ):
        results.insert(
            0,
            CheckResult(
                "postgres",
                CheckStatus.WARNING,
                "synchronous mode is on but no replica is synchronous: a failover now could "
                "lose the newest commits",
            ),
        )
    return results


def _member_check(topology: Topology, view: ClusterView, name: str) -> CheckResult:
    member = view.member(name)
    check = f"postgres:{name}"
    if member is None:
        return CheckResult(check, CheckStatus.CRITICAL, "not a member (Patroni down?)")
    details = member.to_dict()
    if member.is_leader:
        return CheckResult(
            check, CheckStatus.OK, f"leader, timeline {member.timeline}", details=details
        )
    if member.state != "running" or member.lag_bytes is None:
        return CheckResult(
            check, CheckStatus.CRITICAL, f"{member.role}, {member.state}", details=details
        )
    status = CheckStatus.OK
    if member.lag_bytes > topology.postgres.maximum_lag_on_failover:
        status = CheckStatus.WARNING  # too far behind to be promoted
    return CheckResult(
        check,
        status,
        f"{member.role}, streaming, lag {member.lag_bytes} bytes, timeline {member.timeline}",
        details=details,
    )


def _haproxy(topology: Topology) -> list[CheckResult]:
    sock = topology.haproxy.admin_socket
    if sock is None:
        return [
            CheckResult(
                "haproxy", CheckStatus.UNKNOWN, "no admin_socket in the topology's haproxy section"
            )
        ]
    try:
        servers = backend_servers(Path(sock))
    except ChairsideError as exc:
        return [CheckResult("haproxy", CheckStatus.CRITICAL, exc.message)]
    by_backend: dict[str, list[BackendServer]] = {}
    for server in servers:
        by_backend.setdefault(server.backend, []).append(server)
    results = []
    for backend, members in sorted(by_backend.items()):
        up = [s.server for s in members if s.up]
        summary = f"{len(up)}/{len(members)} up" + (f": {', '.join(up)}" if up else "")
        status = CheckStatus.OK
        if backend == "db_write" and len(up) != 1:
            status = CheckStatus.CRITICAL  # no leader (or two) behind the write port
        elif backend == "db_read" and not up:
            status = CheckStatus.WARNING  # lag-tolerant reads fall back to the leader
        elif backend == "api_hosts" and len(up) < len(members):
            status = CheckStatus.CRITICAL if not up else CheckStatus.WARNING
        details: dict[str, object] = {"servers": [s.to_dict() for s in members]}
        results.append(CheckResult(f"haproxy:{backend}", status, summary, details=details))
    return results


def _sentinel(topology: Topology) -> CheckResult:
    reports = sentinel_reports(topology)
    answering = [r for r in reports if r.master is not None]
    masters = {r.master for r in answering}
    details: dict[str, object] = {"sentinels": [r.to_dict() for r in reports]}
    if not answering:
        return CheckResult("sentinel", CheckStatus.CRITICAL, "no sentinel answers", details=details)
    if len(masters) > 1:
        return CheckResult(
            "sentinel",
            CheckStatus.WARNING,
            f"sentinels disagree on the master: {', '.join(sorted(str(m) for m in masters))}",
            details=details,
        )
    master = answering[0].master
    replicas = answering[0].replicas
    status = CheckStatus.OK
    if len(answering) < topology.redis.quorum or "down" in answering[0].flags:
        status = CheckStatus.WARNING
    summary = (
        f"master {master}, {len(replicas)} replica(s), "
        f"{len(answering)}/{len(reports)} sentinels answer"
    )
    return CheckResult("sentinel", status, summary, details=details)


def _api_hosts(topology: Topology) -> list[CheckResult]:
    results = []
    for host in topology.api.hosts:
        ok, latency, summary = _http_check(f"{host.url}{ready_path()}")
        status = CheckStatus.OK if ok else CheckStatus.CRITICAL
        results.append(
            CheckResult(f"api:{host.name}", status, summary, latency, details={"url": host.url})
        )
    return results


def _http_check(url: str) -> tuple[bool, float | None, str]:
    started = time.perf_counter()
    try:
        response = httpx.get(url, timeout=2.0)
    except httpx.HTTPError as exc:
        return False, None, f"{url} does not answer ({type(exc).__name__})"
    latency = round((time.perf_counter() - started) * 1000, 2)
    return response.status_code == 200, latency, f"{url} answered {response.status_code}"


def configured_topology_checks(settings: Settings) -> list[CheckResult]:
    """The topology's checks when ``CHAIRSIDE_TOPOLOGY`` names one, else none."""
    if settings.topology is None:
        return []
    try:
        topology = load_topology(settings.topology)
    except ChairsideError as exc:
        return [CheckResult("topology", CheckStatus.CRITICAL, exc.message)]
    return topology_checks(topology)
