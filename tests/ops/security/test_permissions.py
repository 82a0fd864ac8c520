"""``security audit permissions``: secrets, the data directory, backups, the ops store."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

from chairside.checks import CheckStatus
from chairside.config import Settings, load_settings
from chairside.ops.security import permissions
from tests.ops.security.conftest import SecurityCli, check


def _secret(home: Path, name: str = "pg-password", mode: int = 0o600) -> Path:
    directory = home / "secrets"
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    path = directory / name
    path.write_text("s3cret\n")
    path.chmod(mode)
    return path


def test_a_secret_file_readable_by_others_is_critical_and_named(
    security_cli: SecurityCli, settings: Settings
) -> None:
    path = _secret(settings.home, mode=0o644)
    run = security_cli("audit", "permissions")
    assert run.code == 2
    result = check(run.body, "secret_files")
    assert result["status"] == "critical"
    assert f"{path} is 0644 (expected 0600)" in result["summary"]


def test_private_secret_files_pass(security_cli: SecurityCli, settings: Settings) -> None:
    _secret(settings.home)
    (settings.home / "jwt-secret").write_text("x" * 48)
    (settings.home / "jwt-secret").chmod(0o600)
    run = security_cli("audit", "permissions")
    result = check(run.body, "secret_files")
    assert result["status"] == "ok"
    assert "2 secret file(s)" in result["summary"]
    assert run.code == 0


def test_a_development_secret_readable_by_group_is_critical(settings: Settings) -> None:
    settings.home.mkdir(parents=True)
    path = settings.home / "jwt-secret"
    path.write_text("x" * 48)
    path.chmod(0o640)
    result = permissions.check_secrets(settings.home)
    assert result.status is CheckStatus.CRITICAL
    assert str(path) in result.summary


def test_an_open_secrets_directory_is_critical(settings: Settings) -> None:
    _secret(settings.home)
    (settings.home / "secrets").chmod(0o755)
    result = permissions.check_secrets(settings.home)
    assert result.status is CheckStatus.CRITICAL
    assert f"{settings.home / 'secrets'} is 0755 (expected 0700)" in result.summary


def test_an_embedded_data_directory_open_to_others_or_owned_by_another_user_is_critical(
    tmp_path: Path,
) -> None:
    embedded = load_settings(home=tmp_path / "home", env="test")
    data_dir = embedded.home / "pg" / "data"
    data_dir.mkdir(parents=True)
    data_dir.chmod(0o755)
    nobody = pwd.getpwnam("nobody")
    os.chown(data_dir, nobody.pw_uid, nobody.pw_gid)
    result = permissions.check_postgres_data_dir(embedded)
    assert result.status is CheckStatus.CRITICAL
    assert "mode 0755 (expected 0700)" in result.summary
    assert "owner nobody" in result.summary


def test_the_embedded_clusters_real_data_directory_passes(
    tmp_path: Path, pg_cluster: object
) -> None:
    from chairside.runtime.postgres import PostgresCluster

    assert isinstance(pg_cluster, PostgresCluster)
    embedded = load_settings(home=tmp_path / "home", env="test")
    (embedded.home / "pg").mkdir(parents=True)
    (embedded.home / "pg" / "data").symlink_to(pg_cluster.data_dir)
    result = permissions.check_postgres_data_dir(embedded)
    assert result.status is CheckStatus.OK, result.summary


def test_a_world_readable_backup_repository_is_critical(settings: Settings) -> None:
    repository = Path(settings.backup_repository_url)
    repository.mkdir(parents=True)
    repository.chmod(0o755)
    result = permissions.check_backup_repository(settings)
    assert result.status is CheckStatus.CRITICAL
    assert f"{repository} is 0755" in result.summary
    repository.chmod(0o750)
    assert permissions.check_backup_repository(settings).status is CheckStatus.OK


def test_a_world_writable_ops_store_is_critical(settings: Settings) -> None:
    settings.home.mkdir(parents=True)
    store = settings.home / "ops.db"
    store.write_bytes(b"")
    store.chmod(0o666)
    result = permissions.check_ops_store(settings.home)
    assert result.status is CheckStatus.CRITICAL
    assert f"{store} is 0666" in result.summary


def test_world_writable_files_under_the_home_are_listed(settings: Settings) -> None:
    (settings.home / "log").mkdir(parents=True)
    loose = settings.home / "log" / "chairside.log"
    loose.write_text("")
    loose.chmod(0o666)
    sticky = settings.home / "tmp"
    sticky.mkdir()
    sticky.chmod(0o1777)  # like /tmp: others may write, not remove others' files
    result = permissions.check_world_writable(settings.home)
    assert result.status is CheckStatus.WARNING
    assert result.details["paths"] == [str(loose)]
