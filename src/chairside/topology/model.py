"""The topology past one machine: which host runs what, on which address.

One file describes it (``lab.yaml`` is the rehearsal one): etcd members, PostgreSQL
nodes under Patroni, HAProxy in front of the database and the API hosts, Redis under
Sentinel, the API hosts and the S3 backup repository. A port of 0 means "choose a free
one when the lab starts"; :func:`chairside.topology.file.resolve_ports` fills them in
and the resolved topology is what the other commands read.
"""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    """Unknown keys are errors: a misspelt role must not be silently ignored."""

    model_config = ConfigDict(extra="forbid")


class EtcdMember(_Strict):
    """One member of the etcd cluster Patroni keeps its leader key in."""

    name: str
    host: str = "127.0.0.1"
    client_port: int = Field(default=0, ge=0, le=65535)
    peer_port: int = Field(default=0, ge=0, le=65535)

    @property
    def client_url(self) -> str:
        return f"http://{self.host}:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://{self.host}:{self.peer_port}"


class PostgresNode(_Strict):
    """One PostgreSQL server and the Patroni agent that runs it."""

    name: str
    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)
    rest_port: int = Field(default=0, ge=0, le=65535)

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.rest_port}"


class PostgresTopology(_Strict):
    """The Patroni cluster: its scope, its timing and its nodes."""

    scope: str = "chairside"
    database: str = "chairside"
    synchronous_mode: bool = True
    synchronous_node_count: int = Field(default=1, ge=1)
    ttl: int = Field(default=10, ge=2)
    loop_wait: int = Field(default=2, ge=1)
    retry_timeout: int = Field(default=4, ge=1)
    maximum_lag_on_failover: int = Field(default=1048576, ge=0)
    # How long writes may be refused after the leader dies (the failover drill's target).
    # Unset: the leader key's TTL, two HA loops and a few seconds for HAProxy and clients.
    failover_target_seconds: float | None = Field(default=None, gt=0)
    # Extra PostgreSQL settings for every node (Patroni's dynamic configuration).
    parameters: dict[str, str] = Field(default_factory=dict)
    nodes: list[PostgresNode] = Field(min_length=1)

    @property
    def failover_budget_seconds(self) -> float:
        """The failover target: configured, or ttl + 2 * loop_wait + 5 s."""
        if self.failover_target_seconds is not None:
            return self.failover_target_seconds
        return float(self.ttl + 2 * self.loop_wait + 5)

    @model_validator(mode="after")
    def _timing_is_consistent(self) -> PostgresTopology:
        # Patroni's own rule: a leader must be able to renew its key within the TTL.
        if self.loop_wait + 2 * self.retry_timeout > self.ttl:
            raise ValueError(
                f"ttl {self.ttl} is shorter than loop_wait + 2 * retry_timeout "
                f"({self.loop_wait} + 2 * {self.retry_timeout}); raise ttl or lower the others"
            )
        return self


class HaproxyTopology(_Strict):
    """HAProxy: the database's write and read ports and the API's port."""

    host: str = "127.0.0.1"
    db_write_port: int = Field(default=0, ge=0, le=65535)
    db_read_port: int = Field(default=0, ge=0, le=65535)
    api_port: int = Field(default=0, ge=0, le=65535)
    stats_port: int = Field(default=0, ge=0, le=65535)
    check_interval_ms: int = Field(default=500, ge=100)
    replica_max_lag_bytes: int = Field(default=1048576, ge=0)
    # HAProxy's admin socket (``show stat``, drain); the lab fills in its own.
    admin_socket: str | None = None


class PgbouncerTopology(_Strict):
    """PgBouncer in transaction mode between the API hosts and HAProxy's write port.

    Off by default: it pays when API workers' pools add up to more connections than the
    leader should hold (docs/production.md, sizing). The API's request pool goes through
    it (``CHAIRSIDE_DATABASE_POOLER_URL``); migrations, the schedule's leader lock and
    ops commands keep HAProxy's write port, since they need a session of their own.
    """

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)
    # Server connections per (user, database): what the leader holds for all API hosts.
    pool_size: int = Field(default=20, ge=1, le=10000)
    # Client connections PgBouncer accepts (every API worker's pool, together).
    max_client_conn: int = Field(default=1000, ge=1, le=100000)


class RedisNode(_Strict):
    """One Redis server (the first of the list starts as master)."""

    name: str
    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)


class RedisTopology(_Strict):
    """Redis under Sentinel."""

    master_name: str = "chairside"
    quorum: int = Field(default=2, ge=1)
    down_after_ms: int = Field(default=2000, ge=100)
    failover_timeout_ms: int = Field(default=10000, ge=1000)
    nodes: list[RedisNode] = Field(min_length=1)
    sentinels: list[RedisNode] = Field(min_length=1)

    @model_validator(mode="after")
    def _quorum_is_reachable(self) -> RedisTopology:
        if self.quorum > len(self.sentinels):
            raise ValueError(
                f"quorum {self.quorum} needs more sentinels than the {len(self.sentinels)} "
                "listed; allowed: 1 to the number of sentinels"
            )
        return self

    @property
    def sentinel_addresses(self) -> str:
        """``host:port,host:port``: the value of CHAIRSIDE_REDIS_SENTINELS."""
        return ",".join(f"{s.host}:{s.port}" for s in self.sentinels)


class ApiHost(_Strict):
    """One API host: its own state directory (under the lab) and its own port."""

    name: str
    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, le=64)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


class ApiTopology(_Strict):
    """The API hosts and how far behind a replica their lag-tolerant reads may be."""

    replica_max_lag_seconds: float = Field(default=1.0, ge=0)
    # Further settings for every API host (e.g. CHAIRSIDE_AVAILABILITY_CACHE_SECONDS).
    environment: dict[str, str] = Field(default_factory=dict)
    hosts: list[ApiHost] = Field(min_length=1)


class S3Topology(_Strict):
    """The S3-compatible store holding the backup repository."""

    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)
    bucket: str = "chairside-backups"
    region: str = "us-east-1"

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"


class Topology(_Strict):
    """Every host of the deployment, by role."""

    name: str = "chairside-lab"
    etcd: list[EtcdMember] = Field(min_length=1)
    postgres: PostgresTopology
    haproxy: HaproxyTopology
    pgbouncer: PgbouncerTopology = Field(default_factory=PgbouncerTopology)
    redis: RedisTopology
    api: ApiTopology
    s3: S3Topology | None = None

    @model_validator(mode="after")
    def _names_are_unique(self) -> Topology:
        seen: set[str] = set()
        for name in self.host_names():
            if name in seen:
                raise ValueError(f"host name {name!r} appears twice; every host needs its own")
            seen.add(name)
        return self

    def host_names(self) -> Iterator[str]:
        yield from (m.name for m in self.etcd)
        yield from (n.name for n in self.postgres.nodes)
        yield from (n.name for n in self.redis.nodes)
        yield from (s.name for s in self.redis.sentinels)
        yield from (h.name for h in self.api.hosts)

    def node(self, name: str) -> PostgresNode:
        """The PostgreSQL node called ``name``."""
        for node in self.postgres.nodes:
            if node.name == name:
                return node
        names = ", ".join(n.name for n in self.postgres.nodes)
        raise KeyError(f"no PostgreSQL node {name!r}; the topology has {names}")

    def api_host(self, name: str) -> ApiHost:
        """The API host called ``name``."""
        for host in self.api.hosts:
            if host.name == name:
                return host
        names = ", ".join(h.name for h in self.api.hosts)
        raise KeyError(f"no API host {name!r}; the topology has {names}")
