"""Network exposure of PostgreSQL and Redis, asked of the live servers.

PostgreSQL: where it listens and whether it encrypts (``listen_addresses``, ``ssl``), how
it stores passwords (``password_encryption``: scram-sha-256 expected), and the
``pg_hba.conf`` rules that let a host in with no password (``trust``). Redis: where it
binds and whether it asks for a password.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import ip_network
from typing import Any, cast

import redis
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from chairside.checks import CheckResult, CheckStatus
from chairside.config import Settings
from chairside.db import redis_url
from chairside.errors import ChairsideError
from chairside.ops.database.connection import app_database

LOOPBACK_ADDRESSES = {"localhost", "127.0.0.1", "::1"}
HOST_RULE_TYPES = {"host", "hostssl", "hostnossl", "hostgssenc", "hostnogssenc"}


@dataclass(frozen=True)
class HbaRule:
    """One line of pg_hba.conf as ``pg_hba_file_rules`` shows it."""

    line_number: int
    type: str
    databases: tuple[str, ...]
    users: tuple[str, ...]
    address: str | None
    netmask: str | None
    auth_method: str | None
    error: str | None = None

    def __str__(self) -> str:
        where = self.address or ""
        if self.netmask:
            where += f"/{self.netmask}"
        return (
            f"line {self.line_number}: {self.type} {','.join(self.databases)} "
            f"{','.join(self.users)} {where} {self.auth_method}".replace("  ", " ")
        )


def check_network(settings: Settings) -> list[CheckResult]:
    """PostgreSQL's and Redis's exposure checks."""
    return [*check_postgres(settings), check_redis(settings)]


def check_postgres(settings: Settings) -> list[CheckResult]:
    """listen/ssl, password encryption and trust rules of the application database's server."""
    try:
        with app_database(settings) as conn:
            listen = _show(conn, "listen_addresses")
            ssl = _show(conn, "ssl")
            encryption = _show(conn, "password_encryption")
            rules = read_hba_rules(conn)
    except ChairsideError as exc:
        return [CheckResult("postgres_network", CheckStatus.UNKNOWN, exc.message)]
    hba = (
        CheckResult(
            "postgres_hba",
            CheckStatus.UNKNOWN,
            "cannot read pg_hba_file_rules (needs a superuser or pg_read_all_settings): " + rules,
        )
        if isinstance(rules, str)
        else judge_hba(rules)
    )
    return [judge_listen(listen, ssl), judge_password_encryption(encryption), hba]


def read_hba_rules(conn: Connection) -> list[HbaRule] | str:
    """The rules of the server's pg_hba.conf file, or why they cannot be read."""
    try:
        rows = conn.execute(
            text(
                "SELECT line_number, type, database, user_name, address, netmask, auth_method, "
                "error FROM pg_hba_file_rules ORDER BY line_number"
            )
        ).all()
    except DBAPIError as exc:
        conn.rollback()
        return str(exc.orig).strip().splitlines()[0]
    return [
        HbaRule(
            line_number=int(row.line_number or 0),
            type=str(row.type),
            databases=tuple(row.database or ()),
            users=tuple(row.user_name or ()),
            address=row.address,
            netmask=row.netmask,
            auth_method=row.auth_method,
            error=row.error,
        )
        for row in rows
    ]


def judge_listen(listen_addresses: str, ssl: str) -> CheckResult:
    """Warning when PostgreSQL listens beyond loopback without TLS."""
    addresses = [a.strip() for a in listen_addresses.split(",") if a.strip()]
    exposed = [a for a in addresses if a not in LOOPBACK_ADDRESSES]
    details: dict[str, object] = {"listen_addresses": listen_addresses, "ssl": ssl}
    if not exposed:
        where = listen_addresses or "Unix sockets only"
        return CheckResult(
            "postgres_listen", CheckStatus.OK, f"listens on {where} (loopback)", details=details
        )
    if ssl != "on":
        return CheckResult(
            "postgres_listen",
            CheckStatus.WARNING,
            f"listen_addresses={listen_addresses!r} reaches beyond loopback with ssl=off: "
            "passwords and data cross the network in clear; expected ssl=on or "
            "listen_addresses='localhost'",
            details=details,
        )
    return CheckResult(
        "postgres_listen",
        CheckStatus.OK,
        f"listens on {listen_addresses!r} with ssl=on",
        details=details,
    )


def judge_password_encryption(value: str) -> CheckResult:
    """Warning unless new passwords are stored as scram-sha-256."""
    if value == "scram-sha-256":
        return CheckResult("postgres_password_encryption", CheckStatus.OK, "scram-sha-256")
    return CheckResult(
        "postgres_password_encryption",
        CheckStatus.WARNING,
        f"password_encryption={value!r}; expected 'scram-sha-256' (md5 hashes are replayable)",
    )


def judge_hba(rules: Sequence[HbaRule]) -> CheckResult:
    """Critical for ``trust`` from non-loopback addresses; warning for loopback trust or errors."""
    remote_trust = [r for r in rules if _is_trust_from_network(r) and not _is_loopback(r)]
    loopback_trust = [r for r in rules if _is_trust_from_network(r) and _is_loopback(r)]
    broken = [r for r in rules if r.error]
    details: dict[str, object] = {"rules": [str(r) for r in rules]}
    if remote_trust:
        return CheckResult(
            "postgres_hba",
            CheckStatus.CRITICAL,
            "pg_hba.conf lets hosts in without a password: "
            + "; ".join(str(r) for r in remote_trust)
            + "; expected scram-sha-256 for every host rule",
            details=details,
        )
    problems = [f"trust on loopback ({r})" for r in loopback_trust]
    problems += [f"line {r.line_number} is invalid: {r.error}" for r in broken]
    if problems:
        return CheckResult(
            "postgres_hba",
            CheckStatus.WARNING,
            "pg_hba.conf: " + "; ".join(problems) + "; expected scram-sha-256",
            details=details,
        )
    return CheckResult(
        "postgres_hba",
        CheckStatus.OK,
        f"{len(rules)} pg_hba.conf rule(s), none trusts a network address",
        details=details,
    )


def _is_trust_from_network(rule: HbaRule) -> bool:
    return rule.type in HOST_RULE_TYPES and rule.auth_method == "trust"


def _is_loopback(rule: HbaRule) -> bool:
    if rule.address in {"samehost"}:
        return True
    if rule.address is None or rule.address in {"all", "samenet"}:
        return False
    try:
        network = ip_network(
            f"{rule.address}/{rule.netmask}" if rule.netmask else rule.address, strict=False
        )
    except ValueError:
        return rule.address == "localhost"  # a host name
    return network.is_loopback


def check_redis(settings: Settings) -> CheckResult:
    """Critical when Redis binds beyond loopback with no password."""
    url = redis_url(settings)
    if url is None:
        return CheckResult("redis_network", CheckStatus.OK, "no Redis configured")
    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        config: dict[str, str] = {}
        for name in ("bind", "protected-mode", "requirepass"):
            config.update(_config_get(client, name))
    except redis.RedisError as exc:
        return CheckResult(
            "redis_network",
            CheckStatus.UNKNOWN,
            f"Redis is unreachable ({type(exc).__name__}: {exc}): cannot judge its exposure",
            details={"configured": True, "reachable": False},
        )
    finally:
        client.close()
    return judge_redis(
        bind=config.get("bind", ""),
        protected_mode=config.get("protected-mode", "yes"),
        has_password=bool(config.get("requirepass")),
    )


def _config_get(client: redis.Redis, name: str) -> dict[str, str]:
    # redis-py types every command as maybe-awaitable; this client is synchronous.
    reply = cast(dict[Any, Any], client.config_get(name))
    return {_text(key): _text(value) for key, value in reply.items()}


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def judge_redis(*, bind: str, protected_mode: str, has_password: bool) -> CheckResult:
    """Critical when bound beyond loopback with no password and protected mode off."""
    addresses = [a.lstrip("-") for a in bind.split()] or ["*"]
    exposed = [a for a in addresses if a not in LOOPBACK_ADDRESSES]
    details: dict[str, object] = {
        "bind": bind,
        "protected_mode": protected_mode,
        "requirepass": has_password,
    }
    if not exposed:
        return CheckResult(
            "redis_network", CheckStatus.OK, f"Redis binds to {bind} (loopback)", details=details
        )
    if has_password:
        return CheckResult(
            "redis_network",
            CheckStatus.OK,
            f"Redis binds to {bind} and requires a password",
            details=details,
        )
    status = CheckStatus.WARNING if protected_mode == "yes" else CheckStatus.CRITICAL
    return CheckResult(
        "redis_network",
        status,
        f"Redis binds to {bind or '*'} with no requirepass (protected-mode {protected_mode}): "
        "anyone who reaches it can read and flush it; expected bind 127.0.0.1 or a password",
        details=details,
    )


def _show(conn: Connection, name: str) -> str:
    return str(conn.execute(text("SELECT current_setting(:name)"), {"name": name}).scalar_one())
