"""Export: crontab lines that parse, systemd timers whose OnCalendar= fires with cron."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime

import pytest
from croniter import croniter

from chairside.config import load_settings
from chairside.ops.schedule.export import (
    CalendarTranslationError,
    export_crontab,
    export_systemd,
    on_calendar,
)
from chairside.ops.schedule.jobs import Job, default_jobs

JOBS = default_jobs(load_settings(dr_repositories="s3://dr-bucket/chairside"))


def test_every_crontab_line_is_a_valid_cron_entry_running_one_job_pass() -> None:
    export = export_crontab(JOBS, executable="/opt/chairside/bin/chairside")
    (crontab,) = export.files
    entries = [
        line
        for line in crontab.text.splitlines()
        if line and not line.startswith("#") and "=" not in line.split()[0]
    ]
    assert len(entries) == len(JOBS)
    for job, line in zip(JOBS, entries, strict=True):
        fields = line.split()
        assert croniter.is_valid(" ".join(fields[:5])), line
        assert " ".join(fields[:5]) == job.cadence
        assert fields[5:] == [
            "/opt/chairside/bin/chairside",
            "schedule",
            "run",
            "--once",
            "--job",
            job.name,
        ]
    assert not any("flock" in line for line in entries)
    assert "CRON_TZ=UTC" in crontab.text.splitlines()


@pytest.mark.parametrize(
    ("cadence", "calendar"),
    [
        ("*/15 * * * *", "*-*-* *:00/15:00 UTC"),
        ("5 * * * *", "*-*-* *:05:00 UTC"),
        ("0 2 * * 0", "Sun *-*-* 02:00:00 UTC"),
        ("0 5 1 * *", "*-*-01 05:00:00 UTC"),
        ("30 8 * * 1-5", "Mon..Fri *-*-* 08:30:00 UTC"),
        ("0 0 * * 0-2", "Sun,Mon..Tue *-*-* 00:00:00 UTC"),
        ("0,30 9-17 * 1,7 *", "*-01,07-* 09..17:00,30:00 UTC"),
        ("@daily", "*-*-* 00:00:00 UTC"),
    ],
)
def test_cron_expressions_translate_to_the_matching_on_calendar(
    cadence: str, calendar: str
) -> None:
    assert on_calendar(cadence) == calendar


@pytest.mark.parametrize(
    ("cadence", "reason"),
    [
        ("0 0 1 * 1", "both day of month and weekday"),
        ("0-30/10 * * * *", "steps over a range"),
        ("0 0 * * */2", "weekday field '\\*/2' has a step"),
        ("0 0 L * *", "'L' in the day of month field"),
        ("0 0 0 * * *", "has 6 fields"),
    ],
)
def test_what_on_calendar_cannot_express_is_refused_saying_why(cadence: str, reason: str) -> None:
    with pytest.raises(CalendarTranslationError, match=reason):
        on_calendar(cadence)


def test_a_job_on_calendar_cannot_express_is_left_out_of_the_systemd_export_and_named() -> None:
    either = Job("either-or", "0 0 1 * 1", ("status",), 60)
    fine = Job("fine", "0 3 * * *", ("status",), 60)
    export = export_systemd((either, fine), executable="chairside")
    assert [f.name for f in export.files] == ["chairside-fine.service", "chairside-fine.timer"]
    assert "either-or" in export.skipped
    assert "day of month and weekday" in export.skipped["either-or"]


def test_each_timer_starts_its_service_which_runs_one_pass_of_its_job() -> None:
    export = export_systemd(JOBS, executable="/usr/bin/chairside", environment_file="/etc/cs.env")
    files = {f.name: f.text for f in export.files}
    assert export.skipped == {}
    assert len(files) == 2 * len(JOBS)
    for job in JOBS:
        service = files[f"chairside-{job.name}.service"]
        timer = files[f"chairside-{job.name}.timer"]
        assert f"ExecStart=/usr/bin/chairside schedule run --once --job {job.name}\n" in service
        assert "EnvironmentFile=-/etc/cs.env" in service
        assert f"Unit=chairside-{job.name}.service" in timer
        assert f"OnCalendar={on_calendar(job.cadence)}\n" in timer


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze missing")
@pytest.mark.parametrize("job", JOBS, ids=lambda job: job.name)
def test_systemd_fires_each_default_timer_when_cron_would(job: Job) -> None:
    calendar = on_calendar(job.cadence)
    check = subprocess.run(
        ["systemd-analyze", "calendar", "--iterations=5", calendar],
        capture_output=True,
        text=True,
        check=True,
        env={"TZ": "UTC", "PATH": "/usr/bin:/bin"},
    )
    now = datetime.now(UTC)
    elapses = [
        datetime.strptime(line.split(":", 1)[1].strip()[4:23], "%Y-%m-%d %H:%M:%S")
        for line in check.stdout.splitlines()
        if line.strip().startswith(("Next elapse:", "Iter. #"))
    ]
    cron = croniter(job.cadence, now)
    expected = [cron.get_next(datetime).replace(tzinfo=None) for _ in range(5)]
    assert elapses == expected
