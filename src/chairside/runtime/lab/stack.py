"""The whole lab: start every host in order, keep them running, stop them in reverse.

Order: object store, etcd, the Patroni nodes (until a leader runs and every replica
streams), the database and migrations (once, on the leader, through HAProxy's write
port), Redis and its sentinels, HAProxy, then the API hosts. The supervisor restarts a
process that died, as systemd's ``Restart=always`` would, unless an operator (or a
drill) marked its host down (:meth:`LabLayout.mark_down`).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import httpx
import psycopg
import redis

from chairside.errors import ChairsideError, ComponentError, DependencyDownError
from chairside.ops.database import migrations
from chairside.runtime.binaries import find_pg_bin_dir
from chairside.runtime.lab.api import api_daemon, ready_path
from chairside.runtime.lab.archive import prepare_archiver
from chairside.runtime.lab.etcd import etcd_daemon
from chairside.runtime.lab.haproxy import haproxy_daemon
from chairside.runtime.lab.hosts import apply_release
from chairside.runtime.lab.layout import SUPERUSER, LabLayout
from chairside.runtime.lab.patroni import patroni_daemon
from chairside.runtime.lab.pgbouncer import pgbouncer_daemon
from chairside.runtime.lab.process import Daemon
from chairside.runtime.lab.redis import redis_daemon, sentinel_daemon
from chairside.runtime.lab.s3 import s3_daemon
from chairside.runtime.osuser import OsUser, server_user
from chairside.topology.haproxy import backend_servers
from chairside.topology.model import Topology
from chairside.topology.patroni import cluster_view

SUPERVISE_SECONDS = 0.5
# A process that keeps dying is restarted at most this often.
RESTART_BACKOFF_SECONDS = 2.0


@dataclass
class LabStack:
    """The processes of one lab and the supervisor that keeps them up."""

    topology: Topology
    layout: LabLayout
    daemons: dict[str, Daemon] = field(default_factory=dict)
    on_event: Callable[[str], None] = lambda message: None
    _restarts: dict[str, float] = field(default_factory=dict)

    @classmethod
    def build(cls, topology: Topology, layout: LabLayout) -> LabStack:
        """Every process of the topology, not started yet."""
        me = OsUser(name="", uid=None, gid=None)  # this process's own user
        pg_user = server_user()
        bin_dir = find_pg_bin_dir()
        prepare_archiver(topology, layout, pg_user)
        daemons: list[Daemon] = []
        if topology.s3 is not None:
            daemons.append(s3_daemon(topology.s3, layout=layout, user=me))
        daemons += [etcd_daemon(topology, m, layout=layout, user=me) for m in topology.etcd]
        daemons += [
            patroni_daemon(topology, n, layout=layout, bin_dir=bin_dir, user=pg_user)
            for n in topology.postgres.nodes
        ]
        daemons += [redis_daemon(topology, n, layout=layout, user=me) for n in topology.redis.nodes]
        daemons += [
            sentinel_daemon(topology, s, layout=layout, user=me) for s in topology.redis.sentinels
        ]
        daemons.append(haproxy_daemon(topology, layout=layout, user=me))
        if topology.pgbouncer.enabled:
            daemons.append(pgbouncer_daemon(topology, layout=layout, user=pg_user))
        daemons += [api_daemon(topology, h, layout=layout, user=me) for h in topology.api.hosts]
        return cls(topology=topology, layout=layout, daemons={d.name: d for d in daemons})

    # ---- start -------------------------------------------------------------------------

    def start(self, *, timeout: float = 180) -> None:
        """Start every host and wait until the lab takes bookings."""
        deadline = time.monotonic() + timeout
        for name in self.layout.run_dir.glob("down/*"):
            name.unlink()  # a fresh `lab up` starts every host
        if self.topology.s3 is not None:
            self._start_role("s3")
            _wait(lambda: _s3_ready(self), deadline, "the S3 store")
        self._start_role("etcd")
        for member in self.topology.etcd:
            _wait(partial(_http_ok, f"{member.client_url}/health"), deadline, member.name)
        self._start_role("postgres")
        _wait(
            self._postgres_ready, deadline, "the Patroni cluster (a leader and streaming replicas)"
        )
        self._create_database()
        self._start_role("redis")
        self._start_role("sentinel")
        for node in self.topology.redis.nodes:
            _wait(partial(_redis_ready, node.host, node.port), deadline, node.name)
        self._start_role("haproxy")
        _wait(self._write_port_ready, deadline, "HAProxy's database write port")
        migrations.upgrade(url=self.layout.write_url(self.topology))
        if self.topology.pgbouncer.enabled:
            self._start_role("pgbouncer")
            _wait(self._pooler_ready, deadline, "PgBouncer")
        self._first_backup()
        self._start_role("api")
        for host in self.topology.api.hosts:
            _wait(partial(_http_ok, f"{host.url}{ready_path()}"), deadline, host.name)
        api = f"http://{self.topology.haproxy.host}:{self.topology.haproxy.api_port}"
        _wait(partial(_http_ok, f"{api}{ready_path()}"), deadline, "HAProxy's API port")

    def _start_role(self, role: str) -> None:
        for daemon in self.daemons.values():
            if daemon.role == role:
                self._start(daemon)
        self.record_state(ready=False)

    def _postgres_ready(self) -> bool:
        try:
            view = cluster_view(self.topology)
        except DependencyDownError:
            return False
        if view.leader is None or len(view.members) < len(self.topology.postgres.nodes):
            return False
        return all(m.state == "running" and m.lag_bytes is not None for m in view.members)

    def _create_database(self) -> None:
        view = cluster_view(self.topology)
        assert view.leader is not None
        password = self.layout.secrets()["superuser_password"]
        name = self.topology.postgres.database
        conninfo = (
            f"host={view.leader.host} port={view.leader.port} user={SUPERUSER} "
            f"password={password} dbname=postgres connect_timeout=5"
        )
        with psycopg.connect(conninfo, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if exists.fetchone() is None:
                conn.execute(f'CREATE DATABASE "{name}"'.encode())

    def _pooler_ready(self) -> bool:
        """A transaction through PgBouncer reaches the leader."""
        conninfo = self.layout.pooler_url(self.topology).replace(
            "postgresql+psycopg://", "postgresql://", 1
        )
        try:
            with psycopg.connect(conninfo, connect_timeout=2, prepare_threshold=None) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True

    def _first_backup(self) -> None:
        """A full backup from a replica when the repository has none, so that the lab
        starts recoverable (and `health` on its hosts has a backup to report). A failure
        does not stop the start: `lab status` then reports ``backup_age`` critical."""
        if self.topology.s3 is None:
            return
        from chairside.ops.backup import access
        from chairside.ops.backup.basebackup import take_full_backup
        from chairside.runtime.lab.archive import lab_settings

        settings = lab_settings(self.topology, self.layout, home=self.layout.root / "backup")
        catalog = access.catalog(settings)
        if any(e.manifest and e.manifest.type == "full" for e in catalog.list_backups()):
            return
        try:
            result = take_full_backup(settings, origin="replica")
        except ChairsideError as exc:  # recorded as an ops event; `lab status` shows it
            self.on_event(f"the first full backup failed: {exc.message}")
            return
        self.on_event(
            f"first full backup {result.manifest.id} taken from "
            f"{result.manifest.extra.get('source_node')} in {result.seconds:.1f} s"
        )

    def _write_port_ready(self) -> bool:
        """Every database server checked once, and exactly one behind the write port.

        HAProxy counts a server as up until its first check fails, so a connection made
        before then can land on a replica.
        """
        try:
            servers = backend_servers(self.layout.haproxy_socket)
        except DependencyDownError:
            return False
        db = [s for s in servers if s.backend in {"db_write", "db_read"}]
        if not db or any(not s.checked for s in db):
            return False
        return sum(1 for s in db if s.backend == "db_write" and s.up) == 1

    # ---- supervise ---------------------------------------------------------------------

    def supervise(self, stop: threading.Event) -> None:
        """Restart what died, unless its host is marked down, until ``stop`` is set."""
        while not stop.wait(SUPERVISE_SECONDS):
            self.supervise_once()

    def supervise_once(self) -> None:
        now = time.monotonic()
        for daemon in self.daemons.values():
            if daemon.alive():
                continue
            if self.layout.is_marked_down(daemon.name):
                continue
            if now - self._restarts.get(daemon.name, 0.0) < RESTART_BACKOFF_SECONDS:
                continue
            self._restarts[daemon.name] = now
            self.on_event(f"{daemon.name} ({daemon.role}) is not running: starting it")
            try:
                self._start(daemon)
            except ComponentError as exc:
                self.on_event(f"{daemon.name} did not start: {exc.message}")
            self.record_state(ready=True)

    def _start(self, daemon: Daemon) -> None:
        if daemon.role == "api":
            apply_release(daemon, self.layout)  # the release a rolling deploy installed
        daemon.start()

    def record_state(self, *, ready: bool) -> None:
        """Write who supervises the lab and each host's pid (``lab kill`` reads them)."""
        pids = {name: d.pid for name, d in self.daemons.items() if d.alive()}
        self.layout.write_state(pid=os.getpid(), ready=ready, pids=pids)

    def kill_host(self, name: str) -> Daemon:
        """SIGKILL one host's processes and keep it down until :meth:`LabLayout.mark_up`."""
        daemon = self.daemons[name]
        self.layout.mark_down(name)
        daemon.kill()
        return daemon

    # ---- stop --------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop everything in reverse order; replicas before the leader, so none is promoted."""
        self.record_state(ready=False)
        for role in ("api", "pgbouncer", "haproxy", "sentinel", "redis"):
            self._stop_role(role)
        leader = None
        try:
            view = cluster_view(self.topology, timeout=0.5)
            leader = view.leader.name if view.leader else None
        except DependencyDownError:
            pass
        patroni = [d for d in self.daemons.values() if d.role == "postgres"]
        _stop_all([d for d in patroni if d.name != leader])
        _stop_all([d for d in patroni if d.name == leader])
        self._stop_role("etcd")
        self._stop_role("s3")

    def _stop_role(self, role: str) -> None:
        _stop_all([d for d in self.daemons.values() if d.role == role])


def _stop_all(daemons: list[Daemon]) -> None:
    threads = [threading.Thread(target=d.stop, daemon=True) for d in daemons]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)


def _wait(ready: Callable[[], bool], deadline: float, what: str) -> None:
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.2)
    raise ComponentError(f"{what} did not become ready in time; see the logs in the lab's log/")


def _http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def _redis_ready(host: str, port: int) -> bool:
    client = redis.Redis(host=host, port=port, socket_timeout=0.5, socket_connect_timeout=0.5)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def _s3_ready(stack: LabStack) -> bool:
    """The bucket exists and a signed write reads back (listing alone answers too early)."""
    from chairside.runtime.lab.s3 import ensure_bucket

    try:
        ensure_bucket(stack.topology, stack.layout)
    except Exception:  # noqa: BLE001 - not ready yet, whatever the reason
        return False
    return True
