"""`chairside backup sync` as an operator runs it: JSON, dry run, guards, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from chairside.config import Settings, load_settings
from chairside.ops.backup.catalog import BackupCatalog
from chairside.ops.backup.repository.s3 import S3Repository
from chairside.ops.backup.sync.operation import execute_sync, prepare_sync
from chairside.runtime.ports import free_port
from tests.support.seaweed import SeaweedServer

from .conftest import SourceBuilder

CHAIRSIDE = str(Path(sys.executable).parent / "chairside")


def sync_cli(
    source: SourceBuilder, seaweed: SeaweedServer, home: Path, *args: str
) -> tuple[int, dict[str, object]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAIRSIDE_")}
    env.pop("DATABASE_URL", None)
    env.update(seaweed.environment())
    env.update(
        CHAIRSIDE_ENV="test",
        CHAIRSIDE_HOME=str(home),
        CHAIRSIDE_BACKUP_REPOSITORY=source.repository.url,
    )
    result = subprocess.run(
        [CHAIRSIDE, "backup", "sync", *args, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    return result.returncode, json.loads(result.stdout)


def test_a_dry_run_prints_the_plan_and_sends_nothing(
    source: SourceBuilder, seaweed: SeaweedServer, dr_url: str, tmp_path: Path
) -> None:
    backup_id = source.backup()

    code, plan = sync_cli(source, seaweed, tmp_path / "home", "--to", dr_url, "--dry-run")

    assert code == 0
    assert plan["dry_run"] is True
    assert [b["id"] for b in plan["backups_to_send"]] == [backup_id]  # type: ignore[attr-defined]
    assert plan["wal_to_send"] == 1 and plan["bytes_to_send"] > 0  # type: ignore[operator]
    bucket = dr_url.removeprefix("s3://").split("/")[0]
    assert seaweed.client().list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0


def test_it_syncs_and_reports_what_it_sent(
    source: SourceBuilder, seaweed: SeaweedServer, dr_url: str, tmp_path: Path
) -> None:
    backup_id = source.backup()

    code, report = sync_cli(source, seaweed, tmp_path / "home", "full", "--to", dr_url)

    assert code == 0, report
    assert report["ok"] is True and report["mode"] == "full"
    assert report["backups_sent"] == [backup_id]
    assert report["bytes_sent"] > 0  # type: ignore[operator]


def test_it_refuses_another_clusters_dr_repository_with_exit_3(
    source: SourceBuilder, seaweed: SeaweedServer, tmp_path: Path
) -> None:
    source.backup()
    bucket = seaweed.new_bucket("other")
    other = {"format": 1, "system_identifier": "7000000000000000042", "pg_version": 150000}
    other["created"] = "2026-01-01T00:00:00+00:00"
    seaweed.client().put_object(
        Bucket=bucket, Key="dr/repository.json", Body=json.dumps(other).encode()
    )

    code, refused = sync_cli(source, seaweed, tmp_path / "home", "--to", f"s3://{bucket}/dr")

    assert code == 3
    message = refused["error"]["message"]  # type: ignore[index]
    assert "7000000000000000042" in message and source.system_identifier in message
    listing = seaweed.client().list_objects_v2(Bucket=bucket)
    assert [o["Key"] for o in listing["Contents"]] == ["dr/repository.json"]


def test_dr_retention_deletes_nothing_without_yes_off_a_terminal(
    source: SourceBuilder, seaweed: SeaweedServer, dr_url: str, tmp_path: Path
) -> None:
    first = source.backup()
    assert sync_cli(source, seaweed, tmp_path / "home", "--to", dr_url)[0] == 0
    second = source.backup()

    code, refused = sync_cli(source, seaweed, tmp_path / "home", "--to", dr_url, "--keep", "1")

    assert code == 3
    assert "--yes" in refused["error"]["message"]  # type: ignore[index]
    dr = S3Repository.from_url(dr_url, _settings(seaweed, tmp_path))
    assert [e.id for e in BackupCatalog(dr).list_backups()] == [first]

    code, _ = sync_cli(source, seaweed, tmp_path / "home", "--to", dr_url, "--keep", "1", "--yes")
    assert code == 0
    assert [e.id for e in BackupCatalog(dr).list_backups()] == [second]


def test_an_unreachable_dr_endpoint_fails_fast_with_exit_1_naming_it(
    source: SourceBuilder, seaweed: SeaweedServer, tmp_path: Path
) -> None:
    source.backup()
    dead = f"s3://dr-bucket/x?endpoint=http://127.0.0.1:{free_port()}"

    started = time.monotonic()
    code, failed = sync_cli(source, seaweed, tmp_path / "home", "--to", dead)

    assert code == 1
    assert "dr-bucket" in failed["error"]["message"]  # type: ignore[index]
    assert "does not answer" in failed["error"]["message"]  # type: ignore[index]
    assert time.monotonic() - started < 20


def test_a_sync_killed_mid_way_is_finished_by_the_next_run_without_resending(
    source: SourceBuilder, seaweed: SeaweedServer, dr_url: str, tmp_path: Path
) -> None:
    backups = [source.backup(size=6_000_000) for _ in range(4)]
    bucket, prefix = dr_url.removeprefix("s3://").split("/", 1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAIRSIDE_")}
    env.update(seaweed.environment())
    env.update(
        CHAIRSIDE_ENV="test",
        CHAIRSIDE_HOME=str(tmp_path / "home"),
        CHAIRSIDE_BACKUP_REPOSITORY=source.repository.url,
    )
    with subprocess.Popen(
        [CHAIRSIDE, "backup", "sync", "--to", dr_url, "--json"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ) as syncing:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and syncing.poll() is None:
            listing = seaweed.client().list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/backups/")
            if listing.get("KeyCount", 0) >= 2:
                break
            time.sleep(0.02)
        syncing.kill()  # SIGKILL: no clean-up, no goodbye
        syncing.wait(timeout=10)

    dr = S3Repository.from_url(dr_url, _settings(seaweed, tmp_path))
    arrived = {info.key: info.size for info in dr.list()}
    for entry in BackupCatalog(dr).list_backups():  # complete means every file is there
        assert entry.manifest is not None
        for file in entry.manifest.files:
            assert arrived[f"backups/{entry.id}/{file.name}"] == file.stored_size

    resumed = execute_sync(
        _settings(seaweed, tmp_path, backup_repository=source.repository.url),
        prepare_sync(
            _settings(seaweed, tmp_path, backup_repository=source.repository.url),
            target_url=dr_url,
        ),
    )

    assert [e.id for e in BackupCatalog(dr).list_backups()] == backups
    everything = {info.key for info in dr.list()}
    assert 0 < resumed.objects_sent == len(everything - set(arrived))


def _settings(seaweed: SeaweedServer, tmp_path: Path, **overrides: object) -> Settings:
    return load_settings(
        env="test", home=tmp_path / "home", **seaweed.settings_overrides(), **overrides
    )
