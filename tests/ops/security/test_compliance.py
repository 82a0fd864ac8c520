"""``security audit compliance``: audit log, revocations, backup encryption and age."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from chairside.checks import CheckStatus
from chairside.config import Settings
from chairside.ops.security import compliance
from tests.ops.security.conftest import SecurityCli, check

# What migration 0003 installs, and what taking it away looks like.
OPEN_UP = "DROP TRIGGER audit_log_append_only ON audit_log"


def _sql(database_url: str, statement: str) -> None:
    engine = create_engine(database_url, poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(text(statement))
    engine.dispose()


def test_an_audit_log_open_to_update_and_delete_is_reported_as_not_append_only(
    security_cli: SecurityCli, database_url: str
) -> None:
    _sql(database_url, OPEN_UP)
    run = security_cli("audit", "compliance")
    result = check(run.body, "audit_log")
    assert result["status"] == "warning"
    assert "may UPDATE and DELETE it" in result["summary"]
    assert run.code == 1


def test_the_migrated_audit_log_is_append_only_and_says_so(
    security_cli: SecurityCli, database_url: str
) -> None:
    _sql(
        database_url,
        "INSERT INTO audit_log (action, entity, entity_id) VALUES ('created', 'shop', '1')",
    )
    for statement in (
        "UPDATE audit_log SET action = 'x'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ):
        try:
            _sql(database_url, statement)
        except DBAPIError as exc:
            assert "audit_log is append-only" in str(exc.orig)
        else:
            raise AssertionError(f"{statement} was allowed")
    run = security_cli("audit", "compliance")
    result = check(run.body, "audit_log")
    assert result["status"] == "ok", result["summary"]
    assert result["details"] == {"rows": 1, "update_guarded": True, "delete_guarded": True}


def test_a_missing_audit_log_is_critical(security_cli: SecurityCli, database_url: str) -> None:
    _sql(database_url, "DROP TABLE audit_log")
    run = security_cli("audit", "compliance")
    assert check(run.body, "audit_log")["status"] == "critical"
    assert run.code == 2


def test_unlogged_revocations_are_critical(security_cli: SecurityCli, database_url: str) -> None:
    assert check(security_cli("audit", "compliance").body, "revocations_durable")["status"] == "ok"
    _sql(database_url, "ALTER TABLE token_revocations SET UNLOGGED")
    result = check(security_cli("audit", "compliance").body, "revocations_durable")
    assert result["status"] == "critical"
    assert "token_revocations is UNLOGGED" in result["summary"]


def test_unencrypted_backups_in_production_are_a_warning(settings: Settings) -> None:
    production = settings.model_copy(update={"env": "production"})
    result = compliance.check_backup_encryption(production)
    assert result.status is CheckStatus.WARNING
    assert "CHAIRSIDE_BACKUP_KEY_FILE unset" in result.summary
    assert compliance.check_backup_encryption(settings).status is CheckStatus.OK


def test_a_configured_backup_key_that_is_gone_is_critical(
    settings: Settings, tmp_path: Path
) -> None:
    missing = tmp_path / "backup.key"
    result = compliance.check_backup_encryption(
        settings.model_copy(update={"backup_key_file": missing})
    )
    assert result.status is CheckStatus.CRITICAL
    assert str(missing) in result.summary
    missing.write_bytes(bytes(32))
    keyed = settings.model_copy(update={"backup_key_file": missing})
    assert compliance.check_backup_encryption(keyed).status is CheckStatus.OK


def test_production_without_any_backup_is_critical_by_backup_status(settings: Settings) -> None:
    production = settings.model_copy(update={"env": "production"})
    result = compliance.check_backup_age(production)
    assert result.name == "backup_age"
    assert result.status is CheckStatus.CRITICAL
    assert compliance.check_backup_age(settings).status is CheckStatus.OK  # none set up in test
