"""Rolling API hosts one at a time behind HAProxy: the one implementation of it.

``chairside deploy roll`` (a new release on every host), ``deploy rollback`` of a rolling
deploy (every host back to the release it had) and ``lab roll`` (a restart on the
release each host has) all go through :func:`roll_hosts`. For each host, in order:

1. **drain**: HAProxy sends it no new requests (``set server ... state drain`` on its
   admin socket) and the requests it holds finish (its current sessions reach 0);
2. **upgrade**: the host is stopped gracefully (SIGTERM: uvicorn finishes what it holds)
   and started on the release (:class:`HostControl`, the lab's or a production one);
3. **verify**: its own ``/health/ready`` answers 200, it reports the release it was given
   (``X-Chairside-Release``) and a smoke request through it, directly and not through
   HAProxy, succeeds;
4. **put back**: HAProxy sends it traffic again (``ready``) and reports it UP.

Only then the next host. A host that fails 2-3 is put back on the release it had before
(and back in HAProxy), the roll stops there, and the hosts already rolled keep serving
the new release: the caller decides whether to roll those back too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx

from chairside.checks import CheckResult, CheckStatus
from chairside.errors import ChairsideError, ComponentError, InputError
from chairside.ops.deploy.release import RELEASE_HEADER, Release
from chairside.topology.haproxy import BackendServer, backend_servers, set_server_state
from chairside.topology.model import ApiHost, Topology

API_BACKEND = "api_hosts"


class HostControl(Protocol):
    """How the roll reaches a host: its release, and restarting it on another."""

    def release_of(self, host: ApiHost) -> Release:
        """The release ``host`` runs now."""

    def install(self, host: ApiHost, release: Release) -> None:
        """Stop ``host`` gracefully and start it on ``release``; returns once the old
        process is gone (the new one may still be starting)."""

    def start_failure(self, host: ApiHost) -> str | None:
        """Why ``host``'s new process is not coming up (it exited), or None."""


class Balancer(Protocol):
    """HAProxy as the roll sees it."""

    def set_state(self, host: ApiHost, state: str) -> None: ...

    def sessions(self, host: ApiHost) -> int: ...

    def is_up(self, host: ApiHost) -> bool: ...


@dataclass(frozen=True)
class HaproxyBalancer:
    """HAProxy through its admin socket: the ``api_hosts`` backend."""

    socket: Path
    backend: str = API_BACKEND

    @classmethod
    def of(cls, topology: Topology) -> HaproxyBalancer:
        if not topology.haproxy.admin_socket:
            raise InputError(
                "the topology names no HAProxy admin socket (haproxy.admin_socket): a rolling"
                " deploy drains each host there",
                field="haproxy.admin_socket",
            )
        return cls(Path(topology.haproxy.admin_socket))

    def set_state(self, host: ApiHost, state: str) -> None:
        set_server_state(self.socket, backend=self.backend, server=host.name, state=state)

    def sessions(self, host: ApiHost) -> int:
        return self._server(host).current_sessions

    def is_up(self, host: ApiHost) -> bool:
        return self._server(host).status == "UP"

    def _server(self, host: ApiHost) -> BackendServer:
        for server in backend_servers(self.socket):
            if server.backend == self.backend and server.server == host.name:
                return server
        raise ComponentError(f"HAProxy has no server {self.backend}/{host.name}")


@dataclass(frozen=True)
class HostStep:
    """One host of a roll: the release it has and the one it is to run."""

    host: ApiHost
    before: Release
    after: Release

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host.name,
            "release_before": self.before.to_dict(),
            "release_after": self.after.to_dict(),
        }


@dataclass
class HostResult:
    """How one host went through the roll."""

    host: str
    release_before: Release
    release_target: Release
    # rolled: on the target and back in HAProxy; restored: failed, back on the release
    # it had and in HAProxy; failed: failed and not restored (left drained);
    # not_reached: the roll stopped before it.
    state: str = "not_reached"
    release_now: Release | None = None
    error: str | None = None
    checks: list[CheckResult] = field(default_factory=list)
    drain_seconds: float = 0.0
    upgrade_seconds: float = 0.0
    total_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "state": self.state,
            "release_before": self.release_before.to_dict(),
            "release_target": self.release_target.to_dict(),
            "release_now": self.release_now.to_dict() if self.release_now else None,
            "error": self.error,
            "checks": [c.to_dict() for c in self.checks],
            "drain_seconds": round(self.drain_seconds, 2),
            "upgrade_seconds": round(self.upgrade_seconds, 2),
            "total_seconds": round(self.total_seconds, 2),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HostResult:
        now = data.get("release_now")
        return cls(
            host=str(data["host"]),
            release_before=Release.from_dict(data["release_before"]),
            release_target=Release.from_dict(data["release_target"]),
            state=str(data.get("state", "not_reached")),
            release_now=Release.from_dict(now) if now else None,
            error=data.get("error"),
        )


Verifier = Callable[[ApiHost, Release], list[CheckResult]]


def choose_hosts(topology: Topology, names: Sequence[str] | None) -> list[ApiHost]:
    """The API hosts to roll, in the order given (default: the topology's order)."""
    if not names:
        return list(topology.api.hosts)
    if len(set(names)) != len(names):
        raise InputError(f"a host is named twice in {', '.join(names)}", field="host")
    try:
        return [topology.api_host(name) for name in names]
    except KeyError as exc:
        raise InputError(str(exc.args[0]), field="host") from None


def plan_roll(
    hosts: Sequence[ApiHost], current: Callable[[ApiHost], Release], target: Release | None
) -> list[HostStep]:
    """Each host from the release it runs to ``target`` (None: its own, a restart)."""
    return [HostStep(h, current(h), target or current(h)) for h in hosts]


def plan_rollback(topology: Topology, results: Sequence[HostResult]) -> list[HostStep]:
    """Every host a deployment changed back to the release it had before, in the
    deployment's order; hosts it never changed (or already restored) are left alone."""
    steps = []
    for result in results:
        now = result.release_now or result.release_before
        if now == result.release_before:
            continue
        try:
            host = topology.api_host(result.host)
        except KeyError:
            raise InputError(
                f"host {result.host} of that deployment is no longer in the topology; roll it"
                " back by hand",
                field="host",
            ) from None
        steps.append(HostStep(host, now, result.release_before))
    return steps


def roll_hosts(
    steps: Sequence[HostStep],
    *,
    control: HostControl,
    balancer: Balancer,
    verify: Verifier,
    drain_timeout: float = 30.0,
    ready_timeout: float = 90.0,
    step: Callable[[str], None] = lambda message: None,
    host_done: Callable[[HostResult], None] = lambda result: None,
    ready: Callable[[ApiHost], bool] | None = None,
) -> list[HostResult]:
    """Roll ``steps`` one host at a time; the first host that fails stops the roll."""
    results = [HostResult(s.host.name, s.before, s.after) for s in steps]
    for plan, result in zip(steps, results, strict=True):
        _roll_one(
            plan,
            result,
            control=control,
            balancer=balancer,
            verify=verify,
            drain_timeout=drain_timeout,
            ready_timeout=ready_timeout,
            step=step,
            ready=ready or host_ready,
        )
        host_done(result)
        if result.state != "rolled":
            break
    return results


def _roll_one(
    plan: HostStep,
    result: HostResult,
    *,
    control: HostControl,
    balancer: Balancer,
    verify: Verifier,
    drain_timeout: float,
    ready_timeout: float,
    step: Callable[[str], None],
    ready: Callable[[ApiHost], bool],
) -> None:
    host = plan.host
    started = time.monotonic()
    step(f"{host.name}: draining in HAProxy ...")
    try:
        balancer.set_state(host, "drain")
        _wait(lambda: balancer.sessions(host) == 0, drain_timeout, f"{host.name} to drain")
    except ChairsideError as exc:
        # Nothing was changed on the host: it goes straight back into service.
        result.error, result.release_now = exc.message, plan.before
        result.state = "restored" if _try_ready(balancer, host) else "failed"
        result.total_seconds = time.monotonic() - started
        return
    drained = time.monotonic()
    result.drain_seconds = drained - started
    try:
        step(f"{host.name}: {plan.before.label} -> {plan.after.label} ...")
        result.release_now = plan.after
        control.install(host, plan.after)
        _wait_ready(control, host, ready_timeout, ready)
        result.upgrade_seconds = time.monotonic() - drained
        step(f"{host.name}: verifying ...")
        result.checks = verify(host, plan.after)
        bad = [c for c in result.checks if c.status is CheckStatus.CRITICAL]
        if bad:
            raise ComponentError("; ".join(f"{c.name}: {c.summary}" for c in bad))
        _put_back(balancer, host)
    except ChairsideError as exc:
        result.error = exc.message
        step(f"{host.name}: failed ({exc.message}); back to {plan.before.label} ...")
        try:
            result.release_now = plan.before
            control.install(host, plan.before)
            _wait_ready(control, host, ready_timeout, ready)
            _put_back(balancer, host)
        except ChairsideError as again:
            # Back in HAProxy's hands all the same: its health check keeps the host out
            # until it answers ready, and lets it in when it does (on the release it had).
            _try_ready(balancer, host)
            result.state = "failed"
            result.error += f"; putting it back on {plan.before.label} failed too: {again.message}"
        else:
            result.state = "restored"
        result.total_seconds = time.monotonic() - started
        return
    step(f"{host.name}: on {plan.after.label}, back in HAProxy")
    result.state = "rolled"
    result.total_seconds = time.monotonic() - started


def _try_ready(balancer: Balancer, host: ApiHost) -> bool:
    try:
        balancer.set_state(host, "ready")
    except ChairsideError:
        return False
    return True


def _put_back(balancer: Balancer, host: ApiHost) -> None:
    balancer.set_state(host, "ready")
    _wait(lambda: balancer.is_up(host), 30, f"HAProxy to send {host.name} traffic")


def _wait_ready(
    control: HostControl, host: ApiHost, timeout: float, ready: Callable[[ApiHost], bool]
) -> None:
    def started() -> bool:
        failure = control.start_failure(host)
        if failure is not None:
            raise ComponentError(failure)
        return ready(host)

    _wait(started, timeout, f"{host.name} to be ready")


def host_ready(host: ApiHost) -> bool:
    try:
        return httpx.get(f"{host.url}/health/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def release_check(host: ApiHost, release: Release) -> CheckResult:
    """The host says it runs ``release`` (its ``X-Chairside-Release``)."""
    try:
        answer = httpx.get(f"{host.url}/health/live", timeout=5)
    except httpx.HTTPError as exc:
        return CheckResult("release", CheckStatus.CRITICAL, f"{host.name} does not answer: {exc}")
    said = answer.headers.get(RELEASE_HEADER)
    if said != release.label:
        return CheckResult(
            "release",
            CheckStatus.CRITICAL,
            f"{host.name} serves release {said!r}, not {release.label!r}",
        )
    return CheckResult("release", CheckStatus.OK, f"{host.name} serves release {release.label}")


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise ComponentError(f"waited {timeout:.0f} s for {what}; the roll stopped there")
