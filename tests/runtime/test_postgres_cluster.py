"""The runtime's PostgreSQL cluster: create, start, stop, crash recovery, refusals."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from chairside.errors import BinaryNotFoundError, PortInUseError
from chairside.runtime.binaries import find_pg_bin_dir
from chairside.runtime.postgres import PostgresCluster
from tests.support.servers import ClusterFactory, process_gone, scratch_dir


def test_a_new_cluster_has_checksums_utf8_and_runs_as_the_postgres_user(
    cluster_factory: ClusterFactory,
) -> None:
    cluster = cluster_factory.make()
    with psycopg.connect(cluster.conninfo()) as conn:
        checksums = conn.execute("SHOW data_checksums").fetchone()
        encoding = conn.execute("SHOW server_encoding").fetchone()
    assert checksums == ("on",)
    assert encoding == ("UTF8",)
    data = cluster.data_dir.stat()
    assert oct(data.st_mode & 0o777) == "0o700"
    pid = cluster.postmaster_pid()
    assert pid is not None
    if os.geteuid() == 0:
        assert Path(f"/proc/{pid}").stat().st_uid == data.st_uid != 0


def test_stop_leaves_no_server_and_start_again_keeps_the_data(
    cluster_factory: ClusterFactory,
) -> None:
    cluster = cluster_factory.make()
    with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)")
    pid = cluster.postmaster_pid()
    cluster.stop()
    assert not cluster.is_running()
    assert pid is not None and process_gone(pid)
    cluster.start()
    with psycopg.connect(cluster.conninfo()) as conn:
        assert conn.execute("SELECT v FROM kept").fetchone() == (42,)


def test_start_recovers_from_a_crash_with_a_stale_pid_file(
    cluster_factory: ClusterFactory,
) -> None:
    cluster = cluster_factory.make()
    pid = cluster.postmaster_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    assert process_gone(pid)
    assert (cluster.data_dir / "postmaster.pid").exists()
    cluster.start()
    with psycopg.connect(cluster.conninfo()) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_start_adopts_a_cluster_that_is_already_running(cluster_factory: ClusterFactory) -> None:
    cluster = cluster_factory.make()
    pid = cluster.postmaster_pid()
    cluster.start()
    assert cluster.postmaster_pid() == pid


def test_it_refuses_to_start_when_the_port_is_taken(cluster_factory: ClusterFactory) -> None:
    cluster = cluster_factory.make(start=False)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", cluster.port))
        squatter.listen()
        with pytest.raises(PortInUseError, match=str(cluster.port)):
            cluster.start()
    assert not cluster.is_running()


def test_missing_binaries_are_named_with_the_package_to_install(tmp_path: Path) -> None:
    with pytest.raises(BinaryNotFoundError) as caught:
        find_pg_bin_dir(tmp_path / "no-such-bin")
    assert "no-such-bin" in caught.value.message
    assert "apt-get install postgresql-15" in caught.value.message


def test_configure_merges_settings_that_the_server_applies(
    cluster_factory: ClusterFactory,
) -> None:
    cluster = cluster_factory.make()
    cluster.configure({"work_mem": "7MB"})
    cluster.reload()
    with psycopg.connect(cluster.conninfo()) as conn:
        for _ in range(50):
            if conn.execute("SHOW work_mem").fetchone() == ("7MB",):
                break
            time.sleep(0.05)
        assert conn.execute("SHOW work_mem").fetchone() == ("7MB",)
    assert cluster.read_config()["port"] == str(cluster.port)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch to another user")
def test_a_normal_user_runs_a_cluster_of_its_own() -> None:
    """Without root, the runtime runs PostgreSQL as the current user."""
    base = scratch_dir()
    os.chown(base, _uid("postgres"), -1)
    script = (
        "import secrets, psycopg\n"
        "from pathlib import Path\n"
        "from chairside.runtime.postgres import PostgresCluster\n"
        "from chairside.runtime.ports import free_port\n"
        f"base = Path({str(base)!r})\n"
        "c = PostgresCluster(data_dir=base/'data', port=free_port(), password='pw',\n"
        "    log_file=base/'pg.log', socket_dir=base/'run')\n"
        "assert c.user.is_current\n"
        "c.init(durable=False); c.start()\n"
        "with psycopg.connect(c.conninfo()) as conn:\n"
        "    print(conn.execute('SELECT current_user').fetchone()[0])\n"
        "c.stop(); assert not c.is_running(); print('stopped')\n"
    )
    src = str(Path(__file__).resolve().parents[2] / "src")
    result = subprocess.run(
        ["runuser", "-u", "postgres", "--", sys.executable, "-c", script],
        capture_output=True, text=True, timeout=120, cwd="/",
        env={**os.environ, "PYTHONPATH": src, "HOME": "/tmp"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["postgres", "stopped"]


def _uid(name: str) -> int:
    import pwd

    return pwd.getpwnam(name).pw_uid


def test_cluster_object_is_cheap_to_build_without_touching_disk(tmp_path: Path) -> None:
    cluster = PostgresCluster(
        data_dir=tmp_path / "d", port=1, password="x", log_file=tmp_path / "l",
        socket_dir=tmp_path / "s",
    )  # fmt: skip
    assert not cluster.exists
    assert not (tmp_path / "d").exists()
