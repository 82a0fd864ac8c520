"""Redis under Sentinel: a master, its replicas, and the sentinels that promote one.

The first node of the topology starts as master; the others replicate it. Redis keeps
nothing on disk here, as in the embedded default: PostgreSQL is the guarantee.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from chairside.errors import BinaryNotFoundError
from chairside.runtime.lab.layout import LabLayout
from chairside.runtime.lab.process import Daemon
from chairside.runtime.osuser import OsUser
from chairside.topology.model import RedisNode, Topology


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        package = "redis-sentinel" if name == "redis-sentinel" else "redis-server"
        raise BinaryNotFoundError(f"{name} is not installed; apt-get install {package}")
    return found


def redis_daemon(topology: Topology, node: RedisNode, *, layout: LabLayout, user: OsUser) -> Daemon:
    """One Redis server; every node after the first starts as a replica of the first."""
    work = layout.root / "redis" / node.name
    work.mkdir(parents=True, exist_ok=True)
    argv = [_binary("redis-server")]
    for key, *values in redis_options(topology, node, work_dir=work):
        argv += [f"--{key}", *values]
    return Daemon(
        name=node.name, role="redis", argv=argv, log_file=layout.log_file(node.name), user=user
    )


def redis_options(topology: Topology, node: RedisNode, *, work_dir: Path) -> list[list[str]]:
    """Redis's options for ``node`` (command-line flags in the lab, ``redis.conf`` lines
    in production): every node after the first starts as a replica of the first."""
    options = [
        ["port", str(node.port)],
        ["bind", node.host],
        ["save", ""],
        ["appendonly", "no"],
        ["daemonize", "no"],
        ["dir", str(work_dir)],
    ]
    master = topology.redis.nodes[0]
    if node.name != master.name:
        options.append(["replicaof", master.host, str(master.port)])
    return options


def render_redis_config(topology: Topology, node: RedisNode, *, work_dir: Path) -> str:
    """``redis.conf`` with the same options the lab passes on the command line."""
    lines = []
    for key, *values in redis_options(topology, node, work_dir=work_dir):
        lines.append(" ".join([key, *(v if v else '""' for v in values)]))
    return "\n".join(lines) + "\n"


def render_sentinel_config(topology: Topology, sentinel: RedisNode) -> str:
    redis = topology.redis
    master = redis.nodes[0]
    name = redis.master_name
    return (
        f"port {sentinel.port}\n"
        f"bind {sentinel.host}\n"
        "daemonize no\n"
        "protected-mode no\n"
        f"sentinel monitor {name} {master.host} {master.port} {redis.quorum}\n"
        f"sentinel down-after-milliseconds {name} {redis.down_after_ms}\n"
        f"sentinel failover-timeout {name} {redis.failover_timeout_ms}\n"
        f"sentinel parallel-syncs {name} 1\n"
    )


def sentinel_daemon(
    topology: Topology, sentinel: RedisNode, *, layout: LabLayout, user: OsUser
) -> Daemon:
    """One sentinel; it rewrites its own configuration file as the topology changes."""
    work = layout.root / "redis" / sentinel.name
    work.mkdir(parents=True, exist_ok=True)
    config = work / "sentinel.conf"
    if not config.exists():
        config.write_text(render_sentinel_config(topology, sentinel))
    return Daemon(
        name=sentinel.name,
        role="sentinel",
        argv=[_binary("redis-sentinel"), str(config)],
        log_file=layout.log_file(sentinel.name),
        user=user,
        cwd=work,
    )
