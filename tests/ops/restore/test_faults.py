"""Injected faults: each is caught by `backup validate` and refused by `restore`, named.

One cluster with two full backups and archived WAL is built once; each test damages its
own copy of the repository for real (a flipped byte, a truncated file, a deleted
segment or marker, a second copy of a segment with other content, a wrong key) and runs
the real `chairside` program against it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from chairside.cli.main import app
from chairside.config import get_settings
from chairside.ops.backup import codec
from chairside.ops.backup.basebackup import take_full_backup
from chairside.ops.backup.manifest import Manifest
from chairside.ops.restore import service
from chairside.ops.restore.targets import LATEST
from tests.ops.backup.helpers import BackupEnv, backup_env
from tests.ops.restore.helpers import (
    MarkerRow,
    cli,
    cloned_repository,
    copy_conninfo,
    stop_copy,
    track_commit_times,
    write_markers,
)
from tests.support.servers import ClusterFactory

pytestmark = pytest.mark.slow


@dataclass
class World:
    env: BackupEnv
    first: Manifest
    second: Manifest
    late: list[MarkerRow]


@pytest.fixture(scope="module")
def world(cluster_factory: ClusterFactory) -> Iterator[World]:
    with backup_env(cluster_factory) as env:
        track_commit_times(env)
        first = take_full_backup(env.settings).manifest
        write_markers(env, range(1, 3), pad_bytes=50_000)
        second = take_full_backup(env.settings).manifest
        late = write_markers(env, range(3, 7), pad_bytes=50_000)
        yield World(env, first, second, late)


def run(world: World, repo: Path, *args: str) -> tuple[int, dict[str, object]]:
    settings = world.env.settings.model_copy(update={"backup_repository": str(repo)})
    result = cli(world.env, *args, "--json", settings=settings)
    assert result.stdout, result.stderr
    return result.returncode, json.loads(result.stdout)


def error_of(body: dict[str, object]) -> str:
    error = body["error"]
    assert isinstance(error, dict)
    return str(error["message"])


def failing_checks(report: dict[str, object], backup_id: str) -> dict[str, str]:
    backups = report["backups"]
    assert isinstance(backups, list)
    [entry] = [b for b in backups if b["backup_id"] == backup_id]
    return {c["name"]: c["summary"] for c in entry["checks"] if c["status"] != "ok"}


def wal_key(repo: Path, name: str) -> Path:
    [path] = (repo / "wal" / name[:16]).glob(f"{name}-*.zst")
    return path


def test_a_flipped_byte_in_a_base_backup_file_is_caught_and_refused(world: World) -> None:
    repo, _ = cloned_repository(world.env, "flip")
    base = repo / "backups" / world.second.id / "base.tar.zst"
    data = bytearray(base.read_bytes())
    data[len(data) // 2] ^= 0x01
    base.write_bytes(bytes(data))

    code, report = run(world, repo, "backup", "validate", world.second.id, "--integrity-only")
    assert code == 2
    assert "base.tar.zst is damaged" in failing_checks(report, world.second.id)["files"]

    code, body = run(world, repo, "restore", "full", world.second.id,
                     "--to", str(world.env.root / "flip-copy"))  # fmt: skip
    assert code == 1 and "base.tar.zst is damaged" in error_of(body)
    assert not (world.env.root / "flip-copy").exists()


def test_a_truncated_file_is_caught_and_refused(world: World) -> None:
    repo, _ = cloned_repository(world.env, "trunc")
    wal_tar = repo / "backups" / world.first.id / "pg_wal.tar.zst"
    os.truncate(wal_tar, wal_tar.stat().st_size // 2)

    code, report = run(world, repo, "backup", "validate")
    assert code == 2
    assert "pg_wal.tar.zst is damaged" in failing_checks(report, world.first.id)["files"]
    assert failing_checks(report, world.second.id) == {}

    code, body = run(world, repo, "restore", "full", world.first.id,
                     "--to", str(world.env.root / "trunc-copy"))  # fmt: skip
    assert code == 1 and "pg_wal.tar.zst is damaged" in error_of(body)


def test_a_missing_wal_segment_in_the_middle_is_caught_and_refused(world: World) -> None:
    repo, _ = cloned_repository(world.env, "gap")
    segment = _segment_of(world.late[1].lsn_after)
    wal_key(repo, segment).unlink()

    code, report = run(world, repo, "backup", "validate", world.second.id)
    assert code == 2
    assert (
        f"WAL segment {segment} is missing" in failing_checks(report, world.second.id)["continuity"]
    )

    code, body = run(world, repo, "restore", "full", "--to", str(world.env.root / "gap-copy"))
    assert code == 1 and f"WAL segment {segment}" in error_of(body)
    later = world.late[-1].committed_at.isoformat()
    code, body = run(world, repo, "restore", "pitr", "--target-time", later,
                     "--to", str(world.env.root / "gap-copy2"))  # fmt: skip
    assert code in (1, 2) and segment in error_of(body)
    assert not (world.env.root / "gap-copy").exists()


def test_a_backup_without_its_marker_is_caught_and_never_restored(world: World) -> None:
    repo, _ = cloned_repository(world.env, "marker")
    # What a backup killed before its last write leaves: everything but the marker.
    (repo / "backups" / world.second.id / "COMPLETE").unlink()

    code, report = run(world, repo, "backup", "validate")
    assert code == 1  # an interrupted backup is a warning when listing them all ...
    assert "incomplete" in failing_checks(report, world.second.id)["marker"]
    code, report = run(world, repo, "backup", "validate", world.second.id)
    assert code == 2  # ... and critical when it is the one asked about
    assert not (repo / "backups" / world.second.id / "validation.json").exists()

    code, body = run(world, repo, "restore", "full", world.second.id,
                     "--to", str(world.env.root / "marker-copy"))  # fmt: skip
    assert code == 2 and "incomplete" in error_of(body)


def test_a_segment_archived_twice_with_different_content_is_caught_and_refused(
    world: World,
) -> None:
    repo, _ = cloned_repository(world.env, "twice")
    segment = _segment_of(world.late[2].lsn_after)
    original = wal_key(repo, segment)
    impostor = original.with_name(f"{segment}-{'0' * 64}.zst")
    impostor.write_bytes(original.read_bytes()[:-1] + b"\x00")

    code, report = run(world, repo, "backup", "validate", world.second.id)
    assert code == 2
    assert segment in failing_checks(report, world.second.id)["wal_integrity"]

    code, body = run(world, repo, "restore", "full", "--to", str(world.env.root / "twice-copy"))
    assert code != 0 and f"WAL {segment} is archived more than once" in error_of(body)
    assert not (world.env.root / "twice-copy").exists()


def test_a_wrong_encryption_key_is_named_by_validate_and_restore(
    cluster_factory: ClusterFactory, scratch_base: Path
) -> None:
    keys = scratch_base / "keys"
    keys.mkdir()
    right = codec.generate_key_file(keys / "right.key")
    (keys / "right.key").chmod(0o644)  # the postgres user archives WAL with it
    wrong = codec.generate_key_file(keys / "wrong.key")
    with backup_env(cluster_factory, backup_key_file=keys / "right.key") as env:
        take_full_backup(env.settings)
        env.switch_and_wait()
        ok = cli(env, "backup", "validate", "--json", settings=env.settings)
        assert ok.returncode == 0, ok.stdout
        wrong_settings = env.settings.model_copy(update={"backup_key_file": keys / "wrong.key"})

        result = cli(env, "backup", "validate", "--json", settings=wrong_settings)
        assert result.returncode == 2
        assert right.key_id in result.stdout and wrong.key_id in result.stdout

        result = cli(env, "restore", "full", "--to", str(env.root / "copy"), "--json",
                     settings=wrong_settings)  # fmt: skip
        assert result.returncode == 2
        message = error_of(json.loads(result.stdout))
        assert right.key_id in message and wrong.key_id in message
        assert not (env.root / "copy").exists()

        # With the right key the same encrypted backup and WAL restore.
        env.sql("CREATE TABLE after_backup AS SELECT 42 AS answer")
        env.switch_and_wait()
        restored = service.restore_database(
            env.settings, request=service.RestoreRequest(target=LATEST, to=env.root / "copy")
        )
        try:
            with psycopg.connect(copy_conninfo(restored), autocommit=True) as conn:
                assert conn.execute("SELECT answer FROM after_backup").fetchone() == (42,)
        finally:
            stop_copy(restored.data_dir)


def _segment_of(lsn: str, timeline: int = 1, size: int = 1024 * 1024) -> str:
    high, low = (int(part, 16) for part in lsn.split("/"))
    segno = ((high << 32) | low) // size
    per_log = 0x100000000 // size
    return f"{timeline:08X}{segno // per_log:08X}{segno % per_log:08X}"


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("restore", "full", "20990101T000000Z-full"), "'20990101T000000Z-full' is not in"),
        (("restore", "full", "last-tuesday"), "backup id 'last-tuesday' is malformed"),
        (("restore", "pitr", "--target-time", "yesterday noon"), "'yesterday noon' is not a time"),
        (("restore", "pitr", "--target-time", "2999-01-01T00:00:00Z"), "is in the future"),
        (("restore", "pitr", "--target-lsn", "16B3748"), "target LSN '16B3748' is malformed"),
        (("restore", "pitr"), "give exactly one recovery target"),
        (("backup", "validate", "20990101T000000Z-full"), "'20990101T000000Z-full' is not in"),
    ],
)
def test_bad_input_is_refused_with_a_message_naming_it(
    world: World, args: tuple[str, ...], named: str
) -> None:
    extra = ("--to", str(world.env.root / "bad")) if args[0] == "restore" else ()
    code, output = in_process(world.env, *args, *extra, "--json")
    expected = 3 if args[0] == "backup" else 2  # a check that cannot run is "unknown"
    assert code == expected, output
    assert named in error_of(json.loads(output))
    assert not (world.env.root / "bad").exists()


def in_process(env: BackupEnv, *args: str) -> tuple[int, str]:
    """The real command, run in this process (input errors need no second interpreter)."""
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, list(args), env=env.env())
    finally:
        get_settings.cache_clear()
    return result.exit_code, result.stdout


def test_a_missing_repository_is_named(world: World) -> None:
    missing = world.env.root / "no-such-repo"
    env = world.env.env()
    env["CHAIRSIDE_BACKUP_REPOSITORY"] = str(missing)
    for args, expected in ((("restore", "full", "--to", str(world.env.root / "m")), 2),
                           (("backup", "validate"), 3)):  # fmt: skip
        get_settings.cache_clear()
        try:
            result = CliRunner().invoke(app, [*args, "--json"], env=env)
        finally:
            get_settings.cache_clear()
        assert result.exit_code == expected and str(missing) in error_of(json.loads(result.stdout))
