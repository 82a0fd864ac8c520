"""S3-only faults: refused credentials, a missing bucket, an endpoint that does not answer.

Each must fail fast (bounded retries) with an error that names the repository, and must
publish nothing.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest

from chairside.config import Settings, load_settings
from chairside.errors import InputError
from chairside.ops.backup.repository import RepositoryError
from chairside.ops.backup.repository.s3 import S3Repository
from chairside.runtime.ports import free_port
from tests.support.seaweed import SeaweedServer

from .conftest import s3_settings


def test_it_names_the_repository_when_the_credentials_are_refused(
    seaweed: SeaweedServer, tmp_path: Path
) -> None:
    bucket = seaweed.new_bucket("creds")
    settings = s3_settings(seaweed, tmp_path, s3_secret_access_key="not-the-secret")
    repository = S3Repository.from_url(f"s3://{bucket}/dr", settings)

    started = time.monotonic()
    with pytest.raises(RepositoryError) as caught:
        repository.put_bytes("repository.json", b"{}")

    assert time.monotonic() - started < 5
    assert f"s3://{bucket}/dr" in caught.value.message
    assert "credentials" in caught.value.message
    listing = seaweed.client().list_objects_v2(Bucket=bucket)
    assert listing.get("KeyCount", 0) == 0


def test_it_names_the_missing_bucket(seaweed: SeaweedServer, tmp_path: Path) -> None:
    repository = S3Repository.from_url(
        "s3://no-such-bucket-here/dr", s3_settings(seaweed, tmp_path)
    )

    with pytest.raises(RepositoryError, match="bucket 'no-such-bucket-here' does not exist"):
        list(repository.list("backups/"))
    with pytest.raises(RepositoryError, match="s3://no-such-bucket-here/dr"):
        repository.check()


def test_it_gives_up_fast_on_an_unreachable_endpoint(tmp_path: Path) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    settings = s3_settings_without_server(tmp_path)
    repository = S3Repository.from_url(f"s3://dr-bucket/x?endpoint={endpoint}", settings)

    started = time.monotonic()
    with pytest.raises(RepositoryError) as caught:
        repository.put_bytes("wal/history/00000002.history", b"x")
    elapsed = time.monotonic() - started

    assert elapsed < 10, f"took {elapsed:.1f}s; retries must be bounded"
    assert "s3://dr-bucket/x" in caught.value.message
    assert "does not answer" in caught.value.message
    assert "3 attempts" in caught.value.message


def test_a_url_can_point_one_repository_at_its_own_endpoint_and_region(
    seaweed: SeaweedServer, tmp_path: Path
) -> None:
    bucket = seaweed.new_bucket("url")
    # Settings point elsewhere; the URL's own options win for this repository.
    settings = s3_settings(seaweed, tmp_path, s3_endpoint_url="http://127.0.0.1:9")
    url = f"s3://{bucket}/dr?endpoint={seaweed.endpoint}&region=eu-west-1&addressing=path"
    repository = S3Repository.from_url(url, settings)

    repository.put_bytes("repository.json", b"{}")

    assert repository.location.region == "eu-west-1"
    assert seaweed.client().get_object(Bucket=bucket, Key="dr/repository.json")["Body"].read()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("s3://key:secret@bucket/dr", "credentials in the URL"),
        ("s3://bucket/dr?colour=blue", "unknown option"),
        ("s3://bucket/dr?addressing=sideways", "addressing='sideways'"),
        ("s3://bucket/dr?sse=rot13", "sse='rot13'"),
    ],
)
def test_it_refuses_a_malformed_s3_url(url: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=message) as caught:
        S3Repository.from_url(url, s3_settings_without_server(tmp_path))
    assert "key:secret" not in caught.value.message


def test_it_records_the_checksum_of_every_object_it_writes(
    seaweed: SeaweedServer, tmp_path: Path
) -> None:
    bucket = seaweed.new_bucket("sum")
    repository = S3Repository.from_url(f"s3://{bucket}/p", s3_settings(seaweed, tmp_path))
    source = tmp_path / "f"
    source.write_bytes(b"payload" * 1000)

    repository.put_bytes("a", b"hello")
    repository.put_file("b", source)

    a, b = repository.stat("a"), repository.stat("b")
    assert a is not None and a.sha256 == hashlib.sha256(b"hello").hexdigest()
    assert b is not None and b.sha256 == hashlib.sha256(source.read_bytes()).hexdigest()


def test_it_asks_the_store_to_encrypt_objects_when_configured(
    seaweed: SeaweedServer, tmp_path: Path
) -> None:
    bucket = seaweed.new_bucket("sse")
    repository = S3Repository.from_url(
        f"s3://{bucket}/p?sse=AES256", s3_settings(seaweed, tmp_path)
    )
    repository.put_bytes("backups/b1/manifest.json", b"{}")

    head = seaweed.client().head_object(Bucket=bucket, Key="p/backups/b1/manifest.json")
    assert head.get("ServerSideEncryption") == "AES256"
    assert repository.get_bytes("backups/b1/manifest.json") == b"{}"


def s3_settings_without_server(tmp_path: Path) -> Settings:
    return load_settings(
        env="test",
        home=tmp_path,
        s3_access_key_id="AKIDEXAMPLE",
        s3_secret_access_key="secret",
        s3_region="us-east-1",
        s3_addressing_style="path",
    )


class _BreakingBody:
    """A response body whose connection drops after ``good`` bytes (then it stays dead)."""

    def __init__(self, body: Any, good: int) -> None:
        self._body, self._left = body, good

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            raise botocore.exceptions.ResponseStreamingError(error="Connection reset by peer")
        data: bytes = self._body.read(min(size, self._left) if size > 0 else self._left)
        self._left -= len(data)
        return data

    def close(self) -> None:
        self._body.close()


def _break_streams(
    monkeypatch: pytest.MonkeyPatch, repository: S3Repository, *, breaks: int, every: int
) -> list[dict[str, Any]]:
    """The next ``breaks`` GETs' connections drop after ``every`` bytes; returns the calls."""
    real = repository.client.get_object
    calls: list[dict[str, Any]] = []

    def get_object(**kwargs: Any) -> Any:
        calls.append(kwargs)
        response = real(**kwargs)
        if len(calls) <= breaks:
            response["Body"] = _BreakingBody(response["Body"], every)
        return response

    monkeypatch.setattr(repository.client, "get_object", get_object)
    return calls


def test_a_streamed_read_resumes_where_a_dropped_connection_left_off(
    seaweed: SeaweedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = seaweed.new_bucket("resume")
    repository = S3Repository.from_url(f"s3://{bucket}/r", s3_settings(seaweed, tmp_path))
    payload = os.urandom(5 * 1024 * 1024 + 123)
    repository.put_bytes("backups/b/base.tar.zst", payload)
    every = 1024 * 1024 + 7
    calls = _break_streams(monkeypatch, repository, breaks=3, every=every)

    with repository.open_read("backups/b/base.tar.zst") as stream:
        assert stream.read() == payload

    # One GET, then three resumes (the most allowed), each from where the last one broke,
    # pinned to the same object; the fourth connection holds to the end.
    assert [c.get("Range") for c in calls] == [None] + [f"bytes={k * every}-" for k in (1, 2, 3)]
    assert all(c.get("IfMatch") for c in calls[1:])


def test_a_stream_that_keeps_breaking_fails_naming_the_repository_and_the_offset(
    seaweed: SeaweedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = seaweed.new_bucket("broken")
    repository = S3Repository.from_url(f"s3://{bucket}/r", s3_settings(seaweed, tmp_path))
    repository.put_bytes("backups/b/base.tar.zst", os.urandom(1024 * 1024))
    _break_streams(monkeypatch, repository, breaks=10, every=100_000)

    with (
        pytest.raises(RepositoryError) as caught,
        repository.open_read("backups/b/base.tar.zst") as s,
    ):
        s.read()

    assert f"s3://{bucket}/r" in caught.value.message
    assert "at byte 400000, after 3 resumed connections" in caught.value.message
