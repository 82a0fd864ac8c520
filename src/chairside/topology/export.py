"""The topology's hosts as systemd units and configuration files, for production.

Every configuration comes from the render function the lab runs (Patroni's YAML,
``haproxy.cfg``, the Redis and Sentinel options, PgBouncer's ini, the API hosts'
settings), so what a rehearsal proved is what production runs; only the places differ:
state under ``/var/lib/chairside`` (systemd's ``StateDirectory=``), configuration
under ``/etc``, HAProxy's admin socket under ``/run/haproxy``. Each host gets a tree
to copy to ``/`` (``rsync -a OUT/pg1/ root@pg1:/``): ``OUT/<host>/etc/...``.

The deployment's passwords and keys are made once in ``OUT/secrets.json`` (mode 0600)
and reused by later exports, so re-exporting after a topology change keeps them.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import yaml

from chairside.config import Settings
from chairside.errors import ConfigError
from chairside.ops.schedule.export import export_systemd
from chairside.ops.schedule.jobs import default_jobs
from chairside.runtime.lab.etcd import etcd_arguments
from chairside.runtime.lab.haproxy import render_haproxy_config
from chairside.runtime.lab.layout import LabLayout
from chairside.runtime.lab.patroni import render_patroni_config
from chairside.runtime.lab.pgbouncer import render_pgbouncer_config, render_pgbouncer_userlist
from chairside.runtime.lab.redis import render_redis_config, render_sentinel_config
from chairside.topology.model import Topology

STATE_ROOT = PurePosixPath("/var/lib/chairside")
HAPROXY_SOCKET = PurePosixPath("/run/haproxy/admin.sock")
UNIT_DIR = PurePosixPath("/etc/systemd/system")
ENV_FILE = PurePosixPath("/etc/chairside/env")


@dataclass(frozen=True)
class HostLayout(LabLayout):
    """The lab's layout at a production host's places, with the deployment's secrets
    (the render functions ask a layout for both)."""

    keys: Mapping[str, str] = field(default_factory=dict)

    def secrets(self) -> dict[str, str]:
        return dict(self.keys)

    @property
    def haproxy_socket(self) -> Path:
        return Path(HAPROXY_SOCKET)


@dataclass(frozen=True)
class ExportedFile:
    """One file of one host: where it is installed, its text and its mode."""

    host: str
    path: PurePosixPath
    text: str
    mode: int = 0o644

    @property
    def is_unit(self) -> bool:
        return self.path.parent == UNIT_DIR


@dataclass(frozen=True)
class Binaries:
    """Where the programs are on the production machines (Debian's paths by default)."""

    chairside: str = "/srv/chairside/.venv/bin/chairside"
    pg_bin_dir: str = "/usr/lib/postgresql/15/bin"
    etcd: str = "/usr/bin/etcd"
    patroni: str = "/usr/bin/patroni"
    haproxy: str = "/usr/sbin/haproxy"
    redis_server: str = "/usr/bin/redis-server"
    redis_sentinel: str = "/usr/bin/redis-sentinel"
    pgbouncer: str = "/usr/sbin/pgbouncer"


def deployment_secrets(path: Path) -> dict[str, str]:
    """The deployment's passwords and keys in ``path``, made on first use (mode 0600)."""
    if path.exists():
        return {str(k): str(v) for k, v in json.loads(path.read_text()).items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    values = {
        "superuser_password": secrets.token_urlsafe(18),
        "replication_password": secrets.token_urlsafe(18),
        "jwt_secret": secrets.token_urlsafe(48),
        "s3_access_key": "",
        "s3_secret_key": "",
    }
    path.touch(mode=0o600)
    os.chmod(path, 0o600)
    path.write_text(json.dumps(values, indent=2) + "\n")
    return values


def export_topology(
    topology: Topology,
    *,
    settings: Settings,
    keys: Mapping[str, str],
    binaries: Binaries = Binaries(),
) -> list[ExportedFile]:
    """Every host's units and configuration files; refuses a topology with a port of 0."""
    _refuse_unset_ports(topology)
    topology = topology.model_copy(deep=True)
    topology.haproxy.admin_socket = str(HAPROXY_SOCKET)
    layout = HostLayout(root=Path(STATE_ROOT), keys=dict(keys))
    return [*_files(topology, layout, settings, binaries)]


def _files(
    topology: Topology, layout: HostLayout, settings: Settings, binaries: Binaries
) -> Iterator[ExportedFile]:
    for member in topology.etcd:
        data_dir = layout.root / "etcd" / member.name
        yield ExportedFile(
            member.name,
            UNIT_DIR / "etcd.service",
            _unit(
                "etcd member " + member.name + " (Patroni's leader key)",
                user="etcd",
                state=data_dir,
                notify=True,
                exec_start=[binaries.etcd, *etcd_arguments(topology, member, data_dir=data_dir)],
            ),
        )
    for node in topology.postgres.nodes:
        node_dir = layout.node_dir(node.name)
        config = render_patroni_config(
            topology, node, layout=layout, bin_dir=Path(binaries.pg_bin_dir)
        )
        yield ExportedFile(
            node.name, PurePosixPath("/etc/patroni/config.yml"), yaml.safe_dump(config), 0o600
        )
        yield ExportedFile(
            node.name,
            UNIT_DIR / "patroni.service",
            _unit(
                f"Patroni and PostgreSQL node {node.name} (scope {topology.postgres.scope})",
                user="postgres",
                state=node_dir,
                exec_start_pre=[f"/bin/mkdir -p {node_dir / 'run'} {node_dir / 'log'}"],
                exec_start=[binaries.patroni, "/etc/patroni/config.yml"],
                reload="/bin/kill -HUP $MAINPID",
                # Patroni stops PostgreSQL itself; killing its children would crash it.
                extra=["KillMode=process", "TimeoutStopSec=60"],
            ),
        )
    yield ExportedFile(
        "haproxy",
        PurePosixPath("/etc/haproxy/haproxy.cfg"),
        render_haproxy_config(topology, layout=layout),
    )
    yield ExportedFile(
        "haproxy",
        UNIT_DIR / "haproxy.service",
        _unit(
            "HAProxy: database write and read ports, API hosts",
            user=None,
            notify=True,
            runtime="haproxy",
            exec_start=[binaries.haproxy, "-Ws", "-f", "/etc/haproxy/haproxy.cfg"],
            reload="/bin/kill -USR2 $MAINPID",
        ),
    )
    if topology.pgbouncer.enabled:
        yield from _pgbouncer(topology, layout, binaries)
    for redis_node in topology.redis.nodes:
        work = layout.root / "redis" / redis_node.name
        yield ExportedFile(
            redis_node.name,
            PurePosixPath("/etc/redis/redis.conf"),
            render_redis_config(topology, redis_node, work_dir=work),
        )
        yield ExportedFile(
            redis_node.name,
            UNIT_DIR / "redis-server.service",
            _unit(
                f"Redis {redis_node.name}",
                user="redis",
                state=work,
                exec_start=[binaries.redis_server, "/etc/redis/redis.conf"],
            ),
        )
    for sentinel in topology.redis.sentinels:
        yield ExportedFile(
            sentinel.name,
            PurePosixPath("/etc/redis/sentinel.conf"),
            render_sentinel_config(topology, sentinel),
            0o640,
        )
        yield ExportedFile(
            sentinel.name,
            UNIT_DIR / "redis-sentinel.service",
            _unit(
                f"Redis Sentinel {sentinel.name}",
                user="redis",
                # Sentinel rewrites its own file as the topology changes.
                exec_start_pre=["+/bin/chown redis:redis /etc/redis/sentinel.conf"],
                exec_start=[binaries.redis_sentinel, "/etc/redis/sentinel.conf"],
            ),
        )
    yield from _api_hosts(topology, layout, settings, binaries)


def _pgbouncer(
    topology: Topology, layout: HostLayout, binaries: Binaries
) -> Iterator[ExportedFile]:
    userlist = PurePosixPath("/etc/pgbouncer/userlist.txt")
    yield ExportedFile(
        "haproxy",
        PurePosixPath("/etc/pgbouncer/pgbouncer.ini"),
        render_pgbouncer_config(topology, auth_file=Path(userlist)),
    )
    yield ExportedFile(
        "haproxy",
        userlist,
        render_pgbouncer_userlist(layout.secrets()["superuser_password"]),
        0o600,
    )
    yield ExportedFile(
        "haproxy",
        UNIT_DIR / "pgbouncer.service",
        _unit(
            "PgBouncer (transaction mode) in front of HAProxy's write port",
            user="postgres",
            exec_start_pre=["+/bin/chown postgres /etc/pgbouncer/userlist.txt"],
            exec_start=[binaries.pgbouncer, "/etc/pgbouncer/pgbouncer.ini"],
            reload="/bin/kill -HUP $MAINPID",
        ),
    )


def _api_hosts(
    topology: Topology, layout: HostLayout, settings: Settings, binaries: Binaries
) -> Iterator[ExportedFile]:
    env = layout.client_environment(topology)
    env["CHAIRSIDE_HOME"] = str(STATE_ROOT)
    env.update(topology.api.environment)
    env_text = "".join(f"{key}={_quote(value)}\n" for key, value in env.items())
    resolved = json.dumps(topology.model_dump(mode="json"), indent=2) + "\n"
    schedule = export_systemd(
        default_jobs(settings), executable=binaries.chairside, environment_file=str(ENV_FILE)
    )
    for host in topology.api.hosts:
        yield ExportedFile(host.name, ENV_FILE, env_text, 0o600)
        yield ExportedFile(host.name, PurePosixPath(env["CHAIRSIDE_TOPOLOGY"]), resolved)
        yield ExportedFile(
            host.name,
            UNIT_DIR / "chairside.service",
            _unit(
                f"Chairside API host {host.name}",
                user="chairside",
                state=PurePosixPath(STATE_ROOT),
                environment_file=str(ENV_FILE),
                exec_start=[
                    binaries.chairside,
                    "up",
                    "--host",
                    host.host,
                    "--port",
                    str(host.port),
                    "--workers",
                    str(host.workers),
                ],  # fmt: skip
                extra=["TimeoutStopSec=60"],
            ),
        )
        # The ops schedule on every API host: the leader lock lets one run each job.
        for item in schedule.files:
            yield ExportedFile(host.name, UNIT_DIR / item.name, item.text)


def _unit(
    description: str,
    *,
    user: str | None,
    exec_start: list[str],
    state: PurePosixPath | Path | None = None,
    runtime: str | None = None,
    notify: bool = False,
    exec_start_pre: list[str] | None = None,
    reload: str | None = None,
    environment_file: str | None = None,
    extra: list[str] | None = None,
) -> str:
    lines = [
        "# Written by `chairside topology export`; see docs/production.md.",
        "[Unit]",
        f"Description={description}",
        "After=network-online.target",
        "Wants=network-online.target",
        "",
        "[Service]",
        f"Type={'notify' if notify else 'simple'}",
    ]
    if user is not None:
        lines.append(f"User={user}")
    if state is not None:
        relative = PurePosixPath(state).relative_to("/var/lib")
        lines += [f"StateDirectory={relative}", "StateDirectoryMode=0700"]
    if runtime is not None:
        lines.append(f"RuntimeDirectory={runtime}")
    if environment_file is not None:
        lines.append(f"EnvironmentFile={environment_file}")
    lines += [f"ExecStartPre={command}" for command in exec_start_pre or []]
    lines.append("ExecStart=" + " ".join(_argument(a) for a in exec_start))
    if reload is not None:
        lines.append(f"ExecReload={reload}")
    lines += ["Restart=always", "RestartSec=2", "LimitNOFILE=65536", *(extra or [])]
    lines += ["", "[Install]", "WantedBy=multi-user.target", ""]
    return "\n".join(lines)


def _argument(value: str) -> str:
    """One ExecStart= argument, quoted when systemd would split or expand it."""
    if value and not any(c in value for c in " \"'\\$%;"):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    return f'"{escaped}"'


def _quote(value: str) -> str:
    """A value of an EnvironmentFile= line (double-quoted, as systemd reads it)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _refuse_unset_ports(topology: Topology) -> None:
    unset = [name for name, port in _ports(topology) if port == 0]
    if topology.pgbouncer.enabled is False:
        unset = [name for name in unset if not name.startswith("pgbouncer.")]
    if unset:
        raise ConfigError(
            f"ports of 0 in the topology ({', '.join(unset)}): production needs every port"
            " written down; give them in the file (the lab's resolved topology.json is one"
            " with every port chosen)"
        )


def _ports(topology: Topology) -> Iterator[tuple[str, int]]:
    for m in topology.etcd:
        yield f"etcd.{m.name}.client_port", m.client_port
        yield f"etcd.{m.name}.peer_port", m.peer_port
    for n in topology.postgres.nodes:
        yield f"postgres.{n.name}.port", n.port
        yield f"postgres.{n.name}.rest_port", n.rest_port
    hp = topology.haproxy
    for name in ("db_write_port", "db_read_port", "api_port", "stats_port"):
        yield f"haproxy.{name}", int(getattr(hp, name))
    yield "pgbouncer.port", topology.pgbouncer.port
    for r in [*topology.redis.nodes, *topology.redis.sentinels]:
        yield f"redis.{r.name}.port", r.port
    for h in topology.api.hosts:
        yield f"api.{h.name}.port", h.port


def write_export(files: list[ExportedFile], out: Path) -> list[Path]:
    """Each file under ``out/<host>/<its install path>``, with its mode."""
    written = []
    for item in files:
        path = out / item.host / str(item.path).lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(item.text)
        path.chmod(item.mode)
        written.append(path)
    return written
