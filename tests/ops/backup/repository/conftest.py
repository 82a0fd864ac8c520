"""One ``repository`` fixture per backend, so the contract suite runs against each."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from chairside.config import Settings, load_settings
from chairside.ops.backup.repository import Repository
from chairside.ops.backup.repository.local import LocalRepository
from chairside.ops.backup.repository.s3 import S3Repository
from tests.support.seaweed import SeaweedServer

# Small pages and the smallest multipart sizes S3 allows, so a test with a dozen objects
# and a 12 MB file crosses page and part boundaries.
PAGE_SIZE = 3
MULTIPART_MB = 5


def s3_settings(seaweed: SeaweedServer, home: Path, **overrides: object) -> Settings:
    """Settings pointing at the test SeaweedFS, with small pages and parts."""
    values: dict[str, object] = {
        "env": "test",
        "home": home,
        "s3_list_page_size": PAGE_SIZE,
        "s3_multipart_threshold_mb": MULTIPART_MB,
        "s3_multipart_chunk_mb": MULTIPART_MB,
        **seaweed.settings_overrides(),
    }
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_repository(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Callable[[], Repository]:
    """Builds a fresh, empty repository of the backend under test."""

    def make() -> Repository:
        if backend == "local":
            return LocalRepository(tmp_path / f"repo-{len(list(tmp_path.iterdir()))}")
        seaweed: SeaweedServer = request.getfixturevalue("seaweed")
        bucket = seaweed.new_bucket("contract")
        return S3Repository.from_url(
            f"s3://{bucket}/chairside/main", s3_settings(seaweed, tmp_path / "home")
        )

    return make


@pytest.fixture
def repository(make_repository: Callable[[], Repository]) -> Repository:
    return make_repository()
