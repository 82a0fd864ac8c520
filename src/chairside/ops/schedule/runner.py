"""Running one job: a subprocess with a deadline, and an ops event saying how it went.

The job runs in a session (and so a process group) of its own: a timeout kills the
whole group (``pg_basebackup`` under ``backup full``, say), not only the chairside
process, and a Ctrl-C at the scheduler's terminal does not reach the job. Its output
goes to a temporary file rather than a pipe, so a chatty job can never block on a full
pipe, and the tail of it is kept in the event for whoever reads why it failed.

Each run is recorded as ``schedule.<job>`` with status ``ok`` (exit 0) or ``failed``;
its details carry ``started_at``, which is what "last run" is read back from.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chairside.config import Settings
from chairside.ops.notify.changes import Change, notify_changes
from chairside.ops.schedule.jobs import Job
from chairside.ops.timeline.store import OpsEvent, OpsStore

OUTPUT_TAIL_CHARS = 2000
# How long a job has to exit after SIGTERM before it gets SIGKILL.
KILL_GRACE_SECONDS = 5.0

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class JobRun:
    """How one run of a job went."""

    job: str
    started_at: datetime
    duration_seconds: float
    exit_code: int | None
    timed_out: bool
    interrupted: bool
    output_tail: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and not self.interrupted

    @property
    def status(self) -> str:
        return "ok" if self.ok else "failed"

    def summary(self) -> str:
        if self.timed_out:
            return (
                f"{self.job} overran its timeout and was killed after {self.duration_seconds:.1f}s"
            )
        if self.interrupted:
            return f"{self.job} was stopped with the scheduler after {self.duration_seconds:.1f}s"
        return f"{self.job} exited {self.exit_code} after {self.duration_seconds:.1f}s"

    def to_dict(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "status": self.status,
            "started_at": self.started_at.isoformat(),
            "duration_seconds": round(self.duration_seconds, 3),
            "exit_code": self.exit_code,
            "timed_out": self.timed_out,
            "interrupted": self.interrupted,
            "output_tail": self.output_tail,
        }


def job_environment(settings: Settings) -> dict[str, str]:
    """The scheduler's environment, with the settings that locate the service pinned.

    A job is a separate process reading its settings from the environment; pinning the
    home and the URLs makes it act on the same service as the scheduler that started it.
    """
    env = dict(os.environ)
    env["CHAIRSIDE_HOME"] = str(settings.home)
    env["CHAIRSIDE_ENV"] = settings.env
    pinned: Mapping[str, Any] = {
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "CHAIRSIDE_OPS_STORE_URL": settings.ops_store_url,
    }
    for name, secret in pinned.items():
        if secret is not None:
            env[name] = secret.get_secret_value()
    return env


def run_job(
    job: Job,
    *,
    settings: Settings,
    store: OpsStore,
    clock: Clock = utc_now,
    stop: threading.Event | None = None,
) -> JobRun:
    """Run ``job`` to completion, its timeout or ``stop``; record and return the outcome."""
    started_at = clock()
    started = time.monotonic()
    deadline = started + job.timeout_seconds
    timed_out = interrupted = False
    with tempfile.TemporaryFile() as output:
        try:
            process = subprocess.Popen(
                job.command_line(),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env=job_environment(settings),
                start_new_session=True,
            )
        except OSError as exc:
            run = JobRun(job.name, started_at, 0.0, None, False, False, f"cannot start: {exc}")
            _record(store, job, run)
            notify_job(settings, job, run)
            return run
        while True:
            try:
                process.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                pass
            if time.monotonic() >= deadline:
                timed_out = True
            elif stop is not None and stop.is_set():
                interrupted = True
            if timed_out or interrupted:
                _kill_group(process)
                break
        duration = time.monotonic() - started
        output.seek(0)
        tail = output.read()[-OUTPUT_TAIL_CHARS:].decode("utf-8", errors="replace")
    run = JobRun(job.name, started_at, duration, process.returncode, timed_out, interrupted, tail)
    _record(store, job, run)
    notify_job(settings, job, run)
    return run


def notify_job(settings: Settings, job: Job, run: JobRun) -> dict[str, Any] | None:
    """Tell people when a job starts failing and when it works again (once each)."""
    if run.interrupted:
        return None  # stopped with the scheduler: says nothing about the job
    crashed = run.timed_out or run.exit_code is None or run.exit_code < 0
    failed = not run.ok and (job.notify_on_failure or crashed)
    tail = run.output_tail.strip().splitlines()[-3:]
    line = run.summary() + (": " + " | ".join(tail) if failed and tail else "")
    change = Change(
        key=f"job:{job.name}",
        state="failed" if failed else "ok",
        line=line[:500],
        labels={"alertname": "ChairsideJobFailed", "job": job.name, "severity": "warning"},
    )
    return notify_changes(settings, [change], title=f"Chairside scheduled job {job.name}")


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the job's process group, then SIGKILL what is left after a grace period."""
    for sig, wait in ((signal.SIGTERM, KILL_GRACE_SECONDS), (signal.SIGKILL, None)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=wait)
            if sig is signal.SIGTERM:
                # The leader exited; children that ignored SIGTERM must not outlive it.
                os.killpg(process.pid, signal.SIGKILL)
            return
        except subprocess.TimeoutExpired:
            continue
        except ProcessLookupError:
            return


def _record(store: OpsStore, job: Job, run: JobRun) -> OpsEvent:
    details = run.to_dict()
    details["argv"] = list(job.argv)
    details["timeout_seconds"] = job.timeout_seconds
    return store.record(job.event_kind, run.summary(), status=run.status, details=details)
