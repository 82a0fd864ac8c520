"""The worker: retries with backoff on a failing channel (and the metric, status and alert
that show it), and never twice when it is killed mid-delivery and started again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from chairside.checks import CheckStatus
from chairside.cli.main import app
from chairside.clock import ManualClock, SystemClock
from chairside.config import Settings, get_settings
from chairside.db import make_engine
from chairside.ops.metrics.reminders import ReminderCollector
from chairside.ops.monitoring.rules import alert_rules
from chairside.ops.schedule.jobs import default_jobs
from chairside.ops.schedule.pause import held_jobs
from chairside.reminders import service
from chairside.reminders.memory import MemoryReminderChannel
from chairside.runtime.ports import free_port
from tests.booking.world import future_day, local, make_shop, register, sql
from tests.reminders.conftest import confirmed_booking, reminders_of


def _metrics(database_url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    engine = make_engine(database_url, pool_size=1)
    registry = CollectorRegistry()
    registry.register(ReminderCollector(engine, cache_seconds=0, channels=["email", "sms"]))
    text = generate_latest(registry).decode()
    engine.dispose()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_a_failing_channel_is_retried_with_backoff_then_given_up_and_shows_in_metrics(
    client: TestClient,
    database_url: str,
    sessions: sessionmaker[Session],
    reminder_settings: Settings,
) -> None:
    settings = reminder_settings.model_copy(
        update={"reminder_max_attempts": 3, "reminder_backoff_seconds": 60.0}
    )
    shop = make_shop(client)
    client.patch(
        f"/api/v1/shops/{shop.id}",
        headers=shop.owner.headers,
        json={"reminder_lead_minutes": [120]},
    )
    booking = confirmed_booking(client, register(client), shop, local(future_day(5), "12:00"))
    [reminder] = reminders_of(database_url, booking)
    due = reminder["due_at"]
    channel = MemoryReminderChannel(fail=True)
    clock = ManualClock(due)
    attempts_at = []
    # Backoff doubles from 60 s: attempts at due, +60 s, +180 s; nothing in between.
    for offset in (0, 30, 59, 60, 179, 180, 600):
        clock.set(due + timedelta(seconds=offset))
        before = len(channel.refused)
        service.deliver_due(
            sessions=sessions, settings=settings, clock=clock, channels={"email": channel}
        )
        attempts_at += [offset] * (len(channel.refused) - before)
    assert attempts_at == [0, 60, 180]
    [after] = reminders_of(database_url, booking)
    assert after["status"] == "failed" and after["attempts"] == 3
    assert channel.sent == []

    metrics = _metrics(database_url)
    email = ("channel", "email")
    assert metrics[("chairside_reminder_deliveries_total", (email, ("outcome", "failed")))] == 3
    assert metrics[("chairside_reminder_deliveries_total", (email, ("outcome", "sent")))] == 0
    assert metrics[("chairside_reminder_retries_total", (email,))] == 2
    # A configured channel with no attempt yet is there, at zero.
    sms = (("channel", "sms"), ("outcome", "failed"))
    assert metrics[("chairside_reminder_deliveries_total", sms)] == 0
    assert metrics[("chairside_reminders", (("status", "failed"),))] == 1
    # The alert reads exactly these series and fires above half of the attempts failing.
    [rule] = [r for r in alert_rules(settings) if r.name == "ChairsideReminderChannelFailing"]
    assert 'chairside_reminder_deliveries_total{job="chairside",outcome="failed"}' in rule.expr
    assert rule.expr.endswith("> 0.5")

    counts, checks = service.status(sessions=sessions, settings=settings, clock=clock)
    by_name = {c.name: c for c in checks}
    assert by_name["channel:email"].status is CheckStatus.WARNING
    assert "3 failed, 0 sent" in by_name["channel:email"].summary


def test_an_overdue_reminder_shows_as_pending_age_and_a_late_status(
    client: TestClient,
    database_url: str,
    sessions: sessionmaker[Session],
    reminder_settings: Settings,
) -> None:
    shop = make_shop(client)
    booking = confirmed_booking(client, register(client), shop, local(future_day(5), "12:00"))
    sql(
        database_url,
        "UPDATE reminders SET next_attempt_at = now() - interval '20 minutes'"
        " WHERE booking_id = %(id)s AND lead_minutes = 120",
        {"id": booking},
    )
    age = _metrics(database_url)[("chairside_reminder_oldest_due_age_seconds", ())]
    assert 20 * 60 <= age < 21 * 60
    clock = ManualClock(datetime.now(UTC))
    _, checks = service.status(sessions=sessions, settings=reminder_settings, clock=clock)
    assert {c.name: c.status for c in checks}["delay"] is CheckStatus.WARNING


class Receiver:
    """A webhook that counts reminders; it can hold the first one without answering."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.hold_first = True
        self.arrived = threading.Event()
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
                receiver.received.append(body)
                if receiver.hold_first:
                    receiver.hold_first = False
                    receiver.arrived.set()
                    receiver.release.wait(30)
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"json://127.0.0.1:{self.server.server_port}/hook"

    def __enter__(self) -> Receiver:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as box:
        yield box


def _worker(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "chairside", "reminders", "run", "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_worker_killed_mid_delivery_and_restarted_never_sends_a_reminder_twice(
    client: TestClient,
    database_url: str,
    home: Path,
    receiver: Receiver,
    sessions: sessionmaker[Session],
    reminder_settings: Settings,
) -> None:
    booking = confirmed_booking(
        client, register(client), make_shop(client), local(future_day(5), "12:00")
    )
    # Both reminders due now, the 24 h one first.
    sql(
        database_url,
        "UPDATE reminders SET next_attempt_at = now() - lead_minutes * interval '1 second'"
        " WHERE booking_id = %(id)s",
        {"id": booking},
    )
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DATABASE_URL": database_url,
        "CHAIRSIDE_HOME": str(home),
        "CHAIRSIDE_REMINDER_CHANNELS": f"email={receiver.url}?:to={{email}}",
        "CHAIRSIDE_REMINDER_LEASE_SECONDS": "1",
    }
    first = _worker(env)
    try:
        assert receiver.arrived.wait(60), first.communicate(timeout=5)
    finally:
        os.kill(first.pid, signal.SIGKILL)  # mid-delivery: the gateway has the message
        first.communicate(timeout=10)
    statuses = {r["lead_minutes"]: r["status"] for r in reminders_of(database_url, booking)}
    assert statuses == {1440: "sending", 120: "pending"}
    time.sleep(1.1)  # the dead worker's lease runs out

    # Restarted (in this process: the same command the schedule runs).
    code, report = _cli(
        home,
        database_url,
        "run",
        CHAIRSIDE_REMINDER_CHANNELS=env["CHAIRSIDE_REMINDER_CHANNELS"],
        CHAIRSIDE_REMINDER_LEASE_SECONDS="1",
    )
    assert code == 1, report  # an unknown outcome needs someone to look
    assert report["error"]["details"]["ambiguous"] == 1
    assert report["error"]["details"]["sent"] == 1
    # Any later run leaves both alone.
    again = service.deliver_due(
        sessions=sessions,
        settings=reminder_settings.model_copy(
            update={"reminder_channels": SecretStr(env["CHAIRSIDE_REMINDER_CHANNELS"])}
        ),
        clock=SystemClock(),
    )
    assert (again.sent, again.ambiguous) == (0, 0)

    assert len(receiver.received) == 2  # the held one once, the other once: never twice
    statuses = {r["lead_minutes"]: r["status"] for r in reminders_of(database_url, booking)}
    assert statuses == {1440: "ambiguous", 120: "sent"}
    assert {m["to"] for m in receiver.received} == {
        sql(
            database_url,
            "SELECT u.email FROM users u JOIN bookings b ON b.client_id = u.id WHERE b.id = %(id)s",
            {"id": booking},
        )[0][0]
    }

    code, status = _cli(home, database_url, "status")
    assert code == 1
    assert status["by_status"]["ambiguous"] == 1
    assert {c["name"]: c["status"] for c in status["checks"]}["ambiguous"] == "warning"


def _cli(home: Path, database_url: str, *args: str, **env: str) -> tuple[int, dict[str, Any]]:
    saved = dict(os.environ)
    os.environ.update({"CHAIRSIDE_HOME": str(home), "DATABASE_URL": database_url, **env})
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["reminders", *args, "--json"], catch_exceptions=False)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        get_settings.cache_clear()
    return result.exit_code, json.loads(result.stdout)


def test_the_schedule_runs_the_reminder_job_every_minute_and_holds_it_in_maintenance(
    home: Path, database_url: str, reminder_settings: Settings
) -> None:
    [job] = [j for j in default_jobs(reminder_settings) if j.name == "reminders"]
    assert job.argv == ("reminders", "run") and job.cadence == "* * * * *" and job.writes
    maintenance = reminder_settings.model_copy(update={"maintenance_mode": True})
    assert "maintenance mode is on" in held_jobs(maintenance, [job])["reminders"]
    code, refused = _cli(home, database_url, "run", CHAIRSIDE_MAINTENANCE_MODE="true")
    assert code == 3
    assert "maintenance mode is on" in refused["error"]["message"]
