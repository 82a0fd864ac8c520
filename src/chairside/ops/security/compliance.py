"""Compliance facts: the audit log exists and cannot be rewritten, revocations survive a
crash, inactive clients are anonymised on time (privacy/retention.py), backups are
encrypted and recent.

Backup age is ``backup status``'s own judgement (through health's ``check_backups``), with
its thresholds; nothing here re-derives it.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, text

from chairside.checks import CheckResult, CheckStatus
from chairside.config import Settings
from chairside.errors import ChairsideError
from chairside.ops.database.connection import app_database
from chairside.ops.health.backups import check_backups
from chairside.privacy.retention import check_retention

# pg_trigger.tgtype bits (PostgreSQL's TRIGGER_TYPE_DELETE and TRIGGER_TYPE_UPDATE).
TRIGGER_ON_DELETE = 8
TRIGGER_ON_UPDATE = 16


def check_compliance(settings: Settings) -> list[CheckResult]:
    """Audit log, revocations, privacy retention, backup encryption and age."""
    try:
        with app_database(settings) as conn:
            database = [
                check_audit_log(conn),
                check_revocations_durable(conn),
                check_retention(settings, conn),
            ]
    except ChairsideError as exc:
        database = [CheckResult("audit_log", CheckStatus.UNKNOWN, exc.message)]
    return [*database, check_backup_encryption(settings), check_backup_age(settings)]


def check_audit_log(conn: Connection) -> CheckResult:
    """Critical when audit_log is missing; warning when nothing stops UPDATE or DELETE on it."""
    if conn.execute(text("SELECT to_regclass('audit_log')")).scalar_one() is None:
        return CheckResult(
            "audit_log",
            CheckStatus.CRITICAL,
            "no audit_log table in the application database; expected it (run `chairside db "
            "migrate`)",
        )
    row = conn.execute(
        text(
            "SELECT"
            " coalesce(bool_or(t.tgtype & :update > 0), false) AS update_trigger,"
            " coalesce(bool_or(t.tgtype & :delete > 0), false) AS delete_trigger,"
            " has_table_privilege('audit_log', 'UPDATE') AS may_update,"
            " has_table_privilege('audit_log', 'DELETE') AS may_delete,"
            " EXISTS (SELECT 1 FROM pg_rewrite r WHERE r.ev_class = 'audit_log'::regclass"
            "   AND r.is_instead AND r.ev_type = '2') AS update_rule,"
            " EXISTS (SELECT 1 FROM pg_rewrite r WHERE r.ev_class = 'audit_log'::regclass"
            "   AND r.is_instead AND r.ev_type = '4') AS delete_rule"
            " FROM (SELECT 1) one LEFT JOIN pg_trigger t"
            "  ON t.tgrelid = 'audit_log'::regclass AND NOT t.tgisinternal AND t.tgenabled <> 'D'"
        ),
        {"update": TRIGGER_ON_UPDATE, "delete": TRIGGER_ON_DELETE},
    ).one()
    count = conn.execute(text("SELECT count(*) FROM audit_log")).scalar_one()
    details: dict[str, object] = {
        "rows": int(count),
        "update_guarded": bool(row.update_trigger or row.update_rule or not row.may_update),
        "delete_guarded": bool(row.delete_trigger or row.delete_rule or not row.may_delete),
    }
    open_to = [
        verb
        for verb, guarded in (
            ("UPDATE", details["update_guarded"]),
            ("DELETE", details["delete_guarded"]),
        )
        if not guarded
    ]
    if open_to:
        return CheckResult(
            "audit_log",
            CheckStatus.WARNING,
            f"audit_log ({count} rows) is not append-only: the application's database role "
            f"may {' and '.join(open_to)} it and no trigger or rule refuses that; expected a "
            "trigger, an INSTEAD rule or revoked privileges",
            details=details,
        )
    return CheckResult(
        "audit_log",
        CheckStatus.OK,
        f"audit_log ({count} rows) refuses UPDATE and DELETE",
        details=details,
    )


def check_revocations_durable(conn: Connection) -> CheckResult:
    """Critical when token revocations are not in a logged PostgreSQL table."""
    row = conn.execute(
        text(
            "SELECT c.relpersistence,"
            " EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = 'users'::regclass"
            "   AND a.attname = 'tokens_valid_after' AND NOT a.attisdropped) AS cutoff"
            " FROM pg_class c WHERE c.oid = to_regclass('token_revocations')"
        )
    ).first()
    if row is None or not row.cutoff:
        return CheckResult(
            "revocations_durable",
            CheckStatus.CRITICAL,
            "token_revocations or users.tokens_valid_after is missing: logouts would not "
            "survive a restart; expected both (run `chairside db migrate`)",
        )
    if row.relpersistence != "p":
        kind = {"u": "UNLOGGED", "t": "TEMPORARY"}.get(row.relpersistence, row.relpersistence)
        return CheckResult(
            "revocations_durable",
            CheckStatus.CRITICAL,
            f"token_revocations is {kind}: a crash would forget every logout; expected a "
            "logged table (ALTER TABLE token_revocations SET LOGGED)",
        )
    return CheckResult(
        "revocations_durable",
        CheckStatus.OK,
        "revocations are kept in PostgreSQL (logged table token_revocations and "
        "users.tokens_valid_after); Redis only caches them",
    )


def check_backup_encryption(settings: Settings) -> CheckResult:
    """Warning in production when backups are written unencrypted; critical if the key is gone."""
    key = settings.backup_key_file
    if key is None:
        status = CheckStatus.WARNING if settings.env == "production" else CheckStatus.OK
        return CheckResult(
            "backup_encryption",
            status,
            "backups are not encrypted (CHAIRSIDE_BACKUP_KEY_FILE unset); expected a key file"
            + ("" if status is CheckStatus.WARNING else f" in production ({settings.env} now)"),
        )
    if not Path(key).is_file():
        return CheckResult(
            "backup_encryption",
            CheckStatus.CRITICAL,
            f"CHAIRSIDE_BACKUP_KEY_FILE={key} does not exist: backups refuse to run; "
            "expected a readable 32-byte key",
        )
    return CheckResult("backup_encryption", CheckStatus.OK, f"backups encrypted with {key}")


def check_backup_age(settings: Settings) -> CheckResult:
    """``backup status``'s verdict on the newest good full backup, when backups are set up."""
    url = settings.backup_repository_url
    local = not url.startswith("s3://")
    if local and not Path(url.removeprefix("file://")).exists() and settings.env != "production":
        return CheckResult(
            "backup_age",
            CheckStatus.OK,
            f"no backup repository at {url} ({settings.env}); production needs backups",
        )
    return check_backups(settings)[0]
