"""Booking-side fixtures: fast settings and an app client built on them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from chairside.api.app import create_app
from chairside.config import Settings
from tests.booking.world import fast_settings


@pytest.fixture
def booking_settings(settings: Settings) -> Settings:
    return fast_settings(settings)


@pytest.fixture
def client(booking_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(booking_settings)) as test_client:
        yield test_client
