"""What Patroni says about the PostgreSQL cluster: its leader, replicas and their lag.

Any node's REST API answers for the whole cluster (``GET /cluster``), so a view asks
each node in turn until one answers.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from chairside.errors import DependencyDownError
from chairside.topology.model import Topology

LEADER_ROLES = ("leader", "master", "primary", "standby_leader")


@dataclass(frozen=True)
class Member:
    """One node as Patroni sees it."""

    name: str
    role: str  # leader, sync_standby, replica
    state: str  # running, streaming, starting, stopped, ...
    host: str
    port: int
    timeline: int | None
    lag_bytes: int | None  # None: unknown (not streaming)

    @property
    def is_leader(self) -> bool:
        return self.role in LEADER_ROLES

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "role": self.role,
            "state": self.state,
            "host": self.host,
            "port": self.port,
            "timeline": self.timeline,
            "lag_bytes": self.lag_bytes,
        }


@dataclass(frozen=True)
class ClusterView:
    """The cluster's members, as one node's Patroni reported them."""

    members: tuple[Member, ...]
    answered_by: str

    @property
    def leader(self) -> Member | None:
        return next((m for m in self.members if m.is_leader and m.state == "running"), None)

    @property
    def replicas(self) -> tuple[Member, ...]:
        return tuple(m for m in self.members if not m.is_leader)

    def member(self, name: str) -> Member | None:
        return next((m for m in self.members if m.name == name), None)


def cluster_view(topology: Topology, *, timeout: float = 1.0) -> ClusterView:
    """The cluster as the first answering node's Patroni sees it."""
    errors = []
    for node in topology.postgres.nodes:
        try:
            response = httpx.get(f"{node.rest_url}/cluster", timeout=timeout)
            response.raise_for_status()
            data = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            errors.append(f"{node.name}: {type(exc).__name__}")
            continue
        return ClusterView(
            members=tuple(_member(raw) for raw in data.get("members", [])), answered_by=node.name
        )
    raise DependencyDownError(
        "no Patroni REST API answers (" + ", ".join(errors) + "); is the cluster running?"
    )


def _member(raw: dict[str, object]) -> Member:
    lag = raw.get("lag")
    timeline = raw.get("timeline")
    return Member(
        name=str(raw.get("name")),
        role=str(raw.get("role")),
        state=str(raw.get("state")),
        host=str(raw.get("host")),
        port=int(str(raw.get("port") or 0)),
        timeline=int(timeline) if isinstance(timeline, int) else None,
        lag_bytes=int(lag)
        if isinstance(lag, int)
        else (0 if raw.get("role") in LEADER_ROLES else None),
    )
