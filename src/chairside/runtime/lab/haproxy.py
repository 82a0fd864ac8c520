"""HAProxy in front of the database and the API hosts.

- ``db_write``: TCP to the node whose Patroni answers ``GET /primary`` with 200.
- ``db_read``: TCP, round robin over replicas whose Patroni answers
  ``GET /replica?lag=N`` with 200 (streaming, and at most N bytes behind the leader).
- ``api``: HTTP, round robin over API hosts whose ``/health/ready`` answers 200, retrying
  a request on another host when a connection to one fails.

``on-marked-down shutdown-sessions`` closes the clients' connections to a node that
stopped being the leader, so nobody keeps writing to a demoted one.
"""

from __future__ import annotations

import shutil

from chairside.errors import BinaryNotFoundError
from chairside.runtime.lab.api import ready_path
from chairside.runtime.lab.layout import LabLayout
from chairside.runtime.lab.process import Daemon
from chairside.runtime.osuser import OsUser
from chairside.topology.model import Topology


def render_haproxy_config(topology: Topology, *, layout: LabLayout) -> str:
    """The whole ``haproxy.cfg`` of the topology."""
    hp = topology.haproxy
    inter = f"{hp.check_interval_ms}ms"
    db_servers = "\n".join(
        f"    server {n.name} {n.host}:{n.port} check port {n.rest_port}"
        for n in topology.postgres.nodes
    )
    api_servers = "\n".join(
        f"    server {h.name} {h.host}:{h.port} check" for h in topology.api.hosts
    )
    return f"""# Written by chairside lab; see docs/production.md.
global
    maxconn 4000
    stats socket {layout.haproxy_socket} mode 600 level admin
    log stdout format raw local0 warning

defaults
    log global
    timeout connect 2s
    timeout client 30m
    timeout server 30m
    timeout check 1s

listen db_write
    bind {hp.host}:{hp.db_write_port}
    mode tcp
    option httpchk GET /primary
    http-check expect status 200
    default-server inter {inter} fall 2 rise 1 on-marked-down shutdown-sessions
{db_servers}

listen db_read
    bind {hp.host}:{hp.db_read_port}
    mode tcp
    balance roundrobin
    option httpchk GET /replica?lag={hp.replica_max_lag_bytes}
    http-check expect status 200
    default-server inter {inter} fall 2 rise 1 on-marked-down shutdown-sessions
{db_servers}

frontend api
    bind {hp.host}:{hp.api_port}
    mode http
    timeout client 60s
    default_backend api_hosts

backend api_hosts
    mode http
    balance roundrobin
    timeout server 60s
    option httpchk GET {ready_path()}
    http-check expect status 200
    option redispatch
    retries 3
    retry-on conn-failure empty-response
    default-server inter {inter} fall 2 rise 2
{api_servers}

listen stats
    bind {hp.host}:{hp.stats_port}
    mode http
    stats enable
    stats uri /
    stats refresh 5s
"""


def haproxy_daemon(topology: Topology, *, layout: LabLayout, user: OsUser) -> Daemon:
    binary = shutil.which("haproxy") or (
        "/usr/sbin/haproxy" if shutil.which("/usr/sbin/haproxy") else None
    )
    if binary is None:
        raise BinaryNotFoundError(
            "haproxy is not installed; install it with: apt-get install haproxy"
        )
    config = layout.root / "haproxy.cfg"
    config.write_text(render_haproxy_config(topology, layout=layout))
    layout.run_dir.mkdir(parents=True, exist_ok=True)
    return Daemon(
        name="haproxy",
        role="haproxy",
        argv=[binary, "-db", "-f", str(config)],
        log_file=layout.log_file("haproxy"),
        user=user,
    )
