"""A PostgreSQL node under Patroni: its configuration file and its process.

Patroni runs PostgreSQL (as the ``postgres`` user when Chairside runs as root), takes
the leader key in etcd, makes the others stream from the leader, and promotes a replica
when the leader's key expires. Synchronous mode makes a commit wait for a replica, so a
failover loses no committed transaction.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import yaml

from chairside.errors import BinaryNotFoundError, ComponentError
from chairside.runtime.lab.archive import archive_parameters
from chairside.runtime.lab.layout import REPLICATION_USER, SUPERUSER, LabLayout
from chairside.runtime.lab.process import Daemon
from chairside.runtime.osuser import OsUser, hand_over, run_as
from chairside.topology.model import PostgresNode, Topology


def patroni_binary() -> str:
    found = shutil.which("patroni")
    if found is None:
        raise BinaryNotFoundError(
            "patroni is not installed; install it with: apt-get install patroni "
            "(or scripts/install-system-deps.sh lab)"
        )
    return found


def render_patroni_config(
    topology: Topology, node: PostgresNode, *, layout: LabLayout, bin_dir: Path
) -> dict[str, object]:
    """Patroni's YAML configuration of ``node``, as a mapping."""
    pg = topology.postgres
    keys = layout.secrets()
    node_dir = layout.node_dir(node.name)
    clients = sorted(
        {n.host for n in pg.nodes} | {topology.haproxy.host} | {h.host for h in topology.api.hosts}
    )
    hba = ["local all all trust"]
    for address in clients:
        hba.append(f"host all all {address}/32 scram-sha-256")
        hba.append(f"host replication {REPLICATION_USER} {address}/32 scram-sha-256")
        # pg_basebackup of `backup full` (from a replica too) connects as the superuser.
        hba.append(f"host replication {SUPERUSER} {address}/32 scram-sha-256")
    parameters: dict[str, object] = {
        "wal_level": "replica",
        "hot_standby": "on",
        "max_wal_senders": 10,
        "max_replication_slots": 10,
        "wal_log_hints": "on",
        "wal_keep_size": "128MB",
        "max_connections": 200,
        "hot_standby_feedback": "on",
    }
    parameters.update(pg.parameters)
    return {
        "scope": pg.scope,
        "name": node.name,
        "restapi": {
            "listen": f"{node.host}:{node.rest_port}",
            "connect_address": f"{node.host}:{node.rest_port}",
        },
        "etcd3": {"hosts": [f"{m.host}:{m.client_port}" for m in topology.etcd]},
        "bootstrap": {
            "dcs": {
                "ttl": pg.ttl,
                "loop_wait": pg.loop_wait,
                "retry_timeout": pg.retry_timeout,
                "maximum_lag_on_failover": pg.maximum_lag_on_failover,
                "synchronous_mode": pg.synchronous_mode,
                "synchronous_node_count": pg.synchronous_node_count,
                "postgresql": {
                    "use_pg_rewind": True,
                    "use_slots": True,
                    "parameters": parameters,
                },
            },
            "initdb": [{"encoding": "UTF8"}, {"locale": "C.UTF-8"}, "data-checksums"],
        },
        "postgresql": {
            "listen": f"{node.host}:{node.port}",
            "connect_address": f"{node.host}:{node.port}",
            "data_dir": str(node_dir / "data"),
            "bin_dir": str(bin_dir),
            "pgpass": str(node_dir / "pgpass"),
            "pg_hba": hba,
            "remove_data_directory_on_rewind_failure": True,
            "remove_data_directory_on_diverged_timelines": True,
            "authentication": {
                "superuser": {"username": SUPERUSER, "password": keys["superuser_password"]},
                "replication": {
                    "username": REPLICATION_USER,
                    "password": keys["replication_password"],
                },
            },
            "parameters": {
                "unix_socket_directories": str(node_dir / "run"),
                "logging_collector": "on",
                "log_directory": str(node_dir / "log"),
                # Every node archives into the lab's S3 repository (runtime/lab/archive.py).
                **archive_parameters(topology, layout),
            },
        },
        "tags": {"nofailover": False, "noloadbalance": False},
    }


def patroni_daemon(
    topology: Topology, node: PostgresNode, *, layout: LabLayout, bin_dir: Path, user: OsUser
) -> Daemon:
    """The Patroni agent of ``node``, its directories handed to ``user``."""
    node_dir = layout.node_dir(node.name)
    _check_reachable(node_dir.parent, user)
    for path in (node_dir, node_dir / "run", node_dir / "log"):
        hand_over(path, user)
    config = node_dir / "patroni.yml"
    config.write_text(
        yaml.safe_dump(render_patroni_config(topology, node, layout=layout, bin_dir=bin_dir))
    )
    config.chmod(0o600)
    if not user.is_current:
        assert user.uid is not None and user.gid is not None
        os.chown(config, user.uid, user.gid)
    return Daemon(
        name=node.name,
        role="postgres",
        argv=[patroni_binary(), str(config)],
        log_file=layout.log_file(node.name),
        user=user,
    )


def _check_reachable(path: Path, user: OsUser) -> None:
    """``path`` (the lab's ``pg`` directory) must be reachable by the server's user."""
    hand_over(path, user, mode=0o755)
    if user.is_current:
        return
    probe = run_as(user, ["test", "-x", str(path)], check=False)
    if probe.returncode != 0:
        raise ComponentError(
            f"the '{user.name}' user cannot reach {path} (a parent directory such as /root "
            "is not traversable); put CHAIRSIDE_HOME somewhere it can reach, for example "
            "/var/lib/chairside or a directory under /tmp"
        )
