"""Modes that compose with the schedule (issue 15, point 6): `maintenance-mode off` clears
what `on` set, writing jobs wait out read-only and maintenance mode, `schedule pause`
holds every job, and each switch is on the timeline."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from chairside.cli.main import app
from chairside.config import Settings, get_settings
from chairside.ops.deploy.modes import ModeSwitch, switch_modes
from chairside.ops.schedule.jobs import Job, default_jobs
from chairside.ops.schedule.leader import leader_lock
from chairside.ops.schedule.scheduler import Scheduler
from chairside.ops.timeline.store import open_ops_store

WRITER = Job("writer", "*/5 * * * *", ("true",), 30, writes=True, chairside=False)
READER = Job("reader", "*/5 * * * *", ("true",), 30, chairside=False)


def _scheduler(settings: Settings) -> Scheduler:
    return Scheduler(
        (WRITER, READER),
        settings=settings,
        store=open_ops_store(settings),
        lock=leader_lock(settings),
        clock=lambda: datetime.now(UTC),
    )


def _cli(settings: Settings, *args: str) -> tuple[int, dict[str, Any]]:
    assert settings.database_url is not None
    env = {
        "CHAIRSIDE_HOME": str(settings.home),
        "DATABASE_URL": settings.database_url.get_secret_value(),
    }
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, [*args, "--json"], env=env, catch_exceptions=False)
    finally:
        get_settings.cache_clear()
    return result.exit_code, json.loads(result.stdout)


def test_maintenance_mode_off_clears_read_only_too_and_both_are_on_the_timeline(
    settings: Settings,
) -> None:
    assert _cli(settings, "maintenance-mode", "on", "--read-only", "--reason", "db move")[0] == 0
    code, state = _cli(settings, "maintenance-mode", "on")
    assert code == 0 and state["maintenance"] and state["read_only"]
    code, state = _cli(settings, "maintenance-mode", "off")
    assert code == 0
    assert state["maintenance"] is False and state["read_only"] is False
    events = open_ops_store(settings).recent(kind_prefix="modes.")
    assert [e.kind for e in reversed(events)] == ["modes.on", "modes.on", "modes.off"]
    assert "read-only mode on: db move" in events[-1].summary
    # `off --read-only` leaves maintenance as it is.
    switch_modes(settings, on=True)
    switch_modes(settings, on=True, read_only=True)
    state_after = switch_modes(settings, on=False, read_only=True)
    assert state_after.maintenance is True and state_after.read_only is False


def test_writing_jobs_wait_out_read_only_and_maintenance_mode_then_run_once(
    settings: Settings,
) -> None:
    assert next(j for j in default_jobs(settings) if j.name == "expire-holds").writes
    for mode in ({"read_only": True}, {"maintenance": True}):
        ModeSwitch(settings).switch(**mode)  # type: ignore[arg-type]
        held = _scheduler(settings).run_once()
        assert "writer" in held.held and "mode is on" in held.held["writer"]
        assert "writer" not in [run.job for run in held.runs]
        switch_modes(settings, on=False)
    ran = _scheduler(settings).run_once()
    assert [run.job for run in ran.runs] == ["writer"]  # the reader ran already
    assert ran.held == {}


def test_schedule_pause_holds_every_job_until_resume(settings: Settings, tmp_path: Path) -> None:
    code, paused = _cli(settings, "schedule", "pause", "--reason", "restore rehearsal")
    assert code == 0 and paused["paused"] is True
    held = _scheduler(settings).run_once()
    assert held.runs == [] and set(held.held) == {"writer", "reader"}
    code, listed = _cli(settings, "schedule", "list")
    assert listed["paused"]["reason"] == "restore rehearsal"
    assert all("paused" in (job["held"] or "") for job in listed["jobs"] if job["due"])
    assert _cli(settings, "schedule", "resume")[0] == 0
    ran = _scheduler(settings).run_once()
    assert sorted(run.job for run in ran.runs) == ["reader", "writer"]
    kinds = [e.kind for e in open_ops_store(settings).recent(kind_prefix="schedule.")]
    assert "schedule.paused" in kinds and "schedule.resumed" in kinds
