"""Accounts over HTTP: registration, login, tokens, revocation, rate limits."""

from __future__ import annotations

import time
import uuid

import jwt
import pytest
import redis
from fastapi.testclient import TestClient
from pydantic import SecretStr

from chairside.accounts import passwords
from chairside.api.app import create_app
from chairside.config import Settings
from chairside.errors import ConfigError
from chairside.runtime.ports import free_port
from tests.booking.world import PASSWORD, fast_settings, register


def test_a_registered_client_logs_in_and_sees_itself(client: TestClient) -> None:
    account = register(client, "client")
    me = client.get("/api/v1/me", headers=account.headers)
    assert me.status_code == 200
    assert me.json()["email"] == account.email
    assert me.json()["role"] == "client"
    claims = jwt.decode(account.token, options={"verify_signature": False})
    assert {"jti", "iat", "exp", "role", "sub", "typ"} <= set(claims)


def test_it_states_the_password_rules_when_they_are_unmet(client: TestClient) -> None:
    response = client.post(
        "/api/v1/auth/register",
        json={"email": "short@example.com", "password": "abc", "full_name": "Short"},
    )
    assert response.status_code == 422
    assert "at least 10" in response.json()["detail"]
    assert response.json()["errors"][0]["field"] == "password"
    assert (
        client.post(
            "/api/v1/auth/login", json={"email": "short@example.com", "password": "abc"}
        ).status_code
        == 401
    )


@pytest.mark.parametrize(
    "drawn", ["_" * 24, "abcdefghijklmnopqrstuvwx", "012345678901234567890123"]
)
def test_a_generated_password_meets_the_rules_whatever_the_random_draw(
    monkeypatch: pytest.MonkeyPatch, drawn: str
) -> None:
    # The smoke test's canary registers with one; token_urlsafe alone drew no digit ~1 in 60.
    monkeypatch.setattr(passwords.secrets, "token_urlsafe", lambda _n: drawn)
    generated = passwords.generate_password()
    passwords.check_rules(generated)
    assert generated.startswith(drawn)


def test_it_refuses_self_registration_as_admin(client: TestClient) -> None:
    response = client.post(
        "/api/v1/auth/register",
        json={"email": "boss@example.com", "password": PASSWORD, "full_name": "B", "role": "admin"},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "role"


def test_a_wrong_password_is_401_without_saying_which_part_was_wrong(client: TestClient) -> None:
    account = register(client)
    bad = client.post(
        "/api/v1/auth/login", json={"email": account.email, "password": "nope1234567"}
    )
    unknown = client.post("/api/v1/auth/login", json={"email": "x@example.com", "password": "nope"})
    assert bad.status_code == unknown.status_code == 401
    assert bad.json()["detail"] == unknown.json()["detail"]


def test_a_tampered_token_is_refused(client: TestClient) -> None:
    account = register(client)
    header, payload, signature = account.token.split(".")
    forged_claims = jwt.decode(account.token, options={"verify_signature": False})
    forged_claims["role"] = "admin"
    forged = jwt.encode(forged_claims, "not-the-secret-" * 3, algorithm="HS256")
    flipped = (
        f"{header}.{payload}.{signature[:-2]}{'A' if signature[-2] != 'A' else 'B'}{signature[-1]}"
    )
    for token in (forged, flipped, "garbage"):
        response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, token
        assert response.headers["www-authenticate"] == "Bearer"


def test_an_expired_token_is_refused(client: TestClient, booking_settings: Settings) -> None:
    account = register(client)
    claims = jwt.decode(account.token, options={"verify_signature": False})
    claims["iat"] = time.time() - 3600
    claims["exp"] = int(time.time()) - 60
    expired = jwt.encode(claims, booking_settings.effective_jwt_secret(), algorithm="HS256")
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_a_refresh_token_is_not_an_access_token(client: TestClient) -> None:
    account = register(client)
    response = client.get(
        "/api/v1/me", headers={"Authorization": f"Bearer {account.refresh_token}"}
    )
    assert response.status_code == 401


def test_refresh_rotates_and_the_old_refresh_token_stops_working(client: TestClient) -> None:
    account = register(client)
    first = client.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh_token})
    assert first.status_code == 200
    new_access = first.json()["access_token"]
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {new_access}"}).is_success
    again = client.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh_token})
    assert again.status_code == 401


def test_logout_revokes_the_token_across_restarts_and_a_flushed_redis(
    booking_settings: Settings,
) -> None:
    with TestClient(create_app(booking_settings)) as client:
        account = register(client)
        assert client.post("/api/v1/auth/logout", headers=account.headers).status_code == 204
        assert client.get("/api/v1/me", headers=account.headers).status_code == 401
    assert booking_settings.redis_url is not None
    cache = redis.Redis.from_url(booking_settings.redis_url.get_secret_value())
    cache.flushall()
    cache.close()
    with TestClient(create_app(booking_settings)) as restarted:
        response = restarted.get("/api/v1/me", headers=account.headers)
        assert response.status_code == 401
        assert "revoked" in response.json()["detail"]


def test_logout_everywhere_revokes_every_device_but_a_new_login_works(client: TestClient) -> None:
    account = register(client)
    other_device = client.post(
        "/api/v1/auth/login", json={"email": account.email, "password": PASSWORD}
    ).json()
    response = client.post("/api/v1/auth/logout-all", headers=account.headers)
    assert response.status_code == 200
    for token in (account.token, other_device["access_token"]):
        assert (
            client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code
            == 401
        )
    refreshed = client.post(
        "/api/v1/auth/refresh", json={"refresh_token": other_device["refresh_token"]}
    )
    assert refreshed.status_code == 401
    fresh = client.post("/api/v1/auth/login", json={"email": account.email, "password": PASSWORD})
    token = fresh.json()["access_token"]
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_revocation_holds_and_login_works_while_redis_is_down(booking_settings: Settings) -> None:
    dead = booking_settings.model_copy(
        update={"redis_url": SecretStr(f"redis://127.0.0.1:{free_port()}/0")}
    )
    with TestClient(create_app(dead)) as client:
        account = register(client)
        assert client.post("/api/v1/auth/logout", headers=account.headers).status_code == 204
        assert client.get("/api/v1/me", headers=account.headers).status_code == 401


def test_too_many_logins_get_429_with_retry_after(booking_settings: Settings) -> None:
    limited = booking_settings.model_copy(update={"rate_limit_login": 3})
    with TestClient(create_app(limited)) as client:
        account = register(client)  # one login
        statuses = [
            client.post(
                "/api/v1/auth/login", json={"email": account.email, "password": "wrong-pass-1"}
            ).status_code
            for _ in range(3)
        ]
        assert statuses == [401, 401, 429]
        blocked = client.post(
            "/api/v1/auth/login", json={"email": account.email, "password": PASSWORD}
        )
        assert blocked.status_code == 429
        assert 1 <= int(blocked.headers["retry-after"]) <= 60


def test_too_many_registrations_from_one_address_get_429(booking_settings: Settings) -> None:
    limited = booking_settings.model_copy(update={"rate_limit_register": 2})
    with TestClient(create_app(limited)) as client:
        statuses = [
            client.post(
                "/api/v1/auth/register",
                json={
                    "email": f"r{uuid.uuid4().hex[:8]}@example.com",
                    "password": PASSWORD,
                    "full_name": "R",
                },
            ).status_code
            for _ in range(3)
        ]
    assert statuses == [202, 202, 429]


def test_production_refuses_to_start_with_a_weak_secret(settings: Settings) -> None:
    weak = fast_settings(settings, env="production", jwt_secret=SecretStr("changeme"))
    with pytest.raises(ConfigError, match="JWT_SECRET"), TestClient(create_app(weak)):
        pass


def test_people_log_in_and_out_in_read_only_mode_while_changes_are_refused(
    client: TestClient, booking_settings: Settings
) -> None:
    from chairside.ops.deploy.modes import ModeSwitch

    account = register(client, "client")
    ModeSwitch(booking_settings).switch(read_only=True, reason="moving the database")
    login = client.post("/api/v1/auth/login", json={"email": account.email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    tokens = login.json()
    refreshed = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    refused = client.post(
        "/api/v1/auth/register",
        json={"email": "new@example.com", "password": PASSWORD, "full_name": "New"},
    )
    assert refused.status_code == 503
    assert "read-only" in refused.json()["detail"]
