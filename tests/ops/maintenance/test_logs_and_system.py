"""``chairside maintenance logs`` and ``maintenance system``: what is rotated, removed and
left alone under a real CHAIRSIDE_HOME."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import zstandard

from chairside.ops.drill.service import DRILL_LOCK
from chairside.ops.locks import named_lock
from tests.cli.conftest import Run

Cli = Callable[..., Run]
DAY = 86400


def _age(path: Path, days: float) -> None:
    when = time.time() - days * DAY
    os.utime(path, (when, when))


def test_a_big_log_is_compressed_then_truncated_while_its_writer_keeps_appending(
    cli: Cli, home: Path
) -> None:
    logs = home / "log"
    logs.mkdir(parents=True)
    big = logs / "postgresql.log"
    lines = b"".join(
        b"2026-12-04 03:00:00 UTC [42] LOG:  checkpoint %d\n" % i for i in range(40_000)
    )
    big.write_bytes(lines)  # about 2 MB
    small = logs / "redis.log"
    small.write_bytes(b"ready\n")
    old = logs / "postgresql-20261001T020000Z.log.zst"
    old.write_bytes(zstandard.compress(b"old"))
    _age(old, 30)
    recent = logs / "postgresql-20261201T020000Z.log.zst"
    recent.write_bytes(zstandard.compress(b"recent"))
    _age(recent, 3)
    foreign = logs / "notes.log.zst"
    foreign.write_bytes(b"not ours")
    _age(foreign, 300)
    writer = big.open("ab")  # as PostgreSQL's stderr, opened for append by pg_ctl -l

    run = cli("maintenance", "logs", "--log-max-mb", "1", "--log-keep", "14d", "--json")
    assert run.exit_code == 0, run.stdout
    writer.write(b"after rotation\n")
    writer.flush()
    writer.close()

    details = run.json()["checks"][0]["details"]
    (rotated,) = details["rotated"]
    assert rotated["file"] == "postgresql.log"
    archive = logs / rotated["rotated_to"]
    assert (
        zstandard.ZstdDecompressor().decompress(archive.read_bytes(), max_output_size=1 << 24)
        == lines
    )
    assert rotated["compressed_bytes"] < len(lines) / 5
    assert big.read_bytes() == b"after rotation\n"  # no hole of NULs, nothing from before
    assert small.read_bytes() == b"ready\n"
    assert details["deleted"] == [old.name]
    assert not old.exists()
    assert recent.exists() and foreign.exists()


def test_a_dry_run_of_logs_rotates_and_deletes_nothing(cli: Cli, home: Path) -> None:
    logs = home / "log"
    logs.mkdir(parents=True)
    (logs / "chairside.log").write_bytes(b"x" * (2 * 1024 * 1024))
    old = logs / "chairside-20200101T000000Z.log.zst"
    old.write_bytes(b"")
    _age(old, 100)
    run = cli("maintenance", "logs", "--log-max-mb", "1", "--dry-run", "--json")
    assert run.exit_code == 0
    details = run.json()["checks"][0]["details"]
    assert [r["file"] for r in details["rotated"]] == ["chairside.log"]
    assert details["deleted"] == [old.name]
    assert (logs / "chairside.log").stat().st_size == 2 * 1024 * 1024
    assert old.exists()
    assert sorted(p.name for p in logs.iterdir()) == [
        "chairside-20200101T000000Z.log.zst",
        "chairside.log",
    ]


def _debris(home: Path) -> dict[str, Path]:
    repo = home / "backups" / "base" / "20261201T000000Z"
    repo.mkdir(parents=True)
    stale_part = repo / ".tmp-1a2b3c.part"
    stale_part.write_bytes(b"half an upload" * 1000)
    _age(stale_part, 2)
    fresh_part = repo / ".tmp-4d5e6f.part"
    fresh_part.write_bytes(b"being written right now")
    real_object = repo / "base.tar.zst"
    real_object.write_bytes(b"a real backup file")
    _age(real_object, 2)
    drills = home / "drills"
    dead = drills / "20261201T000000Z-aaaaaa"
    (dead / "data").mkdir(parents=True)
    (dead / "data" / "PG_VERSION").write_text("15\n")
    _age(dead, 2)
    running = drills / "20261201T010000Z-bbbbbb"
    (running / "data").mkdir(parents=True)
    (running / "data" / "postmaster.pid").write_text(f"{os.getpid()}\n")
    _age(running, 2)
    return {
        "stale_part": stale_part,
        "fresh_part": fresh_part,
        "real_object": real_object,
        "dead": dead,
        "running": running,
    }


def test_system_removes_only_stale_debris_of_interrupted_work(cli: Cli, home: Path) -> None:
    paths = _debris(home)
    run = cli("maintenance", "system", "--json")
    body = run.json()
    checks = {c["name"]: c for c in body["checks"]}
    assert checks["disk"]["status"] in ("ok", "warning", "critical")  # this machine's disk
    removed = {r["path"] for r in checks["debris"]["details"]["removed"]}
    assert removed == {str(paths["stale_part"]), str(paths["dead"])}
    assert not paths["stale_part"].exists() and not paths["dead"].exists()
    assert paths["fresh_part"].exists() and paths["real_object"].exists()
    assert paths["running"].exists()
    assert checks["debris"]["status"] == "warning"
    assert f"pid {os.getpid()}" in checks["debris"]["summary"]


def test_system_leaves_drill_scratch_alone_while_a_drill_runs(cli: Cli, home: Path) -> None:
    paths = _debris(home)
    with named_lock(home, DRILL_LOCK, purpose="a drill in another terminal"):
        body = cli("maintenance", "system", "--json").json()
    debris = {c["name"]: c for c in body["checks"]}["debris"]
    assert paths["dead"].exists()
    assert not paths["stale_part"].exists()
    assert "a drill is running" in debris["summary"]


def test_a_second_maintenance_run_is_refused_while_one_holds_the_lock(cli: Cli, home: Path) -> None:
    with named_lock(home, "maintenance", purpose="the weekly job"):
        run = cli("maintenance", "logs", "--json")
    assert run.exit_code == 3
    assert "maintenance" in run.json()["error"]["message"]


def test_a_bad_keep_is_refused_naming_it(cli: Cli) -> None:
    run = cli("maintenance", "logs", "--log-keep", "two weeks", "--json")
    assert run.exit_code == 3
    error = run.json()["error"]
    assert "two weeks" in error["message"]
    assert error["field"] == "--log-keep"
