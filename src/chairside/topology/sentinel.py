"""What Redis Sentinel says: which node is master, its replicas, and whether the
sentinels agree."""

from __future__ import annotations

from dataclasses import dataclass

import redis

from chairside.topology.model import Topology


@dataclass(frozen=True)
class SentinelReport:
    """One sentinel's answer (``master`` None when it did not answer)."""

    sentinel: str
    master: str | None
    replicas: tuple[str, ...]
    flags: str
    error: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "sentinel": self.sentinel,
            "master": self.master,
            "replicas": list(self.replicas),
            "flags": self.flags,
            "error": self.error,
        }


def sentinel_reports(topology: Topology, *, timeout: float = 0.5) -> list[SentinelReport]:
    """Each sentinel's view of the master named in the topology."""
    name = topology.redis.master_name
    reports = []
    for sentinel in topology.redis.sentinels:
        label = f"{sentinel.name} ({sentinel.host}:{sentinel.port})"
        client = redis.Redis(
            host=sentinel.host,
            port=sentinel.port,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            decode_responses=True,
        )
        try:
            # Raw replies: redis-py 6's parsers of these two commands are broken.
            master = _pairs(client.execute_command("SENTINEL", "MASTER", name))  # type: ignore[no-untyped-call]
            raw = client.execute_command("SENTINEL", "REPLICAS", name)  # type: ignore[no-untyped-call]
            replicas = [_pairs(r) for r in raw]
        except redis.RedisError as exc:
            reports.append(SentinelReport(label, None, (), "", type(exc).__name__))
            continue
        finally:
            client.close()
        reports.append(
            SentinelReport(
                sentinel=label,
                master=f"{master['ip']}:{master['port']}",
                replicas=tuple(
                    f"{r['ip']}:{r['port']}"
                    for r in replicas
                    if "s_down" not in str(r.get("flags", ""))
                    and "o_down" not in str(r.get("flags", ""))
                ),
                flags=str(master.get("flags", "")),
            )
        )
    return reports


def _pairs(reply: object) -> dict[str, str]:
    """A Sentinel reply ``[key, value, key, value, ...]`` as a mapping."""
    items = [str(x) for x in reply] if isinstance(reply, list) else []
    return dict(zip(items[::2], items[1::2], strict=False))
