"""The job table for cron or systemd, for hosts that schedule with those instead.

Every entry runs ``chairside schedule run --once --job NAME``: the scheduler pass takes
the leader lock, checks the job is due, applies its timeout and records the run, so the
entries need no ``flock`` of their own. Because a pass runs a job only when one of its
slots fell since its last start, a daemon firing in local time rather than UTC still
runs each job once per period.

systemd's ``OnCalendar=`` cannot say everything cron can. What it cannot (a step over a
range, steps on weekdays, cron's "day of month OR weekday" when both are set, seconds,
``L``/``W``/``#``) raises :class:`CalendarTranslationError` naming the job, the field and
the reason, and that job is left out of the export rather than scheduled wrongly.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field

from chairside.errors import InputError
from chairside.ops.schedule.jobs import Job

MACROS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
WEEKDAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
WEEKDAY_NAMES = {name.lower(): number for number, name in enumerate(WEEKDAYS[:7])}
MONTH_NAMES = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}


class CalendarTranslationError(InputError):
    """A cron expression systemd's OnCalendar= cannot express."""


@dataclass(frozen=True)
class ExportFile:
    """One file of an export: its name and its text."""

    name: str
    text: str


@dataclass
class Export:
    """The files of an export and the jobs left out of it, with the reason."""

    format: str
    files: list[ExportFile] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def schedule_command(executable: str, job: Job) -> str:
    """The command line a cron entry or a systemd service runs for ``job``."""
    return f"{executable} schedule run --once --job {shlex.quote(job.name)}"


def export_crontab(jobs: Sequence[Job], *, executable: str) -> Export:
    """One crontab: a line per job, its cron expression as it stands."""
    lines = [
        "# Chairside ops schedule (chairside schedule export --format crontab).",
        "# Each pass takes the scheduler's leader lock and records its run; no flock needed.",
        "# Set DATABASE_URL, CHAIRSIDE_HOME and friends above these lines, as for the service.",
        "CRON_TZ=UTC",
    ]
    for job in jobs:
        if job.description:
            lines.append(f"# {job.name}: {job.description}")
        lines.append(f"{job.cadence} {schedule_command(executable, job)}")
    return Export("crontab", [ExportFile("chairside.crontab", "\n".join(lines) + "\n")])


def export_systemd(
    jobs: Sequence[Job], *, executable: str, environment_file: str | None = None
) -> Export:
    """A ``chairside-<job>.service`` and ``.timer`` per job that OnCalendar= can express."""
    export = Export("systemd")
    for job in jobs:
        try:
            calendar = on_calendar(job.cadence)
        except CalendarTranslationError as exc:
            export.skipped[job.name] = exc.message
            continue
        unit = f"chairside-{job.name}"
        service = [
            "[Unit]",
            f"Description=Chairside scheduled job {job.name}",
            "After=network-online.target",
            "",
            "[Service]",
            "Type=oneshot",
        ]
        if environment_file:
            service.append(f"EnvironmentFile=-{environment_file}")
        # The pass enforces the job's own timeout; this only guards against a hung pass.
        timeout = int(job.timeout_seconds) + 120
        service += [f"ExecStart={schedule_command(executable, job)}", f"TimeoutStartSec={timeout}"]
        timer = [
            "[Unit]",
            f"Description=Run {unit} on its schedule ({job.cadence} UTC)",
            "",
            "[Timer]",
            f"OnCalendar={calendar}",
            "Persistent=true",
            f"Unit={unit}.service",
            "",
            "[Install]",
            "WantedBy=timers.target",
        ]
        export.files.append(ExportFile(f"{unit}.service", "\n".join(service) + "\n"))
        export.files.append(ExportFile(f"{unit}.timer", "\n".join(timer) + "\n"))
    return export


def on_calendar(cadence: str) -> str:
    """The systemd OnCalendar= of a five-field cron expression (UTC)."""
    expression = MACROS.get(cadence.strip().lower(), cadence.strip())
    fields = expression.split()
    if len(fields) != 5:
        raise CalendarTranslationError(
            f"cron expression {cadence!r} has {len(fields)} fields; only the five-field form "
            "'minute hour day month weekday' translates to OnCalendar="
        )
    minute, hour, day, month, weekday = fields
    if day != "*" and weekday != "*":
        raise CalendarTranslationError(
            f"cron expression {cadence!r} sets both day of month and weekday, which cron "
            "reads as either-or and OnCalendar= as both; it has no OnCalendar= equivalent"
        )
    parts = [
        _field(cadence, "day of month", day, low=1, high=31, first=1),
        _field(cadence, "month", month, low=1, high=12, first=1, names=MONTH_NAMES),
        _field(cadence, "hour", hour, low=0, high=23, first=0),
        _field(cadence, "minute", minute, low=0, high=59, first=0),
    ]
    day_part, month_part, hour_part, minute_part = parts
    date_time = f"*-{month_part}-{day_part} {hour_part}:{minute_part}:00"
    if weekday == "*":
        return f"{date_time} UTC"
    return f"{_weekdays(cadence, weekday)} {date_time} UTC"


def _field(
    cadence: str,
    label: str,
    value: str,
    *,
    low: int,
    high: int,
    first: int,
    names: dict[str, int] | None = None,
) -> str:
    if value == "*":
        return "*"
    items = []
    for item in value.split(","):
        base, _, step = item.partition("/")
        if step:
            if base not in {"*"} and not base.isdigit():
                raise CalendarTranslationError(
                    f"cron expression {cadence!r}: the {label} field {value!r} steps over a "
                    "range, which OnCalendar= cannot express (only 'start/step')"
                )
            start = first if base == "*" else _number(cadence, label, base, low, high, names)
            items.append(f"{start:02d}/{_number(cadence, label, step, 1, high, None)}")
        elif "-" in base:
            start_text, _, end_text = base.partition("-")
            start = _number(cadence, label, start_text, low, high, names)
            end = _number(cadence, label, end_text, low, high, names)
            items.append(f"{start:02d}..{end:02d}")
        else:
            items.append(f"{_number(cadence, label, base, low, high, names):02d}")
    return ",".join(items)


def _number(
    cadence: str, label: str, text: str, low: int, high: int, names: dict[str, int] | None
) -> int:
    if names and text.lower() in names:
        return names[text.lower()]
    if not text.isdigit() or not low <= int(text) <= high:
        raise CalendarTranslationError(
            f"cron expression {cadence!r}: {text!r} in the {label} field is not a number "
            f"from {low} to {high}, which is all OnCalendar= takes there"
        )
    return int(text)


def _weekdays(cadence: str, value: str) -> str:
    items = []
    for item in value.split(","):
        if "/" in item:
            raise CalendarTranslationError(
                f"cron expression {cadence!r}: the weekday field {value!r} has a step, which "
                "OnCalendar= cannot express"
            )
        start_text, _, end_text = item.partition("-")
        start = _number(cadence, "weekday", start_text, 0, 7, WEEKDAY_NAMES)
        if not end_text:
            items.append(WEEKDAYS[start])
            continue
        end = _number(cadence, "weekday", end_text, 0, 7, WEEKDAY_NAMES)
        if start > end:
            raise CalendarTranslationError(
                f"cron expression {cadence!r}: weekday range {item!r} runs backwards"
            )
        # Sunday is 0 (or 7) in cron but the last day of systemd's Mon..Sun week.
        if start == 0:
            items.append("Sun")
            start = 1
        if start <= end:
            items.append(WEEKDAYS[start] if start == end else f"{WEEKDAYS[start]}..{WEEKDAYS[end]}")
    return ",".join(items)
