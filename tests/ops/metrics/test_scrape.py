"""``/metrics`` of a running app, scraped for real: promtool lints it, and every metric a
rule or a dashboard reads is in it (a rule on a metric that does not exist fails here)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from chairside.api.app import create_app
from chairside.config import Settings
from chairside.ops.database import migrations
from chairside.ops.health.smoke import run_smoke
from chairside.ops.health.status_file import write_smoke_result
from chairside.ops.monitoring.dashboards import dashboards
from chairside.ops.monitoring.rules import alert_rules
from tests.booking.world import book, fast_settings, future_day, local, make_shop, pay, register
from tests.ops.backup.helpers import backup_env
from tests.ops.health.live import serve
from tests.ops.health.test_tls_certificates import tls_server
from tests.ops.monitoring.promql_names import metric_names
from tests.support.servers import ClusterFactory

# Made by Prometheus itself for every target, never by the target.
SYNTHETIC = {"up"}


def _sample_names(exposition: str) -> set[str]:
    return {
        sample.name
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


def _values(exposition: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == name
    }


def _used_metrics(settings: Settings) -> dict[str, set[str]]:
    used: dict[str, set[str]] = {}
    for rule in alert_rules(settings):
        for name in metric_names(rule.expr):
            used.setdefault(name, set()).add(f"rule {rule.name}")
    for file_name, board in dashboards(settings).items():
        for panel in board["panels"]:
            for target in panel["targets"]:
                for name in metric_names(target["expr"]):
                    used.setdefault(name, set()).add(f"{file_name}: {panel['title']}")
    return used


def test_the_promql_name_reader_sees_through_functions_and_labels() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (job, le) (rate(x_bucket{job="a",le=~"1|2"}[5m])))'
        " / on(job) group_left y_total > bool 2 and time() - z offset 5m"
    )
    assert metric_names(expr) == {"x_bucket", "y_total", "z"}


@pytest.mark.slow
def test_a_real_scrape_passes_promtool_and_has_every_metric_rules_and_dashboards_read(
    cluster_factory: ClusterFactory, redis_url: str | None, tmp_path: Path
) -> None:
    with backup_env(cluster_factory) as env:
        migrations.upgrade(url=env.cluster.url("postgres"))
        full = env.cli("backup", "full", "--json")
        assert full.returncode == 0, full.stdout + full.stderr
        env.switch_and_wait()
        validated = env.cli("backup", "validate", "--integrity-only", "--json")
        assert validated.returncode == 0, validated.stdout + validated.stderr
        with tls_server(tmp_path, days=90) as endpoint:
            settings = fast_settings(
                env.settings,
                redis_url=SecretStr(redis_url) if redis_url else None,
                health_tls_endpoints=[endpoint],
                # A configured reminder channel is exported (at 0) before any delivery.
                reminder_channels=SecretStr("email=json://127.0.0.1:9/hook?:to={email}"),
            )
            with serve(create_app(settings)) as url:
                smoke = run_smoke(settings, base_url=url)
                assert smoke.ok, smoke.steps
                write_smoke_result(settings, smoke.steps, duration_seconds=smoke.duration_seconds)
                detailed = httpx.get(f"{url}/health/detailed").json()
                exposition = httpx.get(f"{url}/metrics").text
    checks = {c["name"]: c for c in detailed["checks"]}
    assert checks["backup_age"]["status"] == "ok", checks["backup_age"]
    assert checks["wal_archive_lag"]["status"] == "ok", checks["wal_archive_lag"]

    lint = subprocess.run(
        ["promtool", "check", "metrics"], input=exposition, capture_output=True, text=True
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr

    exported = _sample_names(exposition)
    used = _used_metrics(settings)
    missing = {name: sorted(where) for name, where in used.items() if name not in exported}
    assert not missing.keys() - SYNTHETIC, (
        f"rules or dashboards read metrics nobody exports: {missing}"
    )

    assert _values(exposition, "chairside_backup_last_success_timestamp_seconds")[()] > 0
    assert _values(exposition, "chairside_backup_last_validation_success")[()] == 1
    assert _values(exposition, "chairside_smoke_success")[()] == 1
    health = _values(exposition, "chairside_health_status")
    assert health[(("check", "database"),)] == 0
    assert health[(("check", "replication"),)] == 0  # archive mode needs no receiver
    assert _values(exposition, "chairside_replication_writes_blocked")[()] == 0
    assert _values(exposition, "chairside_wal_rpo_bytes")[()] >= 0
    assert health[(("check", f"tls:{endpoint}"),)] == 1  # self-signed: a warning
    expiry = _values(exposition, "chairside_tls_certificate_expiry_timestamp_seconds")
    assert len(expiry) == 1
    deliveries = _values(exposition, "chairside_reminder_deliveries_total")
    assert deliveries[(("channel", "email"), ("outcome", "failed"))] == 0


def test_canary_traffic_stays_out_of_business_metrics(settings: Settings) -> None:
    with serve(create_app(fast_settings(settings))) as url, httpx.Client(base_url=url) as client:
        shop = make_shop(client)  # type: ignore[arg-type]
        alice = register(client)  # type: ignore[arg-type]
        created = book(client, alice, shop, local(future_day(5), "10:00"))  # type: ignore[arg-type]
        assert created.status_code == 201, created.text
        taken = book(client, alice, shop, local(future_day(5), "10:00"))  # type: ignore[arg-type]
        assert taken.status_code == 409
        assert pay(client, alice, created.json()["id"]).status_code == 200  # type: ignore[arg-type]
        smoke = run_smoke(settings, base_url=url)
        assert smoke.ok, [s.summary for s in smoke.steps]
        exposition = client.get("/metrics").text
    attempts = _values(exposition, "chairside_booking_attempts_total")
    assert attempts[(("outcome", "created"),)] == 1  # the canary's booking is not counted
    assert attempts[(("outcome", "conflict"),)] == 1
    payments = _values(exposition, "chairside_payment_attempts_total")
    assert payments[(("outcome", "succeeded"),)] == 1
    bookings = _values(exposition, "chairside_bookings")
    assert bookings[(("status", "confirmed"),)] == 1
    assert bookings[(("status", "cancelled"),)] == 0  # the canary cancelled; it is gone
    assert _values(exposition, "chairside_refunds")[()] == 0
    assert _values(exposition, "chairside_payments")[(("status", "succeeded"),)] == 1
