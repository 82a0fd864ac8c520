"""A configured Redis that is down is reported as unreachable, never as not configured."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from chairside.runtime.binaries import find_redis_server
from tests.cli.conftest import Run

pytestmark = pytest.mark.skipif(
    find_redis_server("redis-server") is None, reason="redis-server is not installed"
)


def _stopped_embedded_home(home: Path) -> None:
    """A home whose `chairside up` ran once and is stopped now (PostgreSQL and Redis)."""
    data = home / "pg" / "data"
    data.mkdir(parents=True)
    (data / "PG_VERSION").write_text("15\n")


def test_status_calls_a_stopped_embedded_redis_unreachable(
    cli: Callable[..., Run], home: Path
) -> None:
    _stopped_embedded_home(home)
    checks = {c["name"]: c for c in cli("status", "--json").json()["checks"]}
    redis = checks["redis"]
    assert redis["status"] == "warning"
    assert "unreachable" in redis["summary"]
    assert "not configured" not in redis["summary"]
    assert redis["details"] == {"configured": True, "reachable": False}


def test_the_security_audit_calls_a_stopped_embedded_redis_unreachable(
    cli: Callable[..., Run], home: Path
) -> None:
    _stopped_embedded_home(home)
    body = cli("security", "audit", "network", "--json").json()
    redis = next(c for c in body["checks"] if c["name"] == "redis_network")
    assert redis["status"] == "unknown"
    assert "unreachable" in redis["summary"]
    assert "no Redis configured" not in redis["summary"]
