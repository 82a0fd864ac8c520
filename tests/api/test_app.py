"""The app skeleton: metrics by route template, modes, and problem+json errors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from chairside import errors
from chairside.api.app import create_app
from chairside.config import Settings
from chairside.ops.deploy.modes import ModeSwitch

probe = APIRouter()


@probe.get("/probe/items/{item_id}")
def get_item(item_id: int) -> dict[str, int]:
    if item_id == 404:
        raise errors.NotFoundError(f"item {item_id} does not exist")
    if item_id == 409:
        raise errors.ConflictError("item 409 is locked by another booking")
    if item_id == 500:
        raise RuntimeError("secret internal detail")
    return {"id": item_id}


@probe.post("/probe/items")
def create_item(price: int) -> dict[str, int]:
    if price < 0:
        raise errors.InputError(f"price {price} is negative; use 0 or more", field="price")
    return {"price": price}


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    app = create_app(settings)
    app.include_router(probe)
    return app


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def _samples(client: TestClient, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    text = client.get("/metrics").text
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def test_metrics_count_requests_by_route_template_not_by_id(client: TestClient) -> None:
    for item_id in (1, 2, 3):
        client.get(f"/probe/items/{item_id}")
    client.get("/probe/items/404")
    counts = _samples(client, "http_requests_total")
    template = "/probe/items/{item_id}"
    ok = (("method", "GET"), ("route", template), ("status", "200"))
    missing = (("method", "GET"), ("route", template), ("status", "404"))
    assert counts[ok] == 3
    assert counts[missing] == 1
    assert not any("/probe/items/1" == dict(k)["route"] for k in counts)


def test_metrics_have_a_latency_histogram_per_route(client: TestClient) -> None:
    client.get("/probe/items/7")
    buckets = _samples(client, "http_request_duration_seconds_count")
    key = (("method", "GET"), ("route", "/probe/items/{item_id}"))
    assert buckets[key] == 1


def test_unknown_paths_are_counted_under_one_label(client: TestClient) -> None:
    client.get("/no/such/path/123")
    client.get("/no/such/path/456")
    counts = _samples(client, "http_requests_total")
    assert counts[(("method", "GET"), ("route", "unmatched"), ("status", "404"))] == 2


def test_the_api_docs_pages_are_counted_under_their_own_paths(client: TestClient) -> None:
    client.get("/docs")
    client.get("/openapi.json")
    counts = _samples(client, "http_requests_total")
    assert counts[(("method", "GET"), ("route", "/docs"), ("status", "200"))] == 1
    assert counts[(("method", "GET"), ("route", "/openapi.json"), ("status", "200"))] == 1


def test_errors_are_problem_json_with_the_request_id(client: TestClient) -> None:
    response = client.get("/probe/items/404", headers={"X-Request-ID": "req-42"})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["detail"] == "item 404 does not exist"
    assert body["status"] == 404
    assert body["request_id"] == "req-42"


def test_conflicts_answer_409(client: TestClient) -> None:
    response = client.get("/probe/items/409")
    assert response.status_code == 409
    assert "locked" in response.json()["detail"]


def test_validation_errors_name_the_field_and_the_bad_value(client: TestClient) -> None:
    response = client.get("/probe/items/abc")
    assert response.status_code == 422
    body = response.json()
    assert body["errors"][0]["field"] == "path.item_id"
    assert body["errors"][0]["input"] == "abc"
    service = client.post("/probe/items", params={"price": -5})
    assert service.status_code == 422
    assert service.json()["errors"] == [
        {"field": "price", "message": "price -5 is negative; use 0 or more"}
    ]


def test_an_unhandled_error_is_a_500_problem_that_leaks_nothing(client: TestClient) -> None:
    response = client.get("/probe/items/500")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "secret" not in response.text
    assert response.json()["request_id"] == response.headers["x-request-id"]


def test_maintenance_mode_answers_503_with_retry_after_except_health_and_metrics(
    settings: Settings, client: TestClient
) -> None:
    ModeSwitch(settings).switch(maintenance=True, reason="upgrading PostgreSQL")
    response = client.get("/probe/items/1")
    assert response.status_code == 503
    assert response.headers["retry-after"] == str(settings.maintenance_retry_after)
    assert "upgrading PostgreSQL" in response.json()["detail"]
    assert client.get("/health").status_code == 200
    assert client.get("/metrics").status_code == 200
    assert client.get("/health/detailed").json()["modes"]["maintenance"] is True
    ModeSwitch(settings).switch(maintenance=False)
    assert client.get("/probe/items/1").status_code == 200


def test_maintenance_mode_from_settings_applies_from_the_start(settings: Settings) -> None:
    flagged = settings.model_copy(update={"maintenance_mode": True})
    with TestClient(create_app(flagged)) as client:
        assert client.get("/docs").status_code == 503
        assert client.get("/health").status_code == 200


def test_read_only_mode_refuses_writes_but_serves_reads(
    settings: Settings, client: TestClient
) -> None:
    ModeSwitch(settings).switch(read_only=True)
    refused = client.post("/probe/items", params={"price": 3})
    assert refused.status_code == 503
    assert "read-only" in refused.json()["detail"]
    assert "retry-after" in refused.headers
    assert client.get("/probe/items/1").status_code == 200


def test_without_a_database_only_liveness_passes_and_routes_answer_503(settings: Settings) -> None:
    from pydantic import SecretStr

    from chairside.runtime.ports import free_port

    dead = f"postgresql://postgres:x@127.0.0.1:{free_port()}/nothing"
    broken = settings.model_copy(update={"database_url": SecretStr(dead)})
    with TestClient(create_app(broken)) as client:
        assert client.get("/health/live").status_code == 200
        for path in ("/health", "/health/ready"):
            answer = client.get(path)
            assert answer.status_code == 503, path
            assert answer.json()["database"]["reachable"] is False
            assert "retry-after" in answer.headers
        me = client.get("/api/v1/me", headers={"Authorization": "Bearer x"})
        assert me.status_code == 503
        assert me.headers["content-type"] == "application/problem+json"
        assert "unreachable" in me.json()["detail"]
        assert "retry-after" in me.headers
        detailed = client.get("/health/detailed")
    assert detailed.status_code == 503
    checks = {c["name"]: c for c in detailed.json()["checks"]}
    assert checks["database"]["status"] == "critical"
    assert "unreachable" in checks["database"]["summary"]


def test_the_worker_runs_as_many_blocking_threads_as_configured(settings: Settings) -> None:
    from anyio import to_thread

    async def tokens() -> float:
        return to_thread.current_default_thread_limiter().total_tokens

    with TestClient(
        create_app(settings.model_copy(update={"api_threads": 3, "db_pool_size": 3}))
    ) as client:
        assert client.portal is not None
        assert client.portal.call(tokens) == 3
        assert client.get("/health").status_code == 200
