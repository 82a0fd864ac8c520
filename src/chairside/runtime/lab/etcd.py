"""etcd members: the consensus store that holds Patroni's leader key."""

from __future__ import annotations

import shutil
from pathlib import Path

from chairside.errors import BinaryNotFoundError
from chairside.runtime.lab.layout import LabLayout
from chairside.runtime.lab.process import Daemon
from chairside.runtime.osuser import OsUser
from chairside.topology.model import EtcdMember, Topology


def etcd_daemon(
    topology: Topology, member: EtcdMember, *, layout: LabLayout, user: OsUser
) -> Daemon:
    """One etcd member of the lab's cluster (v3 API; Patroni speaks it over HTTP)."""
    binary = shutil.which("etcd")
    if binary is None:
        raise BinaryNotFoundError(
            "etcd is not installed; install it with: apt-get install etcd-server"
        )
    data_dir = layout.root / "etcd" / member.name
    return Daemon(
        name=member.name,
        role="etcd",
        argv=[binary, *etcd_arguments(topology, member, data_dir=data_dir)],
        log_file=layout.log_file(member.name),
        user=user,
    )


def etcd_arguments(topology: Topology, member: EtcdMember, *, data_dir: Path) -> list[str]:
    """etcd's flags for ``member`` (the lab's process and the exported unit alike)."""
    initial = ",".join(f"{m.name}={m.peer_url}" for m in topology.etcd)
    state = "existing" if (data_dir / "member").exists() else "new"
    return [
        f"--name={member.name}",
        f"--data-dir={data_dir}",
        f"--listen-client-urls={member.client_url}",
        f"--advertise-client-urls={member.client_url}",
        f"--listen-peer-urls={member.peer_url}",
        f"--initial-advertise-peer-urls={member.peer_url}",
        f"--initial-cluster={initial}",
        f"--initial-cluster-state={state}",
        f"--initial-cluster-token={topology.name}",
        "--log-level=warn",
    ]
