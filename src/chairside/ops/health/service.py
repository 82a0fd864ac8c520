"""``chairside health``: run the checks from the command line and keep the result.

From the command line the probe opens its own connections (the same settings the
service uses), asks the running API whether it answers, and reads the API's error rate
and latency from its ``/metrics``. The traffic readings are kept in
``$CHAIRSIDE_HOME/health/traffic.json`` so consecutive runs (a cron job every 15 minutes)
measure the rate over the window between them, like Prometheus does.
"""

from __future__ import annotations

import enum
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from chairside.checks import CheckResult, CheckStatus, worst
from chairside.config import Settings
from chairside.db import database_url, make_engine
from chairside.errors import ChairsideError, DependencyDownError
from chairside.ops.deploy.modes import ModeSwitch
from chairside.ops.health import status_file
from chairside.ops.health.backups import check_backups
from chairside.ops.health.probe import HealthProbe
from chairside.ops.health.report import health_payload
from chairside.ops.health.smoke import run_smoke
from chairside.ops.health.traffic import TrafficWindow
from chairside.ops.notify.changes import Change, notify_changes
from chairside.ops.timeline.store import open_ops_store
from chairside.redis_client import redis_for
from chairside.topology.status import configured_topology_checks


class HealthKind(enum.StrEnum):
    ALL = "all"
    HEALTH = "health"
    SMOKE = "smoke"


@dataclass
class HealthRun:
    """The results of one ``chairside health`` run, and where they were written."""

    kind: HealthKind
    api_url: str
    results: list[CheckResult] = field(default_factory=list)
    smoke: list[CheckResult] = field(default_factory=list)
    output: Path | None = None
    duration_seconds: float = 0.0
    notified: dict[str, Any] | None = None

    @property
    def status(self) -> CheckStatus:
        return worst(r.status for r in [*self.results, *self.smoke])

    def to_dict(self) -> dict[str, Any]:
        body = health_payload([*self.results, *self.smoke])
        body.update(
            kind=self.kind.value,
            api_url=self.api_url,
            health=[r.to_dict() for r in self.results],
            smoke=[r.to_dict() for r in self.smoke],
            duration_seconds=round(self.duration_seconds, 4),
            output=str(self.output) if self.output else None,
            notified=self.notified,
        )
        return body


def api_base_url(settings: Settings) -> str:
    """The running API: the setting, else what `chairside up` recorded, else host:port."""
    if settings.health_api_url:
        return settings.health_api_url.rstrip("/")
    try:
        state = json.loads((settings.run_dir / "api.json").read_text())
        return f"http://{state['host']}:{state['port']}"
    except (OSError, json.JSONDecodeError, KeyError):
        return f"http://{settings.host}:{settings.port}"


def run_health(
    settings: Settings,
    *,
    kind: HealthKind = HealthKind.ALL,
    output: Path | None = None,
    notify: bool = False,
) -> HealthRun:
    """Run the checks and/or the smoke test, write the status file, tell people if asked."""
    started = time.perf_counter()
    run = HealthRun(kind=kind, api_url=api_base_url(settings))
    if kind in (HealthKind.ALL, HealthKind.HEALTH):
        run.results = component_checks(settings, api_url=run.api_url)
    modes = ModeSwitch(settings).current()
    blocked = next((r for r in run.results if r.details.get("writes_blocked")), None)
    if kind is HealthKind.ALL and blocked is not None:
        # Its writes would wait with every other commit (sync mode, no receiver): say why
        # instead of hanging.
        run.smoke = [CheckResult("smoke", CheckStatus.CRITICAL, f"not run: {blocked.summary}")]
    elif kind is HealthKind.ALL and (modes.maintenance or modes.read_only):
        # The smoke test books and pays: a mode that refuses writes would fail it, and
        # it must not write while the mode promises nothing changes.
        mode = "maintenance" if modes.maintenance else "read-only"
        run.smoke = [CheckResult("smoke", CheckStatus.OK, f"skipped: {mode} mode is on (it books)")]
    elif kind in (HealthKind.ALL, HealthKind.SMOKE):
        smoke = run_smoke(settings, base_url=run.api_url)
        run.smoke = smoke.steps
        status_file.write_smoke_result(
            settings, smoke.steps, duration_seconds=smoke.duration_seconds
        )
    run.duration_seconds = time.perf_counter() - started
    run.output = output or status_file.default_status_file(settings)
    if notify:
        # Once per change: a check that turns bad, and its recovery; a check red every
        # 15 minutes pages once (ops/notify/changes.py).
        run.notified = notify_changes(
            settings,
            [
                Change(
                    key=f"health:{r.name}",
                    state=r.status.value,
                    line=f"{r.name}: {r.status.value}: {r.summary}",
                    labels={
                        "alertname": "ChairsideHealthCheck",
                        "check": r.name,
                        "severity": r.status.value,
                    },
                )
                for r in [*run.results, *run.smoke]
            ],
            title=f"Chairside health at {run.api_url}",
        )
    status_file.write_json(run.output, run.to_dict())
    _record(settings, run)
    return run


def _record(settings: Settings, run: HealthRun) -> None:
    # Smoke runs and bad results go on the ops timeline; routine "ok" runs would bury it.
    if run.status is CheckStatus.OK and not run.smoke:
        return
    bad = [r.name for r in [*run.results, *run.smoke] if r.status is not CheckStatus.OK]
    open_ops_store(settings).record(
        f"health.{run.kind.value}",
        f"health {run.status.value}" + (f": {', '.join(bad)}" if bad else ""),
        status=run.status.value,
        details={"output": str(run.output), "not_ok": bad, "notified": run.notified},
    )


def component_checks(settings: Settings, *, api_url: str) -> list[CheckResult]:
    """Every component check, run from outside the service process."""
    try:
        url = database_url(settings)
    except ChairsideError as exc:
        return [CheckResult("database", CheckStatus.CRITICAL, exc.message)]
    engine = make_engine(url, pool_size=1)
    redis_client = redis_for(settings)
    client = httpx.Client(base_url=api_url, timeout=3.0)
    try:
        probe = HealthProbe(
            settings,
            engine=engine,
            redis_client=redis_client,
            modes=ModeSwitch(settings),
            traffic_source=lambda: scrape_metrics(client),
            traffic_window=TrafficWindow(
                settings.health_window_seconds,
                path=status_file.health_dir(settings) / "traffic.json",
            ),
            backup_checks=lambda: check_backups(settings),
        )
        return [check_api(client), *probe.run(), *configured_topology_checks(settings)]
    finally:
        client.close()
        engine.dispose()
        if redis_client is not None:
            redis_client.close()


def check_api(client: httpx.Client) -> CheckResult:
    """The API answers ``/health``: critical when it does not."""
    url = str(client.build_request("GET", "/health").url)
    started = time.perf_counter()
    try:
        response = client.get("/health")
    except httpx.HTTPError as exc:
        return CheckResult(
            "api", CheckStatus.CRITICAL, f"{url} does not answer: {exc}", details={"url": url}
        )
    latency = round((time.perf_counter() - started) * 1000, 2)
    if response.status_code != 200:
        return CheckResult(
            "api",
            CheckStatus.CRITICAL,
            f"{url} answered {response.status_code}",
            latency,
            {"url": url},
        )
    return CheckResult("api", CheckStatus.OK, "answering", latency, {"url": url})


def metrics_url(client: httpx.Client) -> str:
    """The ``/metrics`` address of the API ``client`` talks to (one slash, whatever the base)."""
    return str(client.base_url).rstrip("/") + "/metrics"


def scrape_metrics(client: httpx.Client) -> Iterable[Metric]:
    """The running API's ``/metrics``, parsed."""
    try:
        response = client.get("/metrics")
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise DependencyDownError(
            f"cannot read {metrics_url(client)} ({exc}); is the API running?"
        ) from None
    return list(text_string_to_metric_families(response.text))
