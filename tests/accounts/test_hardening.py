"""Account attacks: password spraying, stolen refresh tokens, forged addresses, enumeration."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from chairside.accounts.notices import MemoryNotices
from chairside.api.app import create_app
from chairside.api.client_address import client_address_of_scope
from chairside.config import Settings, load_settings
from chairside.errors import ConfigError
from tests.booking.world import PASSWORD, register


@pytest.fixture
def notices(client: TestClient) -> MemoryNotices:
    recorded = MemoryNotices()
    client.app.state.account_notices = recorded  # type: ignore[attr-defined]
    return recorded


def _login(client: TestClient, email: str, password: str, **headers: str) -> int:
    response = client.post(
        "/api/v1/auth/login", json={"email": email, "password": password}, headers=headers
    )
    return response.status_code


def test_spraying_one_password_over_many_accounts_from_one_address_is_throttled(
    booking_settings: Settings,
) -> None:
    sprayed = booking_settings.model_copy(update={"rate_limit_login_failures_per_address": 5})
    with TestClient(create_app(sprayed)) as client:
        victims = [register(client) for _ in range(8)]
        # One try per account: the per-account limit never fires.
        statuses = [_login(client, v.email, "Summer2026!!") for v in victims]
        assert statuses == [401] * 5 + [429] * 3
        # While throttled, even the right password waits: the spray learns nothing more.
        assert _login(client, victims[0].email, PASSWORD) == 429
    # Another address is not held back by this one's failures.
    with TestClient(create_app(sprayed), client=("192.0.2.7", 4000)) as other:
        assert _login(other, victims[0].email, PASSWORD) == 200


def test_failed_logins_from_everyone_together_have_a_limit_too(
    booking_settings: Settings,
) -> None:
    spread = booking_settings.model_copy(
        update={
            "rate_limit_login_failures_global": 4,
            "rate_limit_login_failures_per_address": 100,
        }
    )
    statuses = []
    with TestClient(create_app(spread)) as client:
        victim = register(client)
    for host in range(6):  # a botnet: each address fails once
        with TestClient(create_app(spread), client=(f"198.51.100.{host}", 5000)) as bot:
            statuses.append(_login(bot, victim.email, f"guess-{host}-0000"))
    assert statuses == [401] * 4 + [429] * 2


def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(client: TestClient) -> None:
    account = register(client)
    stolen = account.refresh_token
    # The owner refreshes: the stolen copy is now a rotated token.
    owner = client.post("/api/v1/auth/refresh", json={"refresh_token": stolen}).json()
    assert client.get("/api/v1/me", headers=_bearer(owner["access_token"])).status_code == 200
    # The thief replays the copy: refused, and the family goes with it.
    replay = client.post("/api/v1/auth/refresh", json={"refresh_token": stolen})
    assert replay.status_code == 401
    assert "already used" in replay.json()["detail"]
    assert (
        client.post(
            "/api/v1/auth/refresh", json={"refresh_token": owner["refresh_token"]}
        ).status_code
        == 401
    )
    assert client.get("/api/v1/me", headers=_bearer(owner["access_token"])).status_code == 401
    # Another login of the same account (another family) is untouched.
    other = client.post("/api/v1/auth/login", json={"email": account.email, "password": PASSWORD})
    assert client.get("/api/v1/me", headers=_bearer(other.json()["access_token"])).is_success


def test_x_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(
    booking_settings: Settings,
) -> None:
    scope = {"client": ("127.0.0.1", 1), "headers": [(b"x-forwarded-for", b"203.0.113.9")]}
    assert client_address_of_scope(scope, "") == "127.0.0.1"
    assert client_address_of_scope(scope, "127.0.0.1") == "203.0.113.9"
    # A client cannot hide behind a header it wrote itself: the proxy appends what it saw.
    forged = {**scope, "headers": [(b"x-forwarded-for", b"198.51.100.1, 203.0.113.9")]}
    assert client_address_of_scope(forged, "127.0.0.0/8") == "203.0.113.9"

    limited = booking_settings.model_copy(update={"rate_limit_login_failures_per_address": 2})
    with TestClient(create_app(limited), client=("127.0.0.1", 4000)) as client:
        account = register(client)
        # Default: rotating the header does not buy new attempts.
        codes = [
            _login(client, account.email, f"wrong-{i}-00000", **{"X-Forwarded-For": f"10.0.0.{i}"})
            for i in range(3)
        ]
        assert codes == [401, 401, 429]
    proxied = limited.model_copy(update={"trusted_proxies": "127.0.0.1"})
    with TestClient(create_app(proxied), client=("127.0.0.1", 4000)) as client:
        # Behind the configured proxy each forwarded client has its own count.
        codes = [
            _login(client, account.email, f"wrong-{i}-00000", **{"X-Forwarded-For": f"10.1.0.{i}"})
            for i in range(3)
        ]
        assert codes == [401, 401, 401]


def test_a_trusted_proxy_that_is_not_an_address_is_refused_at_startup() -> None:
    with pytest.raises(ConfigError, match="CHAIRSIDE_TRUSTED_PROXIES.*10.0.0.0/8"):
        load_settings(trusted_proxies="10.0.0.1, proxy.internal")


def test_registering_an_existing_email_looks_like_registering_a_new_one(
    client: TestClient, notices: MemoryNotices
) -> None:
    account = register(client)
    fresh = f"new-{uuid.uuid4().hex[:8]}@example.com"
    answers = [
        client.post(
            "/api/v1/auth/register",
            json={"email": email, "password": "another pass 77", "full_name": "Twin"},
        )
        for email in (account.email.upper(), fresh)
    ]
    taken, new = answers
    assert taken.status_code == new.status_code == 202
    assert taken.json().keys() == new.json().keys()
    assert taken.json()["detail"] == new.json()["detail"]
    # The owner is told by e-mail, and the account is unchanged.
    assert notices.sent == [("registration_attempted", account.email)]
    assert _login(client, account.email, PASSWORD) == 200
    assert _login(client, account.email, "another pass 77") == 401
    assert _login(client, fresh, "another pass 77") == 200


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
