"""The job table: what the ops schedule runs, how often, and for how long at most.

The runbooks' maintenance schedules (daily, weekly, monthly) as data. Each job is a
chairside command (its argv after ``chairside``), a cron expression evaluated in UTC, and
a timeout after which the job's whole process group is killed. Heavy jobs are spread over
the quiet early-morning hours so that they do not fight over the backup locks they take.

``backup sync`` is in the table once per DR repository (``CHAIRSIDE_DR_REPOSITORIES``),
and only when one is configured.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from croniter import croniter

from chairside.config import Settings
from chairside.errors import InputError

MINUTE = 60
HOUR = 60 * MINUTE


@dataclass(frozen=True)
class Job:
    """One scheduled job: a name, a cron cadence (UTC), a command and a timeout."""

    name: str
    cadence: str
    argv: tuple[str, ...]
    timeout_seconds: float
    description: str = ""
    # Jobs sharing a group never run at the same time: those of "repository" take the
    # backup repository's locks, and a prune refused because a full backup holds them
    # would only be a failed run.
    group: str | None = None
    # False: ``argv`` is a whole command line of its own rather than chairside arguments
    # (tests use it for commands that sleep or crash; the default table never does).
    chairside: bool = field(default=True)
    # True: the job changes application data, so it waits while maintenance or
    # read-only mode is on (ops/schedule/pause.py).
    writes: bool = False
    # False: the job tells people itself (health notifies per check), so a failed exit
    # is not a failure to report; a timeout or a crash still is.
    notify_on_failure: bool = True

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("-", "").isalnum():
            raise InputError(
                f"job name {self.name!r} may use letters, digits and '-' only", field="name"
            )
        if not croniter.is_valid(self.cadence):
            raise InputError(
                f"job {self.name!r} has cadence {self.cadence!r}, which is not a cron "
                "expression; expected five fields 'minute hour day month weekday' "
                "(e.g. '*/15 * * * *')",
                field="cadence",
            )
        if self.timeout_seconds <= 0:
            raise InputError(
                f"job {self.name!r} has timeout {self.timeout_seconds}; it must be above 0",
                field="timeout_seconds",
            )
        if not self.argv:
            raise InputError(f"job {self.name!r} has no command", field="argv")

    @property
    def event_kind(self) -> str:
        """The ops event kind its runs are recorded under."""
        return f"schedule.{self.name}"

    def command_line(self) -> list[str]:
        """The argv the scheduler starts: this Python running chairside, plus the job's args."""
        if not self.chairside:
            return list(self.argv)
        return [*chairside_command(), *self.argv]


def chairside_command() -> list[str]:
    """How to start the chairside CLI of this installation, as a subprocess."""
    return [sys.executable, "-m", "chairside"]


def chairside_executable() -> str:
    """The installed ``chairside`` console script next to this Python, for cron and systemd."""
    script = Path(sys.executable).parent / "chairside"
    return str(script) if script.exists() else f"{sys.executable} -m chairside"


def default_jobs(settings: Settings) -> tuple[Job, ...]:
    """The production schedule, from the runbooks and the commands that exist."""
    jobs = [
        Job(
            "health",
            "*/15 * * * *",
            ("health", "--notify"),
            5 * MINUTE,
            "Health checks and the booking smoke test every 15 minutes; notifies on changes.",
            notify_on_failure=False,
        ),
        Job(
            "expire-holds",
            "*/5 * * * *",
            ("bookings", "expire-holds"),
            2 * MINUTE,
            "Expire pending_payment bookings whose hold ran out, freeing their slots.",
            writes=True,
        ),
        Job(
            "backup-incremental",
            "5 * * * *",
            ("backup", "incremental"),
            20 * MINUTE,
            "Switch WAL and confirm it reached the repository (hourly RPO).",
            group="repository",
        ),
        Job(
            "backup-full",
            "0 1 * * 0",
            ("backup", "full"),
            4 * HOUR,
            "Weekly physical base backup, Sunday 01:00.",
            group="repository",
        ),
        Job(
            "maintenance-logs",
            "30 0 * * *",
            ("maintenance", "logs"),
            30 * MINUTE,
            "Daily log rotation.",
            group="maintenance",
        ),
        Job(
            "maintenance-full",
            "0 2 * * 0",
            ("maintenance", "full"),
            2 * HOUR,
            "Weekly maintenance (vacuum, reindex, logs, leftovers, review), Sunday 02:00.",
            group="maintenance",
            writes=True,
        ),
        Job(
            "backup-prune",
            "30 3 * * *",
            ("backup", "prune", "--yes"),
            HOUR,
            "Daily retention: delete backups and WAL the policy no longer needs.",
            group="repository",
        ),
        Job(
            "backup-validate",
            "0 4 * * *",
            ("backup", "validate"),
            2 * HOUR,
            "Daily validation of every backup.",
            group="repository",
        ),
        Job(
            "privacy-retention",
            "45 3 * * *",
            ("privacy", "retention"),
            HOUR,
            "Daily: anonymise clients inactive for CHAIRSIDE_PRIVACY_INACTIVE_MONTHS.",
            writes=True,
        ),
        Job(
            "security-audit",
            "0 6 * * 1",
            ("security", "audit", "full"),
            HOUR,
            "Weekly security audit and dependency vulnerability scan, Monday 06:00.",
        ),
        Job(
            "drill",
            "0 5 1 * *",
            ("drill",),
            settings.drill_timeout_seconds + HOUR,
            "Monthly disaster-recovery drill: restore to scratch, check, RTO/RPO.",
            group="repository",
        ),
        Job(
            "reminders",
            "* * * * *",
            ("reminders", "run"),
            10 * MINUTE,
            "Deliver the booking reminders due now (docs/web.md#reminders); every minute.",
            writes=True,
        ),
    ]
    jobs.extend(_sync_jobs(settings))
    return tuple(jobs)


def _sync_jobs(settings: Settings) -> list[Job]:
    targets = [url.strip() for url in settings.dr_repositories.split(",") if url.strip()]
    return [
        Job(
            "backup-sync" if len(targets) == 1 else f"backup-sync-{number}",
            "20 * * * *",
            ("backup", "sync", "incremental", "--to", target, "--yes"),
            HOUR,
            f"Hourly copy of new backups and WAL to the DR repository {number}.",
            group="repository",
        )
        for number, target in enumerate(targets, start=1)
    ]


def find_job(jobs: Sequence[Job], name: str) -> Job:
    """The job called ``name``, or an error listing the names there are."""
    for job in jobs:
        if job.name == name:
            return job
    names = ", ".join(job.name for job in jobs)
    raise InputError(f"no scheduled job is called {name!r}; the jobs are: {names}", field="job")
