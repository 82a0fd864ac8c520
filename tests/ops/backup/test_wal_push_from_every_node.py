"""WAL pushed by every node of a Patroni cluster (``archive_mode = always``): the same file
from two nodes is stored once and both pushes succeed; a different file under a name
already archived is refused loudly (archive_command fails, PostgreSQL keeps the file and
retries) and never overwrites what is there. Also: the lab's Patroni configuration
archives with that command, and a backup from a replica picks one Patroni names."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chairside.config import load_settings
from chairside.errors import ConfigError, DependencyDownError
from chairside.ops.backup import source
from chairside.ops.backup.repository.local import LocalRepository
from chairside.ops.backup.walarchive import WalArchive, WalConflictError
from chairside.runtime.lab.layout import LabLayout
from chairside.runtime.lab.patroni import render_patroni_config
from chairside.topology.file import default_topology_text, load_topology
from chairside.topology.patroni import ClusterView, Member
from tests.ops.backup.helpers import fake_segment

HISTORY = b"1\t0/5000060\tno recovery target specified\n"


def _node_file(tmp_path: Path, node: str, name: str, content: bytes) -> Path:
    """``name`` in one node's pg_wal."""
    path = tmp_path / node / "pg_wal" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    ("name", "same", "other"),
    [
        ("000000010000000000000005", fake_segment(7, b"a"), fake_segment(7, b"b")),
        ("000000010000000000000005.partial", fake_segment(7, b"a"), fake_segment(7, b"c")),
        ("00000002.history", HISTORY, HISTORY.replace(b"0/5000060", b"0/5000099")),
    ],
    ids=["segment", "partial", "history"],
)
def test_the_same_file_from_two_nodes_is_stored_once_and_a_different_one_refused(
    tmp_path: Path, name: str, same: bytes, other: bytes
) -> None:
    archive = WalArchive(LocalRepository(tmp_path / "repo"))
    first = archive.push(_node_file(tmp_path, "pg1", name, same))
    second = archive.push(_node_file(tmp_path, "pg2", name, same))
    assert first.stored and not second.stored and first.key == second.key

    with pytest.raises(WalConflictError, match=name.split(".")[0]):
        archive.push(_node_file(tmp_path, "pg3", name, other))
    (entry,) = archive.find(name)
    assert archive.content(entry) == same  # never overwritten


def test_archive_command_exits_0_for_a_duplicate_and_fails_for_a_conflict(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "CHAIRSIDE_HOME": str(tmp_path / "home"),
        "CHAIRSIDE_BACKUP_REPOSITORY": str(tmp_path / "repo"),
    }
    name = "000000010000000000000009"

    def push(node: str, content: bytes) -> subprocess.CompletedProcess[str]:
        path = _node_file(tmp_path, node, name, content)
        argv = [sys.executable, "-m", "chairside.ops.backup.wal_cli", "push", str(path)]
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)

    assert push("pg1", fake_segment(7, b"x")).returncode == 0
    again = push("pg2", fake_segment(7, b"x"))
    assert again.returncode == 0 and "already archived" in again.stdout
    conflict = push("pg3", fake_segment(7, b"y"))
    assert conflict.returncode != 0
    assert "refusing to overwrite" in conflict.stdout + conflict.stderr


def test_every_lab_node_archives_into_the_lab_repository(tmp_path: Path) -> None:
    topology = load_topology(None)
    layout = LabLayout(tmp_path / "lab")
    node = topology.postgres.nodes[0]
    config = render_patroni_config(topology, node, layout=layout, bin_dir=Path("/usr/bin"))
    postgresql = config["postgresql"]
    assert isinstance(postgresql, dict)
    parameters = postgresql["parameters"]
    assert parameters["archive_mode"] == "always"
    command = str(parameters["archive_command"])
    assert command.endswith("chairside.ops.backup.wal_cli push %p")
    assert sys.executable in command  # the checkout's venv, reached by `postgres`
    assert f"CHAIRSIDE_BACKUP_REPOSITORY=s3://{topology.s3.bucket if topology.s3 else ''}" in (
        command
    )
    assert "SECRET" not in command.upper()  # the key pair is in a credentials file
    # pg_basebackup (of a backup from a replica too) connects as the superuser.
    assert any(line.startswith("host replication postgres ") for line in postgresql["pg_hba"])


def _member(name: str, role: str, lag: int | None, state: str = "streaming") -> Member:
    return Member(name, role, state, "127.0.0.1", 5000 + int(name[-1]), 1, lag)


def test_a_backup_from_a_replica_picks_an_asynchronous_streaming_replica(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    topology_file = tmp_path / "lab.yaml"
    topology_file.write_text(default_topology_text())
    settings = load_settings(
        home=tmp_path / "home",
        database_url="postgresql+psycopg://postgres:pw@127.0.0.1:6000/chairside",
        topology=topology_file,
    )
    members = [
        _member("pg1", "leader", 0, "running"),
        _member("pg2", "sync_standby", 0),
        _member("pg3", "replica", 4096),
    ]

    def view(*_args: object, **_kwargs: object) -> ClusterView:
        return ClusterView(tuple(members), "pg1")

    monkeypatch.setattr("chairside.topology.patroni.cluster_view", view)
    chosen = source.replica_source(settings)
    # The synchronous standby is on every commit's path: the asynchronous one is used.
    assert (chosen.node, chosen.cluster.port, chosen.cluster.password) == ("pg3", 5003, "pw")

    members[2] = _member("pg3", "replica", None, "starting")
    assert source.replica_source(settings).node == "pg2"  # the only one streaming

    members[1] = _member("pg2", "sync_standby", None, "stopped")
    with pytest.raises(DependencyDownError, match="no streaming replica"):
        source.replica_source(settings)

    with pytest.raises(ConfigError, match="CHAIRSIDE_TOPOLOGY"):
        source.replica_source(load_settings(home=tmp_path / "home", topology=None))
