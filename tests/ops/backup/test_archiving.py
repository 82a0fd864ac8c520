"""WAL archiving through PostgreSQL's real archive_command, run as the postgres user."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chairside.config import load_settings
from chairside.errors import ConfigError
from chairside.ops.backup import access
from chairside.ops.backup.archiving import archive_command, configure_archiving
from tests.ops.backup.helpers import backup_env, make_settings
from tests.support.servers import ClusterFactory, remove_tree, scratch_dir

pytestmark = pytest.mark.slow


def test_archive_command_puts_each_finished_segment_in_the_repository(
    cluster_factory: ClusterFactory,
) -> None:
    with backup_env(cluster_factory) as env:
        env.sql("CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 1000) g")
        name = env.switch_and_wait()
        [entry] = access.wal_archive(env.settings).find(name)
        assert entry.key.startswith(f"wal/{name[:16]}/{name}-") and entry.key.endswith(".zst")
        assert entry.stored_size < 1024 * 1024  # compressed
        [(failed,)] = env.sql("SELECT failed_count FROM pg_stat_archiver")
        assert failed == 0
        identity = json.loads((env.repo / "repository.json").read_text())
        [(sysid,)] = env.sql("SELECT system_identifier FROM pg_control_system()")
        assert identity["system_identifier"] == str(sysid)
        # the command names the program and its settings explicitly
        command = env.cluster.read_config()["archive_command"]
        assert "CHAIRSIDE_BACKUP_REPOSITORY=" in command and "wal_cli push %p" in command


def test_pushing_a_segment_again_succeeds_and_different_content_fails_loudly(
    cluster_factory: ClusterFactory, tmp_path: Path
) -> None:
    with backup_env(cluster_factory) as env:
        env.sql("CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 1000) g")
        name = env.switch_and_wait()
        # Fetch the archived segment back through restore_command's entry point.
        fetched = env.root / "fetched" / name
        env.cli("wal", "fetch", name, str(fetched), check=True)
        live = env.cluster.data_dir / "pg_wal" / name
        if live.exists():
            assert fetched.read_bytes() == live.read_bytes()
        again = env.cli("wal", "push", str(fetched), "--json", check=True)
        assert json.loads(again.stdout)["stored"] is False

        data = bytearray(fetched.read_bytes())
        data[len(data) // 2] ^= 0xFF
        fetched.write_bytes(bytes(data))
        before = sorted(p.name for p in (env.repo / "wal" / name[:16]).iterdir())
        refused = env.cli("wal", "push", str(fetched))
        assert refused.returncode != 0
        assert name in refused.stderr and "refusing to overwrite" in refused.stderr
        assert sorted(p.name for p in (env.repo / "wal" / name[:16]).iterdir()) == before


def test_wal_fetch_of_an_unarchived_segment_fails_without_writing(
    cluster_factory: ClusterFactory,
) -> None:
    with backup_env(cluster_factory) as env:
        target = env.root / "restore" / "RECOVERYXLOG"
        result = env.cli("wal", "fetch", "00000001000000FF000000FF", str(target))
        assert result.returncode == 2 and not target.exists()


def test_configuring_refuses_a_key_the_postgres_user_cannot_read(
    cluster_factory: ClusterFactory, tmp_path: Path
) -> None:
    root = scratch_dir()
    try:
        cluster = cluster_factory.make(start=False)
        key_file = tmp_path / "private" / "backup.key"  # pytest's tmp is 0700 root
        key_file.parent.mkdir()
        key_file.write_text("ab" * 32)
        settings = make_settings(root, cluster, backup_key_file=key_file)
        with pytest.raises(ConfigError, match="cannot read CHAIRSIDE_BACKUP_KEY_FILE"):
            configure_archiving(cluster, settings)
        missing = make_settings(root, cluster, backup_key_file=root / "absent.key")
        with pytest.raises(ConfigError, match="does not exist"):
            configure_archiving(cluster, missing)
        assert "archive_command" not in cluster.read_config()
    finally:
        remove_tree(root)


def test_percent_signs_in_paths_survive_postgres_expansion(tmp_path: Path) -> None:
    settings = load_settings(
        env="test", home=tmp_path / "home", backup_repository=str(tmp_path / "100%repo")
    )
    command = archive_command(settings)
    assert "100%%repo" in command and command.endswith(" %p")


def test_an_s3_archive_command_names_the_bucket_but_never_the_secret(tmp_path: Path) -> None:
    settings = load_settings(
        env="test",
        home=tmp_path / "home",
        backup_repository="s3://bucket/prefix",
        s3_endpoint_url="http://127.0.0.1:9000",
        s3_access_key_id="AKIAEXAMPLE",
        s3_secret_access_key="very-secret-value",
    )
    command = archive_command(settings)
    assert "CHAIRSIDE_S3_ENDPOINT_URL=http://127.0.0.1:9000" in command
    assert "very-secret-value" not in command
