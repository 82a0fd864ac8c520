"""The DR drill's availability probe counts free slots the way the API lists them."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from chairside.db import make_engine, make_session_factory, transaction
from chairside.ops.drill import probes
from tests.booking.world import future_day, make_shop


def test_the_drill_probe_counts_the_free_slots_of_the_week(
    client: TestClient, database_url: str
) -> None:
    shop = make_shop(client)
    first = future_day()
    listed = client.get(
        f"/api/v1/providers/{shop.provider_id}/availability",
        params={
            "service_id": shop.service_id,
            "from": first.isoformat(),
            "to": (first + timedelta(days=6)).isoformat(),
        },
    ).json()["slots"]
    assert len(listed) > 20
    engine = make_engine(database_url)
    try:
        facts: dict[str, object] = {}
        with transaction(make_session_factory(engine)) as session:
            result = probes._availability(session, facts, first)
    finally:
        engine.dispose()
    assert result.status.name == "OK", result.message
    assert facts["free_slots_next_7_days"] == len(listed)
