"""Breach containment: ``security revoke-sessions`` and ``security rotate-secret``,
proven against the real API: a token that worked before gets 401 after."""

from __future__ import annotations

import stat
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from chairside.api.app import create_app
from chairside.config import Settings
from chairside.ops.locks import named_lock
from chairside.ops.security.secret import LOCK_NAME as SECRET_LOCK
from chairside.ops.security.sessions import LOCK_NAME as SESSIONS_LOCK
from chairside.ops.timeline.store import open_ops_store
from tests.booking.world import PASSWORD, Account, fast_settings, register
from tests.ops.security.conftest import SecurityCli


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    return fast_settings(settings)


@pytest.fixture
def client(api_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(api_settings)) as test_client:
        yield test_client


def _me(client: TestClient, account: Account) -> int:
    return client.get("/api/v1/me", headers=account.headers).status_code


def test_revoking_one_users_sessions_refuses_their_token_and_no_one_elses(
    client: TestClient, security_cli: SecurityCli, api_settings: Settings, database_url: str
) -> None:
    alice, bob = register(client), register(client)
    assert _me(client, alice) == 200
    run = security_cli("revoke-sessions", "--user", alice.email.upper(), "--yes")
    assert run.code == 0, run.stdout
    assert run.body["accounts"] == [alice.email]
    assert _me(client, alice) == 401
    refreshed = client.post("/api/v1/auth/refresh", json={"refresh_token": alice.refresh_token})
    assert refreshed.status_code == 401
    assert _me(client, bob) == 200
    engine = create_engine(database_url, poolclass=NullPool)
    with engine.connect() as conn:
        actions = conn.execute(
            text("SELECT action, actor_role FROM audit_log WHERE entity_id = :id ORDER BY id"),
            {"id": alice.id},
        ).all()
    engine.dispose()
    assert actions[-1] == ("account.logged_out_everywhere", "system")
    [event] = open_ops_store(api_settings).recent(kind_prefix="security.revoke_sessions")
    assert alice.email in event.details["accounts"]
    # Her old token tried after containment is a security event of its own (forensics).
    rejected = open_ops_store(api_settings).recent(kind_prefix="security.token_rejected")
    assert rejected and rejected[0].details["user_id"] == alice.id


def test_revoking_every_session_logs_everyone_out_and_survives_a_flushed_redis(
    client: TestClient, security_cli: SecurityCli, redis_url: str | None
) -> None:
    accounts = [register(client) for _ in range(3)]
    run = security_cli("revoke-sessions", "--all", "--yes")
    assert run.code == 0
    assert run.body["count"] == 3
    if redis_url is not None:
        import redis

        redis.Redis.from_url(redis_url).flushall()
    assert [_me(client, a) for a in accounts] == [401, 401, 401]


def test_logging_in_again_after_revocation_works(
    client: TestClient, security_cli: SecurityCli
) -> None:
    alice = register(client)
    assert security_cli("revoke-sessions", "--user", alice.email, "--yes").code == 0
    # at once: issue times are sub-second, so a login right after the cutoff is valid
    login = client.post("/api/v1/auth/login", json={"email": alice.email, "password": PASSWORD})
    assert login.status_code == 200
    fresh = {"Authorization": f"Bearer {login.json()['access_token']}"}
    assert client.get("/api/v1/me", headers=fresh).status_code == 200


def test_a_dry_run_names_the_accounts_and_revokes_nothing(
    client: TestClient, security_cli: SecurityCli, api_settings: Settings
) -> None:
    alice = register(client)
    run = security_cli("revoke-sessions", "--all", "--dry-run")
    assert run.code == 0
    assert run.body["dry_run"] is True and alice.email in run.body["accounts"]
    assert _me(client, alice) == 200
    assert open_ops_store(api_settings).recent(kind_prefix="security.") == []


def test_revoking_off_a_terminal_without_yes_is_refused(
    client: TestClient, security_cli: SecurityCli
) -> None:
    alice = register(client)
    run = security_cli("revoke-sessions", "--all")
    assert run.code == 3
    assert "Refusing without --yes" in run.body["error"]["message"]
    assert _me(client, alice) == 200


@pytest.mark.parametrize("args", [[], ["--all", "--user", "a@example.com"]])
def test_revoke_needs_exactly_one_of_user_or_all(
    security_cli: SecurityCli, args: list[str]
) -> None:
    run = security_cli("revoke-sessions", *args, "--yes")
    assert run.code == 2
    assert "--user EMAIL or --all" in run.body["error"]["message"]


def test_revoking_an_unknown_account_is_bad_input(security_cli: SecurityCli) -> None:
    run = security_cli("revoke-sessions", "--user", "nobody@example.com", "--yes")
    assert run.code == 2
    assert "no account with e-mail 'nobody@example.com'" in run.body["error"]["message"]


def test_revoking_while_another_revocation_holds_the_lock_is_refused(
    client: TestClient, security_cli: SecurityCli, api_settings: Settings
) -> None:
    alice = register(client)
    with named_lock(api_settings.home, SESSIONS_LOCK, purpose="test"):
        run = security_cli("revoke-sessions", "--all", "--yes")
    assert run.code == 3
    assert "lock is held" in run.body["error"]["message"]
    assert _me(client, alice) == 200


def test_rotating_the_secret_invalidates_every_token(
    client: TestClient, security_cli: SecurityCli, api_settings: Settings
) -> None:
    alice = register(client)
    path = api_settings.home / "jwt-secret"
    before = path.read_text()
    run = security_cli("rotate-secret", "--yes")
    assert run.code == 0, run.stdout
    assert run.body["path"] == str(path) and run.body["replaced_existing"] is True
    assert any("restart the API" in step for step in run.body["next_steps"])
    assert path.read_text() != before and len(path.read_text()) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with TestClient(create_app(api_settings)) as restarted:
        assert _me(restarted, alice) == 401
        assert _me(restarted, register(restarted)) == 200  # new tokens use the new secret
    [event] = open_ops_store(api_settings).recent(kind_prefix="security.rotate_secret")
    assert path.read_text() not in str(event.details)


def test_rotating_a_secret_from_the_environment_is_refused_with_where_to_change_it(
    client: TestClient, security_cli: SecurityCli, api_settings: Settings
) -> None:
    alice = register(client)
    security_cli.use(api_settings, CHAIRSIDE_JWT_SECRET="v" * 40 + "9xQ2")
    run = security_cli("rotate-secret", "--yes")
    assert run.code == 3
    message = run.body["error"]["message"]
    assert "the environment variable CHAIRSIDE_JWT_SECRET" in message
    assert "restart the API" in message
    assert _me(client, alice) == 200  # the file was not touched


def test_a_dry_run_rotation_changes_nothing(
    client: TestClient, security_cli: SecurityCli, api_settings: Settings
) -> None:
    alice = register(client)
    before = (api_settings.home / "jwt-secret").read_text()
    run = security_cli("rotate-secret", "--dry-run")
    assert run.code == 0 and run.body["rotated"] is False
    assert (api_settings.home / "jwt-secret").read_text() == before
    assert _me(client, alice) == 200


def test_rotating_while_the_secret_lock_is_held_is_refused(
    security_cli: SecurityCli, api_settings: Settings
) -> None:
    with named_lock(api_settings.home, SECRET_LOCK, purpose="test"):
        run = security_cli("rotate-secret", "--yes")
    assert run.code == 3
    assert not (api_settings.home / "jwt-secret").exists()


def test_rotating_in_production_without_a_usable_secret_is_refused(
    security_cli: SecurityCli, api_settings: Settings
) -> None:
    security_cli.use(api_settings.model_copy(update={"env": "production"}))
    run = security_cli("rotate-secret", "--yes")
    assert run.code == 3
    assert "production has no usable signing secret" in run.body["error"]["message"]
