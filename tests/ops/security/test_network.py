"""``security audit network``: PostgreSQL and Redis asked live about their exposure."""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from chairside.checks import CheckStatus
from chairside.config import Settings
from chairside.ops.security import network
from tests.ops.security.conftest import SecurityCli, check
from tests.support.servers import ClusterFactory


def test_the_test_servers_on_loopback_with_scram_pass(security_cli: SecurityCli) -> None:
    run = security_cli("audit", "network")
    statuses = {c["name"]: c["status"] for c in run.body["checks"]}
    assert statuses["postgres_listen"] == "ok"
    assert statuses["postgres_password_encryption"] == "ok"
    assert statuses["postgres_hba"] == "ok"
    assert statuses["redis_network"] == "ok"
    assert run.code == 0


def test_a_trust_rule_for_a_network_address_is_critical_and_names_the_line(
    security_cli: SecurityCli, settings: Settings, cluster_factory: ClusterFactory
) -> None:
    cluster = cluster_factory.make(wal_segsize_mb=None)
    hba = cluster.data_dir / "pg_hba.conf"
    # pg_hba_file_rules reads the file as it is on disk: no reload, the server stays safe.
    lines = hba.read_text().splitlines()
    hba.write_text("\n".join([*lines, "host all all 0.0.0.0/0 trust"]) + "\n")
    security_cli.use(settings.model_copy(update={"database_url": _secret(cluster.url())}))
    run = security_cli("audit", "network")
    assert run.code == 2
    result = check(run.body, "postgres_hba")
    assert result["status"] == "critical"
    assert f"line {len(lines) + 1}: host all all 0.0.0.0/0.0.0.0 trust" in result["summary"]


def test_trust_on_loopback_is_a_warning_not_critical() -> None:
    rule = network.HbaRule(3, "host", ("all",), ("all",), "127.0.0.1", "255.255.255.255", "trust")
    result = network.judge_hba([rule])
    assert result.status is CheckStatus.WARNING
    assert "trust on loopback (line 3" in result.summary


def test_md5_password_encryption_is_a_warning(security_cli: SecurityCli, database_url: str) -> None:
    name = make_url(database_url).database
    engine = create_engine(database_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"ALTER DATABASE \"{name}\" SET password_encryption = 'md5'"))
    engine.dispose()
    run = security_cli("audit", "network")
    result = check(run.body, "postgres_password_encryption")
    assert result["status"] == "warning"
    assert "password_encryption='md5'; expected 'scram-sha-256'" in result["summary"]
    assert run.code == 1


@pytest.mark.parametrize(
    ("listen", "ssl", "status"),
    [
        ("localhost", "off", CheckStatus.OK),
        ("", "off", CheckStatus.OK),
        ("*", "off", CheckStatus.WARNING),
        ("10.0.0.5,localhost", "off", CheckStatus.WARNING),
        ("*", "on", CheckStatus.OK),
    ],
)
def test_listening_beyond_loopback_without_ssl_is_a_warning(
    listen: str, ssl: str, status: CheckStatus
) -> None:
    assert network.judge_listen(listen, ssl).status is status


def test_redis_bound_beyond_loopback_without_a_password_is_critical() -> None:
    open_redis = network.judge_redis(bind="0.0.0.0", protected_mode="no", has_password=False)
    assert open_redis.status is CheckStatus.CRITICAL
    assert "binds to 0.0.0.0 with no requirepass" in open_redis.summary
    protected = network.judge_redis(bind="* -::*", protected_mode="yes", has_password=False)
    assert protected.status is CheckStatus.WARNING
    with_password = network.judge_redis(bind="0.0.0.0", protected_mode="no", has_password=True)
    assert with_password.status is CheckStatus.OK


def test_an_unreachable_database_makes_the_network_audit_unknown(
    security_cli: SecurityCli, settings: Settings
) -> None:
    gone = settings.model_copy(
        update={"database_url": _secret("postgresql+psycopg://nobody@127.0.0.1:1/gone")}
    )
    security_cli.use(gone)
    run = security_cli("audit", "network")
    result = check(run.body, "postgres_network")
    assert result["status"] == "unknown"
    assert "cannot reach the database" in result["summary"]
    assert run.code == 3


def _secret(value: str) -> SecretStr:
    return SecretStr(value)
