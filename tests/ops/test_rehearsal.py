"""The on-call rehearsal (issue 15): every runbook procedure, end to end, with the others
running.

A real `chairside up --demo` serves the API and runs the ops schedule in-process; a load
generator browses, logs in and books the whole time. Against it the operator runs a
read-only and a maintenance round trip, a deployment (start, finish, verify), a backup
and its validation, an incident from open to report and a security audit. The test then
asserts what an operator would: the deployment passed, no writing job ran while the data
was promised not to change, every step is on the ops timeline, and the notification
receiver (apprise ``json://`` to a server in this test) got exactly the messages the
timeline says were sent, each once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from chairside.config import load_settings
from chairside.demo import CLIENT_EMAIL, DEMO_PASSWORD
from chairside.ops.deploy.service import installed_version
from chairside.ops.timeline.store import OpsEvent, open_ops_store
from chairside.runtime.ports import free_port
from tests.support.inbox import Inbox
from tests.support.servers import remove_tree, scratch_dir

# Fifteen CLI processes and a whole `up`: about a minute on an idle 2-core machine, but
# every process's start-up multiplies on a busy one.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

CHAIRSIDE = str(Path(sys.executable).parent / "chairside")
SEARCH = {"service": "Haircut", "lat": 52.5006, "lon": 13.4237, "radius_km": 10}


@dataclass
class Traffic:
    """What the load generator saw: (time, what, status) for every request."""

    seen: list[tuple[float, str, int]] = field(default_factory=list)

    def statuses(self, what: str, start: float, end: float) -> set[int]:
        return {s for t, w, s in self.seen if w == what and start <= t <= end}


def _load(url: str, stop: threading.Event, traffic: Traffic) -> None:
    """Browse, log in and book until ``stop``; bounded, a request every ~0.2 s."""
    with httpx.Client(base_url=f"{url}/api/v1", timeout=10) as http:
        token: str | None = None
        for round_ in range(5000):
            if stop.is_set():
                return
            try:
                found = http.get("/search/providers", params=SEARCH)
                traffic.seen.append((time.time(), "browse", found.status_code))
                if round_ % 5 == 0 or token is None:
                    login = http.post(
                        "/auth/login", json={"email": CLIENT_EMAIL, "password": DEMO_PASSWORD}
                    )
                    traffic.seen.append((time.time(), "login", login.status_code))
                    if login.status_code == 200:
                        token = login.json()["access_token"]
                slots = [r for r in found.json() if r["next_free_slot"]] if found.is_success else []
                if token and slots and round_ % 3 == 0:
                    pick = slots[round_ % len(slots)]
                    booked = http.post(
                        "/bookings",
                        headers={
                            "Authorization": f"Bearer {token}",
                            "Idempotency-Key": uuid.uuid4().hex,
                        },
                        json={
                            "provider_id": pick["provider_id"],
                            "service_id": pick["service_id"],
                            "starts_at": pick["next_free_slot"],
                        },
                    )
                    traffic.seen.append((time.time(), "book", booked.status_code))
            except httpx.HTTPError:
                traffic.seen.append((time.time(), "error", 0))
            stop.wait(0.2)


@pytest.fixture
def home() -> Iterator[Path]:
    path = scratch_dir("chairside-rehearsal-")
    yield path
    remove_tree(path)


def _env(home: Path, inbox: Inbox) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHAIRSIDE_", "DATABASE_"))}
    env.pop("REDIS_URL", None)
    env.update(
        CHAIRSIDE_HOME=str(home),
        CHAIRSIDE_NOTIFY_URLS=inbox.url,
        # Nothing answers here: no silences, and the check is quick.
        CHAIRSIDE_ALERTMANAGER_URL=f"http://127.0.0.1:{free_port()}",
        CHAIRSIDE_RATE_LIMIT_LOGIN="100000",
        CHAIRSIDE_RATE_LIMIT_BOOKINGS="100000",
    )
    return env


def _seed_schedule(home: Path) -> None:
    """`expire-holds` last ran ten minutes ago, so it is due the moment `up` starts."""
    store = open_ops_store(load_settings(env="test", home=home))
    started = datetime.now(UTC) - timedelta(minutes=10)
    store.record(
        "schedule.expire-holds",
        "expire-holds exited 0 (an earlier run)",
        details={"started_at": started.isoformat(), "exit_code": 0},
    )


def _events(home: Path) -> list[OpsEvent]:
    return list(reversed(open_ops_store(load_settings(env="test", home=home)).recent(limit=2000)))


def test_an_on_call_rehearsal_with_clients_and_the_schedule_running(
    home: Path, tmp_path: Path
) -> None:
    with Inbox() as inbox:
        env = _env(home, inbox)

        def run(*args: str, ok: tuple[int, ...] = (0,)) -> dict[str, Any]:
            began = time.monotonic()
            done = subprocess.run(
                [CHAIRSIDE, *args, "--json"], env=env, capture_output=True, text=True, timeout=300
            )
            print(f"{time.monotonic() - began:6.1f}s chairside {' '.join(args[:3])}")
            assert done.returncode in ok, f"{args}: {done.returncode}\n{done.stdout}{done.stderr}"
            return json.loads(done.stdout) if done.stdout.strip() else {}

        _seed_schedule(home)
        # Read-only from before `up`: the due expire-holds must wait for it to end.
        run("maintenance-mode", "on", "--read-only", "--reason", "rehearsal: read-only")
        read_only_on = time.time()
        port = free_port()
        log = (tmp_path / "up.log").open("wb")
        up = subprocess.Popen(
            [CHAIRSIDE, "up", "--demo", "--port", str(port)], env=env, stdout=log, stderr=log
        )
        url = f"http://127.0.0.1:{port}"
        stop, traffic = threading.Event(), Traffic()
        loader = threading.Thread(target=_load, args=(url, stop, traffic), daemon=True)
        try:
            _wait_healthy(url, up)
            loader.start()
            _wait_for(lambda: b"holding expire-holds" in (tmp_path / "up.log").read_bytes(), 60)
            time.sleep(2)  # clients browse, log in and try to book in read-only mode
            read_only_off = time.time()  # (clients' view: until the switch is asked for)
            run("maintenance-mode", "off")
            _wait_for(lambda: _runs_after(home, "expire-holds", read_only_off), 60)

            run("maintenance-mode", "on", "--reason", "rehearsal: maintenance")
            maintenance_on = time.time()
            time.sleep(2)
            maintenance_off = time.time()
            run("maintenance-mode", "off")

            version = installed_version()
            started = run("deploy", "start", "--version", version, "--reason", "rehearsal")
            deploy_window = (time.time(), 0.0)
            time.sleep(2)  # clients meet the deployment's maintenance window
            finished = run("deploy", "finish", "--observe", "3", ok=(0,))
            deploy_window = (deploy_window[0], time.time())
            assert finished["deploy"]["state"] == "finished", finished["checks"]
            time.sleep(2)
            verified = run("deploy", "verify", ok=(0, 1))
            assert verified["status"] in ("ok", "warning"), verified["checks"]

            backup = run("backup", "full")
            run("backup", "validate", backup["id"], ok=(0, 1))

            opened = run("incident", "open", "--severity", "P2", "--title",
                         "rehearsal: slow bookings", "--summary", "p95 up")  # fmt: skip
            incident_id = str(opened["incident"]["id"])
            run("incident", "ack", incident_id)
            run("incident", "note", incident_id, "cache warmed after the deploy")
            run("incident", "resolve", incident_id, "--cause", "cold cache", "--resolution",
                "warmed")  # fmt: skip
            report = run("incident", "report", incident_id)
            assert "rehearsal: slow bookings" in json.dumps(report)

            run("security", "audit", "config", ok=(0, 1))
        finally:
            stop.set()
            loader.join(timeout=30)
            up.send_signal(signal.SIGTERM)
            assert up.wait(timeout=90) == 0
            log.close()

        events = _events(home)
        kinds = [e.kind for e in events]
        # Every step is on the timeline.
        assert kinds.count("modes.on") == 2 and kinds.count("modes.off") == 2
        for kind in ("deploy.started", "deploy.finished", "backup.full", "backup.validate",
                     "incident.opened", "incident.acknowledged", "incident.note",
                     "incident.resolved", "security.audit"):  # fmt: skip
            assert kind in kinds, (kind, kinds)
        assert started["deploy"]["id"] in json.dumps(
            [e.details for e in events if e.kind == "deploy.finished"]
        )
        # No writing job ran while read-only (or maintenance) mode was on: the windows
        # are the switches' own times on the timeline.
        switches = [e.at.timestamp() for e in events if e.kind in ("modes.on", "modes.off")]
        windows = [(switches[0], switches[1]), (switches[2], switches[3])]
        for event in events:
            if not event.kind.startswith("schedule.") or event.kind in (
                "schedule.started", "schedule.paused", "schedule.resumed"
            ):  # fmt: skip
                continue
            job = event.kind.removeprefix("schedule.")
            if job not in ("expire-holds", "maintenance-full"):
                continue
            at = datetime.fromisoformat(str(event.details["started_at"])).timestamp()
            for start, end in windows:
                assert not start < at < end, f"{job} ran during a mode at {at}"
        # Clients: never a 5xx other than the modes' 503; logins work in read-only mode;
        # bookings were refused in it and made outside the modes.
        assert not [s for _, _, s in traffic.seen if s >= 500 and s != 503]
        assert not [s for _, w, s in traffic.seen if w == "error"]
        assert traffic.statuses("login", read_only_on, read_only_off) == {200}
        assert traffic.statuses("book", read_only_on, read_only_off) <= {503}
        assert 503 in traffic.statuses("browse", maintenance_on, maintenance_off)
        assert 201 in traffic.statuses("book", deploy_window[1], time.time())
        # The receiver got exactly what the timeline says was sent, each once.
        sent = [e for e in events if e.kind in ("notify.sent", "incident.notified")]
        assert len(inbox.received) == len(sent), (inbox.received, [e.summary for e in sent])
        titles = [m["title"] for m in inbox.received]
        assert len(set(titles)) == len(titles)
        assert sum("rehearsal: slow bookings" in t for t in titles) == 2  # opened, resolved
        for event in sent:
            if event.kind == "notify.sent":
                assert event.details["title"] in titles
        # Nothing from the schedule was sent inside a maintenance window (the round trip's,
        # the deployment's): such messages are held.
        deploy_at = [e.at.timestamp() for e in events if e.kind.startswith("deploy.")]
        quiet = [windows[1], (deploy_at[0], deploy_at[-1])]
        for event in sent:
            if event.kind == "notify.sent":
                at = event.at.timestamp()
                assert not any(start < at < end for start, end in quiet), event.summary


def _runs_after(home: Path, job: str, after: float) -> bool:
    for event in _events(home):
        if event.kind == f"schedule.{job}" and "started_at" in event.details:
            at = datetime.fromisoformat(str(event.details["started_at"])).timestamp()
            if at > after and event.status == "ok":
                return True
    return False


def _wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "chairside up exited early"
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError("chairside up did not become healthy")


def _wait_for(condition: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.5)
