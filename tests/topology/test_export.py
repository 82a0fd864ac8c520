"""``chairside topology export``: each host's systemd units and configuration, rendered
by the functions the lab runs, valid for systemd and for the programs that read them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from chairside.runtime.lab.haproxy import render_haproxy_config
from chairside.runtime.lab.layout import LabLayout
from chairside.runtime.lab.patroni import render_patroni_config
from chairside.runtime.lab.redis import redis_options, render_sentinel_config
from chairside.topology.file import load_topology, resolve_ports, save_resolved
from chairside.topology.model import Topology
from tests.cli.conftest import Run

Cli = Callable[..., Run]
CHAIRSIDE = str(Path(sys.executable).parent / "chairside")


@pytest.fixture
def resolved(tmp_path: Path) -> tuple[Topology, Path]:
    """The lab's topology with every port chosen and PgBouncer on, as lab up saves it."""
    topology = resolve_ports(load_topology(None))
    topology.pgbouncer.enabled = True
    save_resolved(topology, tmp_path / "lab")
    return topology, tmp_path / "lab" / "topology.json"


def _export(cli: Cli, topology_file: Path, out: Path) -> Run:
    return cli(
        "topology", "export", "--format", "systemd", "--out", str(out),
        "--topology", str(topology_file), "--chairside", CHAIRSIDE, "--json",
    )  # fmt: skip


def _flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _flatten(item, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, value


def test_every_host_gets_its_units_and_systemd_accepts_them(
    cli: Cli, resolved: tuple[Topology, Path], tmp_path: Path
) -> None:
    topology, topology_file = resolved
    out = tmp_path / "out"
    answer = _export(cli, topology_file, out)
    assert answer.exit_code == 0, answer.stdout
    units = {
        host.name: sorted(p.name for p in (host / "etc/systemd/system").iterdir())
        for host in out.iterdir()
        if host.is_dir()
    }
    assert units["pg1"] == ["patroni.service"]
    assert units["etcd1"] == ["etcd.service"]
    assert units["haproxy"] == ["haproxy.service", "pgbouncer.service"]
    assert units["redis2"] == ["redis-server.service"]
    assert units["sentinel3"] == ["redis-sentinel.service"]
    assert "chairside.service" in units["api1"]
    assert "chairside-backup-prune.timer" in units["api2"]  # the ops schedule, on each
    assert (out / "secrets.json").stat().st_mode & 0o077 == 0
    assert (out / "api1/etc/chairside/env").stat().st_mode & 0o077 == 0
    env = (out / "api1/etc/chairside/env").read_text()
    assert f":{topology.haproxy.db_write_port}/chairside" in env  # DATABASE_URL: the leader
    assert "CHAIRSIDE_DATABASE_POOLER_URL=" in env and f":{topology.pgbouncer.port}/" in env
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed; the units were only parsed")
    seen: set[tuple[str, ...]] = set()
    for host, names in units.items():
        if tuple(names) in seen:
            continue  # pg2 and pg3 have pg1's units at other addresses
        seen.add(tuple(names))
        unit_dir = out / host / "etc/systemd/system"
        check = subprocess.run(
            [analyze, "verify", *names], cwd=unit_dir, capture_output=True, text=True, timeout=60
        )
        # systemd-analyze prints (and otherwise ignores) unknown keys: silence is valid.
        assert check.returncode == 0 and check.stderr.strip() == "", (host, check.stderr)


def test_the_configurations_are_the_ones_the_lab_runs_at_production_places(
    cli: Cli, resolved: tuple[Topology, Path], tmp_path: Path
) -> None:
    topology, topology_file = resolved
    out = tmp_path / "out"
    assert _export(cli, topology_file, out).exit_code == 0
    lab = LabLayout(tmp_path / "lab")
    bin_dir = Path("/usr/lib/postgresql/15/bin")
    node = topology.postgres.nodes[1]
    exported = yaml.safe_load((out / node.name / "etc/patroni/config.yml").read_text())
    rehearsed = render_patroni_config(topology, node, layout=lab, bin_dir=bin_dir)
    mine, theirs = dict(_flatten(exported)), dict(_flatten(rehearsed))
    assert mine.keys() == theirs.keys()
    differing = {key for key in mine if mine[key] != theirs[key]}
    # Only where files live and the deployment's own passwords differ.
    assert differing == {
        "postgresql.data_dir",
        "postgresql.pgpass",
        "postgresql.parameters.unix_socket_directories",
        "postgresql.parameters.log_directory",
        "postgresql.parameters.archive_command",
        "postgresql.authentication.superuser.password",
        "postgresql.authentication.replication.password",
    }
    # Every node archives (archive_mode=always) through the same command, run from the
    # production home, never from the lab's.
    assert (
        mine["postgresql.parameters.archive_mode"] == theirs["postgresql.parameters.archive_mode"]
    )
    assert "/var/lib/chairside" in mine["postgresql.parameters.archive_command"]
    assert str(lab.root) not in mine["postgresql.parameters.archive_command"]
    assert mine["postgresql.data_dir"] == f"/var/lib/chairside/pg/{node.name}/data"
    haproxy = (out / "haproxy/etc/haproxy/haproxy.cfg").read_text()
    assert haproxy == render_haproxy_config(topology, layout=lab).replace(
        str(lab.haproxy_socket), "/run/haproxy/admin.sock"
    )
    sentinel = topology.redis.sentinels[0]
    conf = (out / sentinel.name / "etc/redis/sentinel.conf").read_text()
    assert conf == render_sentinel_config(topology, sentinel)
    replica = topology.redis.nodes[1]
    lines = (out / replica.name / "etc/redis/redis.conf").read_text().splitlines()
    work = Path(f"/var/lib/chairside/redis/{replica.name}")
    assert lines == [
        " ".join(o if o else '""' for o in option)
        for option in redis_options(topology, replica, work_dir=work)
    ]
    assert f"replicaof {topology.redis.nodes[0].host} {topology.redis.nodes[0].port}" in lines
    if shutil.which("haproxy"):
        check = subprocess.run(
            ["haproxy", "-c", "-f", str(out / "haproxy/etc/haproxy/haproxy.cfg")],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert check.returncode == 0, check.stdout + check.stderr


def test_a_second_export_keeps_the_secrets_and_unset_ports_are_refused(
    cli: Cli, resolved: tuple[Topology, Path], tmp_path: Path
) -> None:
    _, topology_file = resolved
    out = tmp_path / "out"
    assert _export(cli, topology_file, out).exit_code == 0
    first = (out / "secrets.json").read_text()
    assert _export(cli, topology_file, out).exit_code == 0
    assert (out / "secrets.json").read_text() == first
    built_in = tmp_path / "lab.yaml"
    built_in.write_text(yaml.safe_dump(load_topology(None).model_dump(mode="json")))
    refused = _export(cli, built_in, tmp_path / "other")
    assert refused.exit_code != 0
    assert "postgres.pg1.port" in refused.stdout and "every port" in refused.stdout
