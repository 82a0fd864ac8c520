"""etcd members: the consensus store that holds Patroni's leader key."""

from __future__ import annotations

import shutil

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
    initial = ",".join(f"{m.name}={m.peer_url}" for m in topology.etcd)
    data_dir = layout.root / "etcd" / member.name
    state = "existing" if (data_dir / "member").exists() else "new"
    return Daemon(
        name=member.name,
        role="etcd",
        argv=[
            binary,
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
        ],
        log_file=layout.log_file(member.name),
        user=user,
    )
