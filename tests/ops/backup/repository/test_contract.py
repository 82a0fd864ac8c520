"""The repository contract, run against every backend (local path and S3 on SeaweedFS).

Whatever the backend, a backup writer, reader and copier rely on the same promises:
puts are atomic, reads of a missing key say so, listings are complete and ordered across
pages, and keys that could escape the repository are refused.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from chairside.errors import InputError
from chairside.ops.backup.repository import ObjectNotFoundError, Repository
from chairside.ops.backup.repository.s3 import S3Repository

from .conftest import MULTIPART_MB, PAGE_SIZE


def test_it_reads_back_what_was_put(repository: Repository) -> None:
    repository.put_bytes("backups/b1/manifest.json", b'{"id": "b1"}')

    assert repository.get_bytes("backups/b1/manifest.json") == b'{"id": "b1"}'
    info = repository.stat("backups/b1/manifest.json")
    assert info is not None
    assert info.key == "backups/b1/manifest.json"
    assert info.size == len(b'{"id": "b1"}')


def test_a_second_put_replaces_the_object_whole(repository: Repository) -> None:
    repository.put_bytes("wal/history/00000002.history", b"first version, longer")
    repository.put_bytes("wal/history/00000002.history", b"second")

    assert repository.get_bytes("wal/history/00000002.history") == b"second"
    assert [i.key for i in repository.list("wal/")] == ["wal/history/00000002.history"]


def test_it_round_trips_a_file_larger_than_one_multipart_part(
    repository: Repository, tmp_path: Path
) -> None:
    size = (2 * MULTIPART_MB + 1) * 1024 * 1024 + 17  # three parts, the last one short
    source = tmp_path / "base.tar.zst"
    source.write_bytes(os.urandom(size))

    repository.put_file("backups/big/base.tar.zst", source)
    target = tmp_path / "restored" / "base.tar.zst"
    repository.get_file("backups/big/base.tar.zst", target)

    assert target.read_bytes() == source.read_bytes()
    info = repository.stat("backups/big/base.tar.zst")
    assert info is not None and info.size == size
    assert not [p.name for p in target.parent.iterdir() if p.name != target.name]


def test_it_lists_every_object_in_key_order_across_pages(repository: Repository) -> None:
    keys = [f"wal/0000000100000000/0000000100000000000000{n:02X}-x.zst" for n in range(11)]
    for key in reversed(keys):
        repository.put_bytes(key, key.encode())
    repository.put_bytes("backups/b1/COMPLETE", b"{}")
    repository.put_bytes("repository.json", b"{}")
    assert len(keys) > 3 * PAGE_SIZE  # more objects than three pages

    listed = list(repository.list("wal/"))

    assert [i.key for i in listed] == keys
    assert [i.size for i in listed] == [len(k) for k in keys]
    everything = [i.key for i in repository.list()]
    assert everything == sorted([*keys, "backups/b1/COMPLETE", "repository.json"])
    assert [i.key for i in repository.list("backups/b1/")] == ["backups/b1/COMPLETE"]
    assert list(repository.list("nothing/here/")) == []


def test_it_deletes_objects_and_ignores_absent_ones(repository: Repository) -> None:
    repository.put_bytes("backups/b1/file", b"x")
    repository.delete("backups/b1/file")
    repository.delete("backups/b1/file")

    assert repository.stat("backups/b1/file") is None
    assert list(repository.list("backups/")) == []


def test_it_says_a_missing_key_is_missing(repository: Repository, tmp_path: Path) -> None:
    assert repository.stat("backups/none/manifest.json") is None
    with pytest.raises(ObjectNotFoundError, match="backups/none/manifest.json"):
        repository.get_bytes("backups/none/manifest.json")
    target = tmp_path / "out" / "manifest.json"
    with pytest.raises(ObjectNotFoundError, match="backups/none/manifest.json"):
        repository.get_file("backups/none/manifest.json", target)
    assert not target.exists()
    assert not any(target.parent.iterdir()) if target.parent.exists() else True


def test_it_streams_an_object_in_pieces(repository: Repository) -> None:
    content = os.urandom(3 * 1024 * 1024 + 5)
    repository.put_bytes("backups/s1/base.tar.zst", content)

    pieces = []
    with repository.open_read("backups/s1/base.tar.zst") as stream:
        while piece := stream.read(1024 * 1024):
            pieces.append(piece)

    assert b"".join(pieces) == content
    with pytest.raises(ObjectNotFoundError, match="backups/none/base.tar.zst"):
        repository.open_read("backups/none/base.tar.zst")


@pytest.mark.parametrize("key", ["", "/etc/passwd", "../outside", "backups//x", "a/./b", "a/.."])
def test_it_refuses_keys_that_could_escape_the_repository(
    repository: Repository, key: str, tmp_path: Path
) -> None:
    with pytest.raises(InputError, match="invalid"):
        repository.put_bytes(key, b"x")
    with pytest.raises(InputError, match="invalid"):
        repository.get_bytes(key)
    with pytest.raises(InputError, match="invalid"):
        repository.stat(key)
    with pytest.raises(InputError, match="invalid"):
        repository.delete(key)
    assert list(repository.list()) == []


@pytest.mark.slow
def test_a_writer_killed_mid_upload_leaves_the_previous_object_whole(
    repository: Repository, tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    repository.put_bytes("backups/b1/base.tar.zst", b"previous content")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(40 * 1024 * 1024))
    env = dict(os.environ)
    if backend == "s3":
        seaweed = request.getfixturevalue("seaweed")
        env.update(seaweed.environment())
        env.update(
            CHAIRSIDE_S3_MULTIPART_THRESHOLD_MB=str(MULTIPART_MB),
            CHAIRSIDE_S3_MULTIPART_CHUNK_MB=str(MULTIPART_MB),
            CHAIRSIDE_S3_MAX_CONCURRENCY="1",
        )
    script = (
        "import sys; from pathlib import Path\n"
        "from chairside.ops.backup.repository import open_repository\n"
        "print('started', flush=True)\n"
        "open_repository(sys.argv[1]).put_file('backups/b1/base.tar.zst', Path(sys.argv[2]))\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script, repository.url, str(big)], env=env, stdout=subprocess.PIPE
    ) as writer:
        assert writer.stdout is not None
        writer.stdout.readline()
        time.sleep(0.4)  # let the upload get under way
        writer.kill()
        writer.wait(timeout=10)

    content = repository.get_bytes("backups/b1/base.tar.zst")
    assert content in (b"previous content", big.read_bytes())
    assert [i.key for i in repository.list()] == ["backups/b1/base.tar.zst"]


def test_open_repository_picks_the_backend_from_the_url(
    make_repository: Callable[[], Repository],
) -> None:
    repository = make_repository()
    from chairside.ops.backup.repository import open_repository

    if isinstance(repository, S3Repository):
        assert repository.url.startswith("s3://")
    else:
        assert type(open_repository(repository.url)) is type(repository)
