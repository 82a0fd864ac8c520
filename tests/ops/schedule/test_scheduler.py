"""The scheduler against the real PostgreSQL: runs, timeouts, leadership, missed slots."""

from __future__ import annotations

import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from chairside.config import Settings
from chairside.ops.schedule.jobs import Job
from chairside.ops.schedule.leader import AdvisoryLeaderLock, leader_lock
from chairside.ops.schedule.scheduler import PassResult, Scheduler, last_runs
from chairside.ops.timeline.store import open_ops_store


class MovableClock:
    """A clock the test sets, so that due times are tested without sleeping."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _conninfo(database_url: str) -> str:
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def _scheduler(
    settings: Settings, jobs: tuple[Job, ...], clock: MovableClock | None = None
) -> Scheduler:
    return Scheduler(
        jobs,
        settings=settings,
        store=open_ops_store(settings),
        lock=leader_lock(settings),
        clock=clock or MovableClock(datetime.now(UTC)),
    )


def _python(code: str) -> tuple[str, ...]:
    return (sys.executable, "-c", code)


def test_a_chairside_job_runs_as_a_subprocess_and_its_run_is_read_back(
    settings: Settings,
) -> None:
    job = Job("notify-help", "0 * * * *", ("notify", "--help"), 60)
    clock = MovableClock(datetime(2026, 1, 5, 10, 0, 30, tzinfo=UTC))
    result = _scheduler(settings, (job,), clock).run_once()
    assert result.leader
    assert [run.job for run in result.runs] == ["notify-help"]
    assert result.runs[0].exit_code == 0, result.runs[0].output_tail
    assert "Notifications" in result.runs[0].output_tail
    last = last_runs(open_ops_store(settings), [job])["notify-help"]
    assert last.started_at == clock.now
    assert last.status == "ok"


def test_a_job_missed_for_five_slots_runs_once_when_the_scheduler_comes_back(
    settings: Settings,
) -> None:
    job = Job("tick", "0 * * * *", _python("pass"), 30, chairside=False)
    clock = MovableClock(datetime(2026, 1, 5, 5, 0, 10, tzinfo=UTC))
    scheduler = _scheduler(settings, (job,), clock)
    assert len(scheduler.run_once().runs) == 1
    clock.now = datetime(2026, 1, 5, 10, 40, tzinfo=UTC)  # down from 05:00 to 10:40
    assert [run.job for run in scheduler.run_once().runs] == ["tick"]
    assert scheduler.run_once().runs == []
    clock.now += timedelta(minutes=19)  # 10:59: the 11:00 slot has not come
    assert scheduler.run_once().runs == []
    events = open_ops_store(settings).recent(kind_prefix="schedule.tick")
    assert len(events) == 2
    state = scheduler.states()[0]
    assert state.next_due == datetime(2026, 1, 5, 11, tzinfo=UTC)


def test_a_job_that_overruns_its_timeout_is_killed_with_its_children_and_recorded_as_failed(
    settings: Settings, tmp_path: Path
) -> None:
    pid_file = tmp_path / "child.pid"
    sleeper = _python(
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(60)\n"
    )
    job = Job("sleeper", "* * * * *", sleeper, 1.5, chairside=False)
    started = time.monotonic()
    result = _scheduler(settings, (job,)).run_once()
    assert time.monotonic() - started < 15
    run = result.runs[0]
    assert run.timed_out
    assert run.status == "failed"
    assert run.exit_code is not None and run.exit_code < 0  # ended by a signal
    assert not result.ok
    assert not _alive(int(pid_file.read_text()))
    event = open_ops_store(settings).recent(kind_prefix="schedule.sleeper")[0]
    assert event.status == "failed"
    assert event.details["timed_out"] is True
    assert "overran its timeout" in event.summary


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie no one has reaped yet counts as gone)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0]
        except (FileNotFoundError, ProcessLookupError):
            return False
        if state in "ZX":
            return False
        time.sleep(0.1)
    return True


def test_a_job_that_exits_non_zero_is_recorded_as_failed_with_its_exit_code(
    settings: Settings,
) -> None:
    job = Job("broken", "* * * * *", _python("import sys; sys.exit(4)"), 30, chairside=False)
    result = _scheduler(settings, (job,)).run_once()
    assert result.runs[0].exit_code == 4
    assert not result.ok
    assert last_runs(open_ops_store(settings), [job])["broken"].exit_code == 4


def test_two_schedulers_racing_for_leadership_run_the_job_exactly_once(
    settings: Settings,
) -> None:
    job = Job("slow", "0 * * * *", _python("import time; time.sleep(2)"), 30, chairside=False)
    schedulers = [_scheduler(settings, (job,)) for _ in range(2)]
    assert all(isinstance(s.lock, AdvisoryLeaderLock) for s in schedulers)
    barrier = threading.Barrier(2)
    results: list[PassResult] = []

    def race(scheduler: Scheduler) -> None:
        barrier.wait()
        results.append(scheduler.run_once())

    threads = [threading.Thread(target=race, args=(s,)) for s in schedulers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(r.leader for r in results) == [False, True]
    assert sum(len(r.runs) for r in results) == 1
    follower = next(r for r in results if not r.leader)
    assert follower.reason == "another scheduler holds the leader lock"
    assert len(open_ops_store(settings).recent(kind_prefix="schedule.slow")) == 1


def test_a_scheduler_that_won_the_lock_after_the_leader_finished_does_not_repeat_its_run(
    settings: Settings,
) -> None:
    job = Job("once", "0 * * * *", _python("pass"), 30, chairside=False)
    clock = MovableClock(datetime(2026, 1, 5, 10, 0, 5, tzinfo=UTC))
    first, second = (_scheduler(settings, (job,), clock) for _ in range(2))
    assert len(first.run_once().runs) == 1
    later = second.run_once()
    assert later.leader
    assert later.runs == []


def test_a_follower_takes_over_when_the_leaders_database_session_dies(
    settings: Settings, database_url: str
) -> None:
    leader = AdvisoryLeaderLock(_conninfo(database_url))
    follower = AdvisoryLeaderLock(_conninfo(database_url))
    assert leader.try_acquire()
    assert not follower.try_acquire()
    with psycopg.connect(_conninfo(database_url), autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'chairside-scheduler' AND pid <> pg_backend_pid()"
        )
    time.sleep(0.2)
    assert not leader.still_held()
    assert follower.try_acquire()
    assert follower.still_held()
    follower.release()


def test_an_unreachable_database_means_not_leader(settings: Settings) -> None:
    lock = AdvisoryLeaderLock("postgresql://nobody@127.0.0.1:1/nowhere")
    assert not lock.try_acquire()
    assert lock.last_error is not None
    assert lock.last_error.startswith("cannot reach the database")


def test_the_loop_runs_due_jobs_and_stops_when_asked(settings: Settings) -> None:
    job = Job("loop", "0 * * * *", _python("pass"), 30, chairside=False)
    scheduler = _scheduler(settings, (job,))
    stop = threading.Event()
    thread = threading.Thread(target=scheduler.run_forever, args=(stop,))
    thread.start()
    store = open_ops_store(settings)
    deadline = time.monotonic() + 20
    while not store.recent(kind_prefix="schedule.loop") and time.monotonic() < deadline:
        time.sleep(0.1)
    stop.set()
    thread.join(timeout=20)
    assert not thread.is_alive()
    assert len(store.recent(kind_prefix="schedule.loop")) == 1
    # Stopping released the lock: another scheduler leads at once.
    successor = leader_lock(settings)
    assert successor.try_acquire()
    successor.release()


def test_a_job_sees_the_schedulers_home_and_database(settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "env.txt"
    code = (
        "import os\n"
        f"open({str(out)!r}, 'w').write("
        "os.environ['CHAIRSIDE_HOME'] + '|' + os.environ['DATABASE_URL'])"
    )
    job = Job("env", "* * * * *", _python(code), 30, chairside=False)
    assert _scheduler(settings, (job,)).run_once().ok
    assert settings.database_url is not None
    home, url = out.read_text().split("|")
    assert home == str(settings.home)
    assert url == settings.database_url.get_secret_value()


def test_a_waiting_follower_loop_runs_nothing_until_the_leader_lets_go(
    settings: Settings,
) -> None:
    job = Job("handover", "0 * * * *", _python("pass"), 30, chairside=False)
    leader = leader_lock(settings)
    assert leader.try_acquire()
    follower = _scheduler(settings, (job,))
    stop = threading.Event()
    messages: list[str] = []
    thread = threading.Thread(
        target=follower.run_forever,
        args=(stop,),
        kwargs={"retry_seconds": 0.2, "on_event": messages.append},
    )
    thread.start()
    store = open_ops_store(settings)
    try:
        time.sleep(1.5)
        assert store.recent(kind_prefix="schedule.handover") == []
        leader.release()
        deadline = time.monotonic() + 20
        while not store.recent(kind_prefix="schedule.handover") and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(timeout=20)
        leader.release()
    assert len(store.recent(kind_prefix="schedule.handover")) == 1
    assert messages[0].startswith("not leader (another scheduler holds the leader lock)")
    assert any(m.startswith("leading") for m in messages)


def test_inside_up_a_job_that_never_ran_waits_for_its_first_slot_after_the_start(
    settings: Settings,
) -> None:
    hourly = Job("notify-help", "0 * * * *", ("notify", "--help"), 60)
    weekly = Job("weekly", "0 2 * * 0", ("notify", "--help"), 60)
    started = datetime(2026, 1, 5, 10, 20, tzinfo=UTC)  # a Monday
    clock = MovableClock(started)
    scheduler = Scheduler(
        (hourly, weekly),
        settings=settings,
        store=open_ops_store(settings),
        lock=leader_lock(settings),
        clock=clock,
        starts_at=started,
    )
    assert scheduler.due_jobs() == []
    assert {s.job.name: s.next_due for s in scheduler.states()} == {
        "notify-help": datetime(2026, 1, 5, 11, 0, tzinfo=UTC),
        "weekly": datetime(2026, 1, 11, 2, 0, tzinfo=UTC),
    }
    clock.now = datetime(2026, 1, 5, 11, 0, 5, tzinfo=UTC)
    result = scheduler.run_once()
    assert [run.job for run in result.runs] == ["notify-help"]
    clock.now = datetime(2026, 1, 5, 11, 30, tzinfo=UTC)
    assert scheduler.due_jobs() == []  # ran at 11:00: the usual rule from here on
