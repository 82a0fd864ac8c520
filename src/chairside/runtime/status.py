"""``chairside status``: what runs, where, and whether it is healthy."""

from __future__ import annotations

import json
import time

import httpx

from chairside.checks import CheckResult, CheckStatus
from chairside.config import Settings
from chairside.db import database_url, make_engine
from chairside.errors import ChairsideError
from chairside.ops.database import migrations
from chairside.ops.deploy.modes import ModeSwitch
from chairside.ops.health import components
from chairside.redis_client import redis_for
from chairside.runtime.embedded import embedded_cluster_exists, embedded_stack
from chairside.runtime.serve import api_state_file
from chairside.topology.status import configured_topology_checks


def collect_status(settings: Settings) -> list[CheckResult]:
    """One result per component: PostgreSQL, migrations, Redis, the API, the modes."""
    if settings.embedded and not embedded_cluster_exists(settings):
        # Nothing to look at yet; resolving the stack now would choose ports and write a
        # password, which a status command must not do.
        results = [
            CheckResult(
                "postgres",
                CheckStatus.CRITICAL,
                "no embedded cluster yet: run `chairside up`",
                details={"embedded": True, "data_dir": str(settings.home / "pg" / "data")},
            ),
            components.check_redis(None),
        ]
        return [*results, _api(settings), _modes(settings)]
    results = [_postgres(settings)]
    if results[0].status is CheckStatus.OK:
        results.append(_migrations(settings))
    results.append(components.check_redis(redis_for(settings)))
    results.append(_api(settings))
    results.append(_modes(settings))
    results.extend(configured_topology_checks(settings))  # every host, with CHAIRSIDE_TOPOLOGY
    return results


def _postgres(settings: Settings) -> CheckResult:
    details: dict[str, object] = {"embedded": settings.embedded}
    if settings.embedded:
        try:
            stack = embedded_stack(settings)
        except ChairsideError as exc:
            return CheckResult("postgres", CheckStatus.CRITICAL, exc.message, details=details)
        details.update(data_dir=str(stack.postgres.data_dir), port=stack.postgres.port)
        if not stack.postgres.is_running():
            return CheckResult("postgres", CheckStatus.CRITICAL, "stopped", details=details)
    engine = make_engine(database_url(settings), pool_size=1)
    try:
        result = components.check_database(engine)
    finally:
        engine.dispose()
    return CheckResult("postgres", result.status, result.summary, result.latency_ms, details)


def _migrations(settings: Settings) -> CheckResult:
    try:
        current = migrations.current_revision(url=database_url(settings))
    except ChairsideError as exc:
        return CheckResult("migrations", CheckStatus.UNKNOWN, exc.message)
    head = migrations.head_revision()
    details: dict[str, object] = {"current": current, "head": head}
    if current == head:
        return CheckResult("migrations", CheckStatus.OK, f"at head ({head})", details=details)
    return CheckResult(
        "migrations",
        CheckStatus.WARNING,
        f"at {current or 'nothing'}, code expects {head}: run `chairside db migrate`",
        details=details,
    )


def _api(settings: Settings) -> CheckResult:
    path = api_state_file(settings)
    try:
        state = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return CheckResult("api", CheckStatus.CRITICAL, "not running (no `chairside up` here)")
    url = f"http://{state['host']}:{state['port']}/health"
    started = time.perf_counter()
    try:
        response = httpx.get(url, timeout=2)
    except httpx.HTTPError as exc:
        return CheckResult(
            "api",
            CheckStatus.CRITICAL,
            f"{url} does not answer ({type(exc).__name__})",
            details={"url": url},
        )
    latency = round((time.perf_counter() - started) * 1000, 2)
    status = CheckStatus.OK if response.status_code == 200 else CheckStatus.CRITICAL
    return CheckResult(
        "api", status, f"{url} answered {response.status_code}", latency, {"url": url}
    )


def _modes(settings: Settings) -> CheckResult:
    modes = ModeSwitch(settings).current()
    if modes.maintenance:
        return CheckResult(
            "modes", CheckStatus.WARNING, "maintenance mode is ON", details=modes.to_dict()
        )
    if modes.read_only:
        return CheckResult(
            "modes", CheckStatus.WARNING, "read-only mode is ON", details=modes.to_dict()
        )
    return CheckResult("modes", CheckStatus.OK, "serving normally", details=modes.to_dict())
