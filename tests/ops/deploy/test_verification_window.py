"""Deploy verification judges the new version's own traffic, never the 503s of its
maintenance window; a rollback's finish leaves the site serving (issue 15, point 1)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx

from chairside.config import Settings
from chairside.ops.deploy.service import installed_version
from tests.cli.conftest import Run

Cli = Callable[..., Run]
VERSION = installed_version()
BROWSE = "/api/v1/search/providers?service=haircut&radius_km=5&lat=52.52&lon=13.40"


def _browse(url: str, count: int) -> list[int]:
    with httpx.Client(base_url=url, timeout=5) as client:
        return [client.get(BROWSE).status_code for _ in range(count)]


def _checks(body: dict[str, object]) -> dict[str, dict[str, object]]:
    return {c["name"]: c for c in body["checks"]}  # type: ignore[attr-defined,index]


def test_the_503s_of_the_maintenance_window_do_not_fail_the_deployment(
    cli: Cli, settings: Settings, env: dict[str, str], live_url: str
) -> None:
    started = cli("deploy", "start", "--version", VERSION, "--skip-backup", "--force",
                  "--json", env=env)  # fmt: skip
    assert started.exit_code == 0, started.stdout
    # Clients keep browsing through the window: every one of these is a 503.
    assert set(_browse(live_url, 60)) == {503}
    metrics = httpx.get(f"{live_url}/metrics", timeout=5).text
    assert 'route="(mode)",status="503"' in metrics

    finished = cli("deploy", "finish", "--json", env=env)
    assert finished.exit_code == 0, finished.stdout
    body = finished.json()
    assert body["deploy"]["state"] == "finished"
    assert body["deploy"]["serving_since"] is not None
    error_rate = _checks(body)["error_rate"]
    assert error_rate["status"] == "ok"
    assert "since the new version began serving" in str(error_rate["summary"])

    # What the new version serves afterwards is what `deploy verify` judges.
    assert set(_browse(live_url, 30)) == {200}
    verified = cli("deploy", "verify", "--json", env=env)
    assert verified.exit_code in (0, 1), verified.stdout  # warnings (no backup) allowed
    judged = _checks(verified.json())["error_rate"]
    assert judged["status"] == "ok"
    details = judged["details"]
    assert isinstance(details, dict)
    assert details["requests"] >= 30 and details["errors"] == 0
    assert details["window"] == "new_version"


def test_a_rollback_ends_serving_and_the_next_deployment_is_judged_clean(
    cli: Cli, settings: Settings, env: dict[str, str], live_url: str, home: Path
) -> None:
    cli("deploy", "start", "--version", VERSION, "--skip-backup", "--force", "--json", env=env)
    assert set(_browse(live_url, 25)) == {503}
    rolled = cli("deploy", "rollback", "trying it out", "--yes", "--json", env=env)
    assert rolled.exit_code == 0, rolled.stdout
    assert json.loads((home / "modes.json").read_text())["owner"] == "deploy"
    assert set(_browse(live_url, 25)) == {503}

    # The rollback's second half: the previous version back in service.
    back = cli("deploy", "finish", "--json", env=env)
    assert back.exit_code == 0, back.stdout
    assert back.json()["deploy"]["maintenance_was_on"] is False
    assert json.loads((home / "modes.json").read_text())["maintenance"] is False
    assert set(_browse(live_url, 5)) == {200}

    # And a deployment started after it is not trapped in maintenance either.
    again = cli("deploy", "start", "--version", VERSION, "--skip-backup", "--force",
                "--json", env=env)  # fmt: skip
    assert again.exit_code == 0, again.stdout
    assert again.json()["deploy"]["maintenance_was_on"] is False
    done = cli("deploy", "finish", "--json", env=env)
    assert done.exit_code == 0, done.stdout
    assert json.loads((home / "modes.json").read_text())["maintenance"] is False
