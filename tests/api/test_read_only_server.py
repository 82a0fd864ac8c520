"""A write reaching a server that only reads (a failover under way) is a 503 to retry."""

from __future__ import annotations

import psycopg
from fastapi.testclient import TestClient

from chairside.api.app import create_app
from chairside.config import Settings


def test_a_write_refused_by_a_read_only_server_is_a_503_with_retry_after(
    settings: Settings, database_url: str
) -> None:
    # The same refusal (SQLSTATE 25006) as from a node still leaving recovery.
    name = database_url.rsplit("/", 1)[1]
    conninfo = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'.encode())
    with TestClient(create_app(settings)) as client:
        answer = client.post(
            "/api/v1/auth/register",
            json={
                "email": "late@example.com",
                "password": "a-long-password-1",
                "full_name": "Late",
                "role": "client",
            },
        )
    assert answer.status_code == 503, answer.text
    assert answer.headers["Retry-After"] == "2"
    assert "changing leader" in answer.json()["detail"]
