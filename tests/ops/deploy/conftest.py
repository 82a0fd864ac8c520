"""A live API on this test's database and home, and the CLI pointed at both."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chairside.api.app import create_app
from chairside.config import Settings
from tests.booking.world import fast_settings
from tests.cli.conftest import Run, cli  # noqa: F401 - the `cli` fixture, shared
from tests.ops.health.live import serve


@pytest.fixture
def live_url(settings: Settings) -> Iterator[str]:
    with serve(create_app(fast_settings(settings))) as url:
        yield url


@pytest.fixture
def env(settings: Settings, live_url: str) -> dict[str, str]:
    assert settings.database_url is not None
    values = {
        "DATABASE_URL": settings.database_url.get_secret_value(),
        "CHAIRSIDE_HEALTH_API_URL": live_url,
    }
    if settings.redis_url is not None:
        values["REDIS_URL"] = settings.redis_url.get_secret_value()
    return values
