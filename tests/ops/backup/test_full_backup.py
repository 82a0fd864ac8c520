"""Full, logical and schema backups of a real cluster; killed, encrypted, foreign and bad ones."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import tarfile
import time
from pathlib import Path

import pytest
import zstandard

from chairside.errors import LockHeldError, NotFoundError
from chairside.ops.backup import access, codec
from chairside.ops.backup.basebackup import take_full_backup
from chairside.ops.backup.catalog import IncompleteBackupError, RepositoryMismatchError
from chairside.ops.backup.codec import KeyMissingError, WrongKeyError
from chairside.ops.backup.dumps import take_logical_backup, take_schema_backup
from chairside.ops.backup.locks import backup_type_lock
from chairside.ops.timeline.store import open_ops_store
from tests.ops.backup.helpers import CHAIRSIDE, backup_env, make_settings
from tests.support.servers import ClusterFactory

pytestmark = pytest.mark.slow


def test_a_full_backup_is_complete_self_contained_and_recorded(
    cluster_factory: ClusterFactory, tmp_path: Path
) -> None:
    with backup_env(cluster_factory) as env:
        env.sql("CREATE TABLE marker (note text)")
        env.sql("INSERT INTO marker VALUES ('before the backup')")
        result = env.cli("backup", "full", "--json")
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        catalog = access.catalog(env.settings)
        [entry] = catalog.list_backups()
        assert entry.id == report["id"] and entry.complete
        manifest = catalog.read_manifest(entry.id)
        assert {f.name for f in manifest.files} == {
            "backup_manifest",
            "base.tar.zst",
            "pg_wal.tar.zst",
        }
        assert manifest.start_wal and manifest.stop_wal and manifest.timeline == 1
        assert manifest.wal_segment_size == 1024 * 1024
        [(sysid,)] = env.sql("SELECT system_identifier FROM pg_control_system()")
        assert manifest.system_identifier == str(sysid)

        paths = catalog.fetch_files(entry.id, tmp_path / "fetched")
        base = tmp_path / "fetched" / "base.tar.zst"
        assert base in paths
        with base.open("rb") as raw, zstandard.ZstdDecompressor().stream_reader(raw) as plain:
            names = tarfile.open(fileobj=plain, mode="r|").getnames()
        assert "PG_VERSION" in names and "backup_label" in names
        pg_manifest = json.loads((tmp_path / "fetched" / "backup_manifest").read_text())
        assert pg_manifest["WAL-Ranges"][0]["Start-LSN"] == manifest.start_lsn

        listed = json.loads(env.cli("backup", "list", "--json", check=True).stdout)
        assert [b["id"] for b in listed["backups"]] == [entry.id]
        narrow = subprocess.run(  # an 80-column terminal keeps the id whole
            [CHAIRSIDE, "backup", "list"], env={**env.env(), "COLUMNS": "80"},
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        assert entry.id in narrow.stdout
        shown = json.loads(env.cli("backup", "show", entry.id, "--json", check=True).stdout)
        assert shown["manifest"]["stop_wal"] == manifest.stop_wal
        unknown = env.cli("backup", "show", "20200101T000000Z-full", "--json")
        assert unknown.returncode == 2
        assert entry.id in json.loads(unknown.stdout)["error"]["message"]  # names known ids
        [event] = open_ops_store(env.settings).recent(kind_prefix="backup.full")
        assert event.status == "ok" and entry.id in event.summary


def test_a_backup_killed_mid_way_is_never_listed_as_good(
    cluster_factory: ClusterFactory,
) -> None:
    with backup_env(cluster_factory) as env:
        # Enough incompressible data that pg_basebackup runs for a moment to catch.
        env.sql(
            "CREATE TABLE filler AS SELECT g, md5(random()::text) || md5(random()::text) AS t "
            "FROM generate_series(1, 120000) g"
        )
        process = subprocess.Popen(
            [CHAIRSIDE, "backup", "full", "--json"],
            env=env.env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        staging = env.settings.home / "staging"
        deadline = time.monotonic() + 60
        try:
            while not list(staging.glob("*-full/pg/base.tar.zst")):
                assert process.poll() is None, "the backup finished before it could be killed"
                assert time.monotonic() < deadline
                time.sleep(0.005)
            [killed_dir] = staging.glob("*-full")
            process.kill()  # chairside alone: its pg_basebackup must die with it
            process.wait()
            assert _gone(f"{killed_dir}/pg"), "pg_basebackup outlived the killed backup"
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # whatever is left, if the test failed
        catalog = access.catalog(env.settings)
        assert catalog.list_backups() == []
        assert not list((env.repo / "backups").rglob("COMPLETE"))
        status = json.loads(env.cli("backup", "status", "--json").stdout)
        assert status["last_backup"] is None

        # The next backup succeeds and clears the killed run's staging.
        done = take_full_backup(env.settings)
        assert not killed_dir.exists()

        # A crash between the manifest and the marker: the marker is simply not there.
        (env.repo / "backups" / done.manifest.id / "COMPLETE").unlink()
        assert catalog.list_backups() == []
        [incomplete] = catalog.list_backups(include_incomplete=True)
        assert incomplete.id == done.manifest.id and not incomplete.complete
        with pytest.raises(IncompleteBackupError, match="no COMPLETE marker"):
            catalog.read_manifest(incomplete.id)
        status = json.loads(env.cli("backup", "status", "--json").stdout)
        assert status["last_backup"] is None and incomplete.id in status["backups"]["incomplete"]
        pruned = env.cli("backup", "prune", "--yes", "--json", check=True)
        assert json.loads(pruned.stdout)["delete_incomplete"] == [incomplete.id]
        assert not (env.repo / "backups" / incomplete.id).exists()


def _gone(marker: str, timeout: float = 10) -> bool:
    """True once no process has ``marker`` in its command line."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = False
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                if marker.encode() in cmdline.read_bytes():
                    alive = True
                    break
            except OSError:
                continue
        if not alive:
            return True
        time.sleep(0.05)
    return False


def test_encrypted_backups_need_their_key_and_refuse_without_it(
    cluster_factory: ClusterFactory, tmp_path: Path
) -> None:
    with backup_env(cluster_factory) as env:
        key_file = env.root / "backup.key"
        codec.generate_key_file(key_file)
        key_file.chmod(0o644)  # the postgres user reads it to archive WAL
        settings = env.settings.model_copy(update={"backup_key_file": key_file})
        result = take_full_backup(settings)
        stored = env.repo / "backups" / result.manifest.id / "base.tar.zst"
        assert stored.read_bytes().startswith(codec.MAGIC)
        assert result.manifest.encryption is not None
        access.catalog(settings).fetch_files(result.manifest.id, tmp_path / "ok")

        other = env.root / "other.key"
        codec.generate_key_file(other)
        wrong = env.settings.model_copy(update={"backup_key_file": other})
        with pytest.raises(WrongKeyError, match=result.manifest.encryption.key_id):
            access.catalog(wrong).fetch_files(result.manifest.id, tmp_path / "wrong")
        with pytest.raises(WrongKeyError, match="no key is configured"):
            access.catalog(env.settings).fetch_files(result.manifest.id, tmp_path / "none")

        missing = env.settings.model_copy(update={"backup_key_file": env.root / "gone.key"})
        before = sorted(p.name for p in (env.repo / "backups").iterdir())
        with pytest.raises(KeyMissingError, match="gone.key"):
            take_full_backup(missing)
        assert sorted(p.name for p in (env.repo / "backups").iterdir()) == before
        cli_env = env.env() | {"CHAIRSIDE_BACKUP_KEY_FILE": str(env.root / "gone.key")}
        refused = subprocess.run(
            [CHAIRSIDE, "backup", "full"], env=cli_env, capture_output=True, text=True
        )
        assert refused.returncode == 2 and "gone.key" in refused.stderr


def test_a_repository_of_another_cluster_is_refused(cluster_factory: ClusterFactory) -> None:
    with backup_env(cluster_factory) as env:
        take_full_backup(env.settings)
        stranger = cluster_factory.make()
        try:
            settings = make_settings(env.root, stranger)
            with pytest.raises(RepositoryMismatchError, match="system identifier"):
                take_full_backup(settings)
            assert len(access.catalog(env.settings).list_backups()) == 1
            # A second full backup of the same home while one runs is refused, not queued.
            with backup_type_lock(env.settings.home, "full"):
                with pytest.raises(LockHeldError, match="backup-full"):
                    take_full_backup(env.settings)
        finally:
            stranger.stop(mode="immediate")


def test_logical_and_schema_backups_dump_the_named_database(
    cluster_factory: ClusterFactory, tmp_path: Path
) -> None:
    with backup_env(cluster_factory) as env:
        env.cluster.create_database("shopdb")
        env.sql("CREATE TABLE chairs (id int PRIMARY KEY, colour text)", dbname="shopdb")
        env.sql("INSERT INTO chairs VALUES (1, 'red')", dbname="shopdb")
        logical = take_logical_backup(env.settings, database="shopdb")
        schema = take_schema_backup(env.settings, database="shopdb")
        catalog = access.catalog(env.settings)
        assert [e.id for e in catalog.list_backups()] == sorted(
            [logical.manifest.id, schema.manifest.id]
        )
        [dump] = catalog.fetch_files(logical.manifest.id, tmp_path / "logical")
        listing = subprocess.run(
            [str(env.cluster.bin_dir / "pg_restore"), "--list", str(dump)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "TABLE DATA public chairs" in listing
        [sql] = catalog.fetch_files(schema.manifest.id, tmp_path / "schema")
        text = codec.decompress_bytes(sql.read_bytes()).decode()
        assert "CREATE TABLE public.chairs" in text and "red" not in text
        assert logical.manifest.database == "shopdb" and logical.manifest.start_lsn is None

        with pytest.raises(NotFoundError, match="nosuchdb"):
            take_logical_backup(env.settings, database="nosuchdb")


def test_listing_a_missing_repository_names_it(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAIRSIDE_")}
    env["CHAIRSIDE_BACKUP_REPOSITORY"] = str(tmp_path / "no-such-repo")
    env["CHAIRSIDE_HOME"] = str(tmp_path / "home")
    result = subprocess.run(
        [CHAIRSIDE, "backup", "list", "--json"], env=env, capture_output=True, text=True
    )
    assert result.returncode == 2
    error = json.loads(result.stdout)["error"]
    assert "no-such-repo" in error["message"]
