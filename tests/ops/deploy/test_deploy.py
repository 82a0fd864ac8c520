"""``chairside deploy``: a deployment and a rollback against a live API and a real
database, and every guard that refuses one."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import inspect

from chairside.config import Settings
from chairside.db import make_engine
from chairside.ops.backup import access
from chairside.ops.database import migrations
from chairside.ops.deploy.record import DeployRecord
from chairside.ops.deploy.service import installed_version, latency_against_baseline, start_deploy
from chairside.ops.incidents import service as incidents
from chairside.ops.timeline.store import open_ops_store
from tests.cli.conftest import Run
from tests.ops.backup.helpers import backup_env
from tests.support.servers import ClusterFactory

Cli = Callable[..., Run]
VERSION = installed_version()
FIRST = "0001"


def _url(settings: Settings) -> str:
    assert settings.database_url is not None
    return settings.database_url.get_secret_value()


def _tables(settings: Settings) -> set[str]:
    engine = make_engine(_url(settings), pool_size=1)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _modes(home: Path) -> dict[str, object]:
    return json.loads((home / "modes.json").read_text())  # type: ignore[no-any-return]


def _revision(name: str) -> str:
    (found,) = [r.revision for r in migrations.history(url=None) if r.revision.startswith(name)]
    return found


def test_a_deployment_migrates_serves_verifies_and_rolls_back_to_the_old_schema(
    cli: Cli, settings: Settings, env: dict[str, str], live_url: str, home: Path
) -> None:
    # The database is as the previous version left it: one migration behind.
    migrations.downgrade(url=_url(settings), revision=_revision(FIRST))
    assert "bookings" not in _tables(settings)
    started = cli(
        "deploy", "start", "--version", VERSION, "--reason", "bookings schema",
        "--skip-backup", "--force", "--json", env=env,
    )  # fmt: skip
    assert started.exit_code == 0, started.stdout
    record = started.json()["deploy"]
    assert record["revision_before"] == _revision(FIRST)
    assert [s["step"] for s in record["steps"]] == ["forced", "maintenance_on"]
    assert _modes(home)["maintenance"] is True
    assert httpx.get(f"{live_url}/api/v1/search/providers", timeout=5).status_code == 503

    finished = cli("deploy", "finish", "--json", env=env)
    assert finished.exit_code == 0, finished.stdout
    body = finished.json()
    assert body["deploy"]["state"] == "finished"
    assert body["deploy"]["revision_after"] == migrations.head_revision()
    assert "bookings" in _tables(settings)
    checks = {c["name"]: c["status"] for c in body["checks"]}
    for step in ("register", "book", "pay", "cancel", "refund", "cleanup"):
        assert checks[step] == "ok", body["checks"]
    assert _modes(home)["maintenance"] is False

    refused = cli("deploy", "rollback", "smoke slower than before", "--json", env=env)
    assert refused.exit_code == 3  # no --yes off a terminal
    assert "bookings" in _tables(settings)
    rolled = cli("deploy", "rollback", "smoke slower than before", "--yes", "--json", env=env)
    assert rolled.exit_code == 0, rolled.stdout
    assert rolled.json()["downgrade"] is True
    assert "bookings" not in _tables(settings)
    assert migrations.current_revision(url=_url(settings)) == _revision(FIRST)
    assert _modes(home)["maintenance"] is True
    assert f"install Chairside {VERSION}" in rolled.json()["next_step"]
    kinds = [e.kind for e in open_ops_store(settings).recent(kind_prefix="deploy.")]
    assert kinds == ["deploy.rolled_back", "deploy.finished", "deploy.started"]
    again = cli("deploy", "rollback", "twice", "--yes", "--json", env=env)
    assert again.exit_code == 2
    assert "itself a rollback" in again.json()["error"]["message"]


def test_an_open_p1_incident_refuses_a_deployment_and_changes_nothing(
    cli: Cli, settings: Settings, env: dict[str, str], home: Path
) -> None:
    incidents.open_incident(settings, severity="P1", title="payments failing")
    guard = cli("deploy", "guard", "--json", env=env)
    assert guard.exit_code == 2
    incident_check = {c["name"]: c for c in guard.json()["checks"]}["incidents"]
    assert "P1 'payments failing'" in incident_check["summary"]
    refused = cli("deploy", "start", "--version", VERSION, "--json", env=env)
    assert refused.exit_code == 3
    assert "incidents" in refused.json()["error"]["message"]
    assert not (home / "modes.json").exists()
    assert not (home / "deploy" / "current.json").exists()
    assert open_ops_store(settings).recent(kind_prefix="deploy.") == []


def test_a_second_deployment_is_refused_while_one_is_in_progress_even_forced(
    cli: Cli, settings: Settings, env: dict[str, str]
) -> None:
    first = cli(
        "deploy", "start", "--version", VERSION, "--skip-backup", "--force", "--json", env=env
    )
    assert first.exit_code == 0, first.stdout
    second = cli(
        "deploy", "start", "--version", "9.9.9", "--skip-backup", "--force", "--json", env=env
    )
    assert second.exit_code == 3
    assert first.json()["deploy"]["id"] in second.json()["error"]["message"]


def test_finish_refuses_while_the_new_version_is_not_installed(
    cli: Cli, settings: Settings, env: dict[str, str], home: Path
) -> None:
    cli("deploy", "start", "--version", "9.9.9", "--skip-backup", "--force", "--json", env=env)
    refused = cli("deploy", "finish", "--json", env=env)
    assert refused.exit_code == 3
    assert f"installed Chairside is {VERSION}" in refused.json()["error"]["message"]
    assert _modes(home)["maintenance"] is True  # still safely in maintenance
    assert (home / "deploy" / "current.json").exists()


def test_a_failed_backup_does_not_start_the_deployment(
    cli: Cli, settings: Settings, env: dict[str, str], home: Path, tmp_path: Path
) -> None:
    not_a_directory = tmp_path / "repo-is-a-file"
    not_a_directory.write_text("oops")
    run = cli(
        "deploy", "start", "--version", VERSION, "--force", "--json",
        env={**env, "CHAIRSIDE_BACKUP_REPOSITORY": str(not_a_directory)},
    )  # fmt: skip
    assert run.exit_code == 2, run.stdout
    assert "is a file, not a directory" in run.json()["error"]["message"]
    assert not (home / "modes.json").exists()
    assert not (home / "deploy" / "current.json").exists()
    last = json.loads((home / "deploy" / "last.json").read_text())
    assert last["state"] == "failed"
    (event,) = open_ops_store(settings).recent(kind_prefix="deploy.")
    assert event.kind == "deploy.failed"


def test_a_rollback_dry_run_and_nothing_to_roll_back(
    cli: Cli, settings: Settings, env: dict[str, str], home: Path
) -> None:
    nothing = cli("deploy", "rollback", "why not", "--yes", "--json", env=env)
    assert nothing.exit_code == 2
    assert "no deployment to roll back" in nothing.json()["error"]["message"]
    cli("deploy", "start", "--version", VERSION, "--skip-backup", "--force", "--json", env=env)
    dry = cli("deploy", "rollback", "just looking", "--dry-run", "--json", env=env)
    assert dry.exit_code == 0
    assert dry.json()["dry_run"] is True
    assert dry.json()["downgrade"] is False
    assert json.loads((home / "deploy" / "current.json").read_text())["state"] == "started"


@pytest.mark.parametrize(
    ("p95", "baseline", "status"),
    [(0.25, 0.1, "critical"), (0.15, 0.1, "ok"), (0.25, None, "ok"), (None, 0.1, "ok")],
)
def test_verification_is_critical_when_p95_is_over_twice_the_baseline(
    p95: float | None, baseline: float | None, status: str
) -> None:
    record = DeployRecord(
        id="x", version="2", version_before="1", reason=None, started_at="", started_by="",
        revision_before=None, backup_id=None, baseline_p95_seconds=baseline,
        maintenance_was_on=False,
    )  # fmt: skip
    assert latency_against_baseline(p95, record).status.value == status


def test_start_takes_a_full_backup_before_maintenance_mode(cluster_factory: ClusterFactory) -> None:
    with backup_env(cluster_factory) as env:
        migrations.upgrade(url=env.cluster.url("postgres"))
        outcome = start_deploy(env.settings, version=VERSION, force=True)  # no API running
        record = outcome.record
        assert [s["step"] for s in record.steps] == ["forced", "backup", "maintenance_on"]
        assert record.backup_id is not None
        manifest = access.catalog(env.settings).read_manifest(record.backup_id)
        assert manifest.id == record.backup_id
        assert "api" in record.critical_before
        assert "backup_age" in record.critical_before  # there was none: excused, not refused
