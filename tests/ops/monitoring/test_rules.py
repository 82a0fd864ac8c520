"""The rendered Prometheus and Alertmanager files, checked by the real promtool and amtool."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from chairside.config import Settings, load_settings
from chairside.ops.monitoring.render import alert_names, render_monitoring
from tests.ops.monitoring.rule_cases import CASES, promtool_tests


@pytest.fixture
def plain_settings(tmp_path: Path) -> Settings:
    return load_settings(env="test", home=tmp_path / "home", database_url="postgresql://x@h/db")


@pytest.fixture
def rendered(tmp_path: Path, plain_settings: Settings) -> Path:
    out = tmp_path / "monitoring"
    render_monitoring(plain_settings, out=out)
    return out


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)


def test_promtool_accepts_the_rules_and_the_prometheus_config(rendered: Path) -> None:
    rules = _run("promtool", "check", "rules", str(rendered / "rules/chairside.rules.yml"))
    assert rules.returncode == 0, rules.stdout + rules.stderr
    config = _run("promtool", "check", "config", str(rendered / "prometheus.yml"))
    assert config.returncode == 0, config.stdout + config.stderr


def test_every_alert_fires_at_its_threshold_and_not_below(
    rendered: Path, plain_settings: Settings
) -> None:
    assert sorted(c.alert for c in CASES) == sorted(alert_names(plain_settings)), (
        "every alert needs a promtool case in tests/ops/monitoring/rule_cases.py"
    )
    # Annotations hold humanized $value templates; promtool compares them verbatim, so
    # the unit tests run on a copy without them (promtool check rules validated them).
    rule_file = rendered / "rules/chairside.rules.yml"
    data = yaml.safe_load(rule_file.read_text())
    for group in data["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    bare = rendered / "rules/bare.rules.yml"
    bare.write_text(yaml.safe_dump(data))
    tests = rendered / "rules/chairside.test.yml"
    tests.write_text(yaml.safe_dump(promtool_tests("bare.rules.yml"), sort_keys=False))
    result = _run("promtool", "test", "rules", str(tests))
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


def test_a_rule_that_fired_below_its_threshold_would_be_caught(
    rendered: Path, tmp_path: Path
) -> None:
    # The fixtures must be able to fail: lower the disk threshold and promtool objects.
    rule_file = rendered / "rules/chairside.rules.yml"
    data = yaml.safe_load(rule_file.read_text())
    for rule in data["groups"][0]["rules"]:
        rule.pop("annotations", None)
        if rule["alert"] == "ChairsideDiskUsageCritical":
            rule["expr"] = rule["expr"].replace("> 0.85", "> 0.8")
    (rendered / "rules/bare.rules.yml").write_text(yaml.safe_dump(data))
    tests = rendered / "rules/chairside.test.yml"
    tests.write_text(yaml.safe_dump(promtool_tests("bare.rules.yml"), sort_keys=False))
    result = _run("promtool", "test", "rules", str(tests))
    assert result.returncode != 0
    assert "ChairsideDiskUsageCritical" in result.stdout + result.stderr


def test_amtool_accepts_the_alertmanager_config_with_every_receiver_configured(
    tmp_path: Path,
) -> None:
    settings = load_settings(
        env="test",
        home=tmp_path / "home",
        alert_pagerduty_routing_key="0123456789abcdef0123456789abcdef",
        alert_slack_webhook_url="https://hooks.slack.invalid/services/T/B/X",
        alert_email_to="tickets@example.com",
        alert_webhook_url="http://127.0.0.1:9/hook",
    )
    out = tmp_path / "am"
    render_monitoring(settings, out=out)
    result = _run("amtool", "check-config", str(out / "alertmanager.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 receivers" in result.stdout
    assert (out / "alertmanager.yml").stat().st_mode & 0o077 == 0


def test_amtool_accepts_the_alertmanager_config_with_no_receiver_configured(
    rendered: Path,
) -> None:
    result = _run("amtool", "check-config", str(rendered / "alertmanager.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_critical_alerts_page_and_warnings_are_inhibited_by_criticals(rendered: Path) -> None:
    result = _run(
        "amtool",
        "config",
        "routes",
        "test",
        "--config.file",
        str(rendered / "alertmanager.yml"),
        "--verify.receivers=pager,chat",
        "severity=critical",
        "priority=P1",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    info = _run(
        "amtool",
        "config",
        "routes",
        "test",
        "--config.file",
        str(rendered / "alertmanager.yml"),
        "severity=info",
    )
    assert info.stdout.strip() == "ticket"
    config = yaml.safe_load((rendered / "alertmanager.yml").read_text())
    inhibit = config["inhibit_rules"][0]
    assert inhibit["source_matchers"] == ['severity="critical"']
    assert "component" in inhibit["equal"]


def test_the_thresholds_follow_the_settings(tmp_path: Path) -> None:
    settings = load_settings(env="test", home=tmp_path / "h", health_disk_critical_percent=70)
    out = tmp_path / "out"
    render_monitoring(settings, out=out)
    rules = yaml.safe_load((out / "rules/chairside.rules.yml").read_text())["groups"][0]["rules"]
    disk = next(r for r in rules if r["alert"] == "ChairsideDiskUsageCritical")
    assert disk["expr"].endswith("> 0.7")


def test_alerts_and_incidents_share_one_severity_scale(rendered: Path) -> None:
    from chairside.ops.incidents.severity import LEVELS, parse_severity

    rules = yaml.safe_load((rendered / "rules/chairside.rules.yml").read_text())
    alerts = {r["alert"]: r for group in rules["groups"] for r in group["rules"] if "alert" in r}
    for name, rule in alerts.items():
        level = LEVELS[rule["labels"]["priority"]]  # an incident could be opened at it
        assert rule["labels"]["severity"] == level.alert_severity, name
    # A complete outage is P1 for an alert and for an incident; the runbook's P0 is P1.
    assert alerts["ChairsideInstanceDown"]["labels"]["priority"] == "P1"
    assert parse_severity("P1").response_target_seconds == 5 * 60
    assert "P0" in LEVELS["P1"].bookedbarber


def test_the_error_rate_alert_and_the_health_check_judge_the_same_window_alike(
    tmp_path: Path,
) -> None:
    from chairside.ops.health.traffic import TrafficDelta, check_error_rate

    settings = load_settings(
        env="test", home=tmp_path / "home", database_url="postgresql://x@h/db",
        health_window_seconds=120, health_error_rate_percent=5,
    )  # fmt: skip
    out = tmp_path / "monitoring"
    render_monitoring(settings, out=out)
    rules = yaml.safe_load((out / "rules/chairside.rules.yml").read_text())
    alerts = {r["alert"]: r for group in rules["groups"] for r in group["rules"] if "alert" in r}
    assert alerts["ChairsideHighErrorRate"]["expr"].count("[120s]") == 2
    assert "[120s]" in alerts["ChairsideHighLatencyP95"]["expr"]
    # 5.004 % is above 5 % for PromQL's `> 0.05`, and so for the health check too.
    just_over = TrafficDelta(seconds=120, requests=10_000, errors=500.4, p95_seconds=None)
    assert check_error_rate(just_over, critical_percent=5, min_requests=20).status.value == (
        "critical"
    )
