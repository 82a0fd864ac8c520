"""In-place restores of a running `chairside up`: clients see 503s, never 500s; a killed
restore is undone by the next `up`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from chairside.runtime.ports import free_port
from tests.ops.backup.helpers import CHAIRSIDE
from tests.support.servers import remove_tree, scratch_dir

pytestmark = pytest.mark.slow
SEARCH = "/api/v1/search/providers?service=cut&lat=52.5&lon=13.4"  # reads the database


@pytest.fixture
def home() -> Iterator[Path]:
    path = scratch_dir("chairside-restore-up-")
    yield path
    pg = path / "pg" / "data"
    for data_dir in [pg, *(path / "pg").glob("restore-*/data")]:
        subprocess.run(["su", "postgres", "-c", f"pg_ctl -D {data_dir} -m immediate stop"],
                       capture_output=True, check=False)  # fmt: skip
    remove_tree(path)


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env = {k: v for k, v in env.items() if not k.startswith("CHAIRSIDE_")}
    env.update(
        CHAIRSIDE_HOME=str(home), CHAIRSIDE_ENV="test", CHAIRSIDE_SCHEDULE_IN_PROCESS="false",
        CHAIRSIDE_EMBEDDED_REDIS="false",
    )  # fmt: skip
    return env


def _up(home: Path, port: int) -> subprocess.Popen[bytes]:
    with (home.parent / f"{home.name}-up-{time.monotonic_ns()}.log").open("wb") as log:
        process = subprocess.Popen(
            [CHAIRSIDE, "up", "--port", str(port)], env=_env(home), stdout=log, stderr=log
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, "chairside up exited early"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("chairside up did not become healthy")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)
    process.wait(timeout=60)


def _complete_backups(home: Path) -> list[str]:
    return sorted(p.parent.name for p in (home / "backups" / "backups").glob("*/COMPLETE"))


def _wait(predicate: object, what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def _sql(home: Path, statement: str) -> list[tuple[object, ...]]:
    port = json.loads((home / "runtime.json").read_text())["pg_port"]
    password = (home / "secrets" / "pg-password").read_text().strip()
    conninfo = f"host=127.0.0.1 port={port} user=postgres dbname=chairside"
    with psycopg.connect(conninfo, password=password, autocommit=True) as conn:
        cursor = conn.execute(statement.encode())
        return cursor.fetchall() if cursor.description else []


def _restore(home: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [CHAIRSIDE, "restore", "full", "--in-place", "--yes", "--json", *args],
        env=_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_clients_see_maintenance_not_errors_during_a_swap_and_a_killed_restore_is_undone_by_up(
    home: Path,
) -> None:
    port = free_port()
    up = _up(home, port)
    try:
        _wait(lambda: len(_complete_backups(home)) >= 1, "the first base backup")
        statuses: list[tuple[int, str]] = []
        stop = threading.Event()

        def clients() -> None:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
                while not stop.is_set():
                    try:
                        response = client.get(SEARCH)
                        statuses.append((response.status_code, response.text[:200]))
                    except httpx.HTTPError as exc:
                        statuses.append((0, repr(exc)))
                    time.sleep(0.02)

        thread = threading.Thread(target=clients, daemon=True)
        thread.start()
        restore = _restore(home)
        out, err = restore.communicate(timeout=180)
        stop.set()
        thread.join(timeout=10)
        assert restore.returncode == 0, out + err
        result = json.loads(out)
        assert not [s for s in statuses if s[0] >= 500 and s[0] != 503], statuses
        maintenance = [s for s in statuses if s[0] == 503]
        assert maintenance and all("maintenance" in text for _, text in maintenance)
        assert not (home / "modes.json").exists()
        assert httpx.get(f"http://127.0.0.1:{port}{SEARCH}").status_code == 200
        # A full backup on the new timeline was started in the background, and said so.
        background = result["background_backup"]
        assert background and any("in the background" in n for n in result["notes"])
        _wait(lambda: not Path(f"/proc/{background['pid']}").exists(), "the background backup")
        assert len(_complete_backups(home)) == 2

        # Killed while the backup is being unpacked (staging): the next `up` undoes it.
        _sql(home, "CREATE TABLE IF NOT EXISTS markers (id int PRIMARY KEY)")
        _sql(home, "INSERT INTO markers VALUES (1)")
        restore = _restore(home, "--no-backup-after")
        pg = home / "pg"
        deadline = time.monotonic() + 60
        try:
            while not list(pg.glob("restore-*/data")):
                assert restore.poll() is None, "the restore ended before it could be killed"
                assert time.monotonic() < deadline
                time.sleep(0.002)
            assert not list(pg.glob("restore-*/data/recovery.signal"))
        finally:
            restore.send_signal(signal.SIGKILL)
            restore.communicate()
    finally:
        _stop(up)
    up = _up(home, port)
    try:
        log = sorted(home.parent.glob(f"{home.name}-up-*.log"))[-1].read_text()
        assert "interrupted in-place restore" in log and "removed the half-built restore" in log
        assert not list((home / "pg").glob("restore-*")) and not (home / "modes.json").exists()
        assert _sql(home, "SELECT id FROM markers") == [(1,)]
        assert httpx.get(f"http://127.0.0.1:{port}{SEARCH}").status_code == 200
    finally:
        _stop(up)
