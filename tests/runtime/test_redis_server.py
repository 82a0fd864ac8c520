"""The runtime's Redis server: start, adopt after a crash of its parent, stop by pid."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import redis

from chairside.errors import PortInUseError
from chairside.runtime.binaries import find_redis_server
from chairside.runtime.ports import free_port
from chairside.runtime.redis import RedisServer
from tests.support.servers import process_gone

pytestmark = pytest.mark.skipif(
    find_redis_server("redis-server") is None, reason="redis-server is not installed"
)


def _server(tmp_path: Path, port: int | None = None) -> RedisServer:
    binary = find_redis_server("redis-server")
    assert binary is not None
    return RedisServer(
        binary=binary, port=port or free_port(), run_dir=tmp_path / "run",
        log_file=tmp_path / "redis.log",
    )  # fmt: skip


def test_it_starts_answers_and_stops_leaving_no_process(tmp_path: Path) -> None:
    server = _server(tmp_path)
    server.start()
    pid = server.pid()
    assert redis.Redis.from_url(server.url).ping()
    server.stop()
    assert pid is not None and process_gone(pid)
    assert not server.pid_file.exists()


def test_a_second_start_adopts_the_running_server(tmp_path: Path) -> None:
    server = _server(tmp_path)
    server.start()
    try:
        pid = server.pid()
        again = _server(tmp_path, port=server.port)
        again.start()
        assert again.pid() == pid
    finally:
        server.stop()


def test_a_stale_pid_file_does_not_block_a_start(tmp_path: Path) -> None:
    server = _server(tmp_path)
    server.run_dir.mkdir(parents=True)
    server.pid_file.write_text("999999\n")
    server.start()
    try:
        assert server.pid() not in (None, 999999)
    finally:
        server.stop()


def test_it_refuses_a_port_taken_by_another_program(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        server = _server(tmp_path, port=squatter.getsockname()[1])
        with pytest.raises(PortInUseError, match="CHAIRSIDE_REDIS_PORT"):
            server.start()
