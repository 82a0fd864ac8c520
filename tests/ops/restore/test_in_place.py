"""In-place restores of the embedded cluster: swap only after recovery; failures cost nothing.

The embedded cluster is the real one `chairside up` runs (``$CHAIRSIDE_HOME/pg/data``),
created with 1 MB WAL segments and archiving into its repository.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from pydantic import SecretStr

from chairside.config import Settings, load_settings
from chairside.ops.backup import access
from chairside.ops.backup.archiving import archive_environment, configure_archiving
from chairside.ops.backup.basebackup import take_full_backup
from chairside.ops.restore import inplace, service
from chairside.ops.restore.targets import LATEST, build_target
from chairside.runtime.embedded import EmbeddedStack, embedded_stack
from chairside.runtime.postgres import PostgresCluster
from tests.ops.backup.helpers import CHAIRSIDE
from tests.support.servers import ClusterFactory, remove_tree, scratch_dir

pytestmark = pytest.mark.slow


@dataclass
class Embedded:
    settings: Settings
    stack: EmbeddedStack
    root: Path

    @property
    def pg(self) -> PostgresCluster:
        return self.stack.postgres

    def sql(self, statement: str) -> list[tuple[object, ...]]:
        with psycopg.connect(self.pg.conninfo("chairside"), autocommit=True) as conn:
            cursor = conn.execute(statement.encode())
            return cursor.fetchall() if cursor.description else []

    def markers(self) -> list[int]:
        return [int(str(r[0])) for r in self.sql("SELECT id FROM markers ORDER BY id")]

    def mark(self, *ids: int) -> list[str]:
        """Commit markers, each in its own transaction; their commit times."""
        times = []
        for marker_id in ids:
            self.sql(f"INSERT INTO markers VALUES ({marker_id})")
            [(at,)] = self.sql(
                f"SELECT pg_xact_commit_timestamp(xmin) FROM markers WHERE id = {marker_id}"
            )
            times.append(str(at))
        return times

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHAIRSIDE_")}
        env.pop("DATABASE_URL", None)
        env.update(archive_environment(self.settings))
        env.update({"CHAIRSIDE_ENV": "test", "CHAIRSIDE_EMBEDDED_REDIS": "false"})
        return env

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**self.env(), "PYTHONFAULTHANDLER": "1"}
        process = subprocess.Popen(
            [CHAIRSIDE, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            out, err = process.communicate(timeout=100)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGABRT)
            time.sleep(2)
            ps = subprocess.run(["ps", "-ef", "--forest"], capture_output=True, text=True).stdout
            process.kill()
            out, err = process.communicate(timeout=10)
            logs = "".join(p.read_text()[-6000:] for p in self.root.rglob("postgresql.log"))
            raise AssertionError(f"{err}\n{ps}\n{logs}") from None
        return subprocess.CompletedProcess(process.args, process.returncode, out, err)


@pytest.fixture
def embedded() -> Iterator[Embedded]:
    root = scratch_dir("chairside-inplace-")
    settings = load_settings(
        env="test", home=root / "home", database_url=None, embedded_redis=False,
        backup_repository=str(root / "repo"), wal_archive_timeout_seconds=0,
        log_level="WARNING",
    )  # fmt: skip
    stack = embedded_stack(settings)
    stack.postgres.init(wal_segsize_mb=1, durable=False)
    configure_archiving(stack.postgres, settings)
    stack.postgres.configure({"track_commit_timestamp": "on"})
    stack.start()
    world = Embedded(settings, stack, root)
    world.sql("CREATE TABLE markers (id int PRIMARY KEY)")
    try:
        yield world
    finally:
        for data_dir in (root / "home" / "pg").glob("restore-*/data"):
            subprocess.run(["su", "postgres", "-c", f"pg_ctl -D {data_dir} -m immediate stop"],
                           capture_output=True, check=False)  # fmt: skip
        stack.stop()
        remove_tree(root)


def test_an_in_place_pitr_swaps_only_after_recovery_and_keeps_the_previous_data(
    embedded: Embedded,
) -> None:
    embedded.mark(1, 2)
    take_full_backup(embedded.settings)
    times = embedded.mark(3, 4, 5)
    port = embedded.pg.port

    result = service.restore_database(
        embedded.settings,
        request=service.RestoreRequest(
            target=build_target(time=times[1]), in_place=True, backup_after=False
        ),
    )
    assert embedded.pg.is_running() and embedded.pg.port == port
    assert embedded.markers() == [1, 2, 3, 4]
    assert embedded.sql("SELECT pg_is_in_recovery()") == [(False,)]
    assert result.outcome.timeline == 2
    previous = Path(str(result.previous_data_dir))
    assert (previous / "PG_VERSION").exists() and previous.parent == embedded.pg.data_dir.parent
    assert not list((embedded.settings.home / "pg").glob("restore-*"))

    # Archiving goes on, on the new timeline, and a later restore follows it.
    embedded.mark(6)
    embedded.sql("SELECT pg_switch_wal()")
    archive = access.wal_archive(embedded.settings)
    deadline = time.monotonic() + 30
    while not archive.find("00000002.history") or not any(
        e.timeline == 2 for e in archive.entries() if e.kind == "segment"
    ):
        assert time.monotonic() < deadline, embedded.pg.log_tail()
        time.sleep(0.1)
    embedded.sql("SELECT pg_switch_wal()")
    time.sleep(1)
    again = service.restore_database(
        embedded.settings,
        request=service.RestoreRequest(target=LATEST, in_place=True, backup_after=False),
    )
    assert embedded.markers() == [1, 2, 3, 4, 6]
    assert again.outcome.timeline == 3

    pruned = embedded.cli("restore", "prune-previous", "--yes", "--json")
    assert pruned.returncode == 0, pruned.stderr
    assert len(json.loads(pruned.stdout)["removed"]) == 2
    assert not previous.exists()


def test_a_restore_to_an_impossible_target_leaves_the_database_running_and_intact(
    embedded: Embedded, cluster_factory: ClusterFactory
) -> None:
    embedded.mark(1)
    take_full_backup(embedded.settings)
    embedded.mark(2, 3)

    # Before the only backup: refused before anything is stopped.
    result = embedded.cli("restore", "pitr", "--target-time", "2020-01-01T00:00:00Z",
                          "--in-place", "--yes", "--json")  # fmt: skip
    assert result.returncode == 2
    assert "outside the recoverable window" in json.loads(result.stdout)["error"]["message"]
    # A transaction id that never existed: not in the archived WAL, refused with what was read.
    result = embedded.cli("restore", "pitr", "--target-xid", "4000000", "--in-place", "--yes",
                          "--json")  # fmt: skip
    assert result.returncode == 2
    message = json.loads(result.stdout)["error"]["message"]
    assert "transaction 4000000 is not in the archived WAL of timeline 1" in message
    assert "searched timeline 1:" in message

    # A repository that belongs to another cluster: refused, naming both identifiers.
    other = cluster_factory.make()
    other_repo = embedded.root / "other-repo"
    take_full_backup(
        embedded.settings.model_copy(
            update={"database_url": SecretStr(other.url("postgres")),
                    "backup_repository": str(other_repo)}
        )
    )  # fmt: skip
    other.stop()
    env = {**embedded.env(), "CHAIRSIDE_BACKUP_REPOSITORY": str(other_repo)}
    result = subprocess.run([CHAIRSIDE, "restore", "full", "--in-place", "--yes", "--json"],
                            env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 2
    message = json.loads(result.stdout)["error"]["message"]
    ours = str(embedded.sql("SELECT system_identifier FROM pg_control_system()")[0][0])
    assert "belongs to the cluster with system identifier" in message and ours in message

    assert embedded.pg.is_running()
    assert embedded.markers() == [1, 2, 3]
    assert not list((embedded.settings.home / "pg").glob("restore-*"))
    assert not list((embedded.settings.home / "pg").glob("data.previous-*"))


def test_a_killed_in_place_restore_is_undone_by_cleanup_which_starts_the_previous_database(
    embedded: Embedded,
) -> None:
    embedded.mark(1)
    take_full_backup(embedded.settings)
    embedded.sql(
        "CREATE TABLE filler AS SELECT g, md5(g::text) AS t FROM generate_series(1, 60000) g"
    )
    embedded.mark(2)
    process = subprocess.Popen(
        [CHAIRSIDE, "restore", "full", "--in-place", "--yes", "--json", "--no-backup-after"],
        env=embedded.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    pg_dir = embedded.settings.home / "pg"
    modes = embedded.settings.home / "modes.json"
    deadline = time.monotonic() + 60
    try:
        # Kill once the live cluster is stopped and the new directory is being recovered.
        while not list(pg_dir.glob("restore-*/data/recovery.signal")):
            assert process.poll() is None, "the restore ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.005)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()

    assert (embedded.pg.data_dir / "PG_VERSION").exists() and not embedded.pg.is_running()
    assert json.loads(modes.read_text())["maintenance"]  # clients got 503s, not errors

    cleaned = embedded.cli("restore", "cleanup", "--json")
    assert cleaned.returncode == 0, cleaned.stderr
    actions = json.loads(cleaned.stdout)["actions"]
    assert any("removed the half-built restore" in a for a in actions)
    assert any(f"started the previous database again on port {embedded.pg.port}" in a
               for a in actions)  # fmt: skip
    assert embedded.pg.is_running() and embedded.markers() == [1, 2]
    assert not list(pg_dir.glob("restore-*")) and not modes.exists()

    # A retry works and leaves the database running, maintenance off.
    again = embedded.cli("restore", "full", "--in-place", "--yes", "--json", "--no-backup-after")
    assert again.returncode == 0, again.stdout + again.stderr
    assert embedded.pg.is_running() and embedded.markers() == [1, 2] and not modes.exists()


def test_a_restore_killed_between_the_two_renames_is_rolled_back_and_started(
    embedded: Embedded,
) -> None:
    embedded.mark(1)
    embedded.pg.stop()
    home = embedded.settings.home
    kept = home / "pg" / "data.previous-20260101T000000Z"
    os.replace(embedded.pg.data_dir, kept)
    inplace.write_state(
        home, phase="swapping", data=str(embedded.pg.data_dir), previous=str(kept),
        recovered=str(home / "pg" / "restore-x" / "data"), live_was_running=True,
        modes="__absent__",
    )  # fmt: skip
    cleaned = embedded.cli("restore", "cleanup", "--json")
    assert cleaned.returncode == 0, cleaned.stderr
    actions = " ".join(json.loads(cleaned.stdout)["actions"])
    assert "rolled back the interrupted swap" in actions and "started the previous" in actions
    assert embedded.pg.is_running() and embedded.markers() == [1]
