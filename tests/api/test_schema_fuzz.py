"""Schema fuzzing: schemathesis against the real app (real PostgreSQL and Redis).

Every operation of ``/api/v1`` gets generated requests, valid ones and invalid ones
(schemathesis's positive and negative modes), derandomized and bounded, as three
callers: anonymous, a client, and a shop owner whose shop, provider and service ids fill
the path (so owner writes reach the service code). Each answer must not be a 5xx, must
have a documented status, and must match its documented schema. ``bench/api/fuzz.py``
runs the same with many more examples.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from chairside.api.app import create_app
from chairside.config import Settings
from tests.booking.world import make_shop, register

CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]
EXAMPLES = 15


def fuzz_operations(
    client: TestClient,
    *,
    headers: dict[str, str],
    path_values: dict[str, str],
    examples: int,
    prefix: str = "/api/v1/",
) -> dict[str, Counter[int]]:
    """Fuzz every operation under ``prefix``; the statuses each one answered."""
    schema = schemathesis.openapi.from_dict(client.get("/openapi.json").json())
    exercised: dict[str, Counter[int]] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    # Logging out revokes the caller's token: those go last, or the rest would all be 401.
    operations.sort(key=lambda operation: "/auth/logout" in operation.path)
    for operation in operations:
        if operation.path.startswith(prefix):
            exercised[operation.label] = _fuzz_one(
                client, operation, headers=headers, path_values=path_values, examples=examples
            )
    return exercised


def _fuzz_one(
    client: TestClient,
    operation: Any,
    *,
    headers: dict[str, str],
    path_values: dict[str, str],
    examples: int,
) -> Counter[int]:
    """Fuzz one operation in both modes; the statuses it answered."""
    statuses: Counter[int] = Counter()
    strategy = operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(
        GenerationMode.NEGATIVE
    )

    @settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        for name, value in path_values.items():
            if case.path_parameters and name in case.path_parameters:
                case.path_parameters[name] = value
        kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=headers)
        response = client.request(**_httpx_kwargs(kwargs))
        statuses[response.status_code] += 1
        case.validate_response(response, checks=CHECKS)

    run()
    return statuses


def _httpx_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in kwargs.items() if k in {"method", "url", "headers", "params"}}
    if "json" in kwargs:
        out["json"] = kwargs["json"]
    if kwargs.get("data") is not None:
        out["content"] = kwargs["data"]
    if kwargs.get("cookies"):
        out["cookies"] = kwargs["cookies"]
    return out


@pytest.fixture
def fuzz_client(booking_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(booking_settings), raise_server_exceptions=False) as client:
        yield client


@pytest.mark.slow
@pytest.mark.parametrize("caller", ["anonymous", "client", "owner"])
def test_every_operation_answers_within_its_documented_schema(
    fuzz_client: TestClient, caller: str
) -> None:
    headers: dict[str, str] = {}
    path_values: dict[str, str] = {}
    if caller == "client":
        headers = register(fuzz_client).headers
    if caller == "owner":
        shop = make_shop(fuzz_client)
        headers = shop.owner.headers
        path_values = {
            "shop_id": shop.id,
            "provider_id": shop.provider_id,
            "service_id": shop.service_id,
        }
    exercised = fuzz_operations(
        fuzz_client, headers=headers, path_values=path_values, examples=EXAMPLES
    )
    assert len(exercised) >= 30
    if caller == "owner":
        # The owner's ids reach the service code: some writes to its shop succeed.
        written = [
            label
            for label, statuses in exercised.items()
            if label.split()[0] in {"POST", "PUT", "PATCH"}
            and "{" in label
            and any(200 <= status < 300 for status in statuses)
        ]
        assert len(written) >= 3, exercised
