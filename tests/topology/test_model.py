"""The topology file: what it accepts, what it refuses (naming the key), how ports resolve,
and the configuration the lab derives from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from chairside.config import load_settings
from chairside.errors import ConfigError
from chairside.redis_client import describe_redis, parse_sentinels
from chairside.runtime.lab.haproxy import render_haproxy_config
from chairside.runtime.lab.layout import LabLayout
from chairside.runtime.lab.redis import render_sentinel_config
from chairside.topology.file import (
    default_topology_text,
    load_resolved,
    load_topology,
    parse_topology,
    resolve_ports,
    save_resolved,
)
from chairside.topology.status import configured_topology_checks


def test_the_built_in_lab_describes_every_role() -> None:
    topology = load_topology(None)
    assert [n.name for n in topology.postgres.nodes] == ["pg1", "pg2", "pg3"]
    assert topology.postgres.synchronous_mode
    assert len(topology.redis.sentinels) == 3 and len(topology.api.hosts) == 2
    assert topology.s3 is not None
    assert topology.postgres.failover_budget_seconds == 10 + 2 * 2 + 5


def test_resolving_gives_every_port_of_zero_a_distinct_free_port(tmp_path: Path) -> None:
    resolved = resolve_ports(load_topology(None))
    ports = [n.port for n in resolved.postgres.nodes] + [
        n.rest_port for n in resolved.postgres.nodes
    ]
    ports += [resolved.haproxy.db_write_port, resolved.haproxy.db_read_port]
    ports += [s.port for s in resolved.redis.sentinels] + [h.port for h in resolved.api.hosts]
    assert 0 not in ports and len(set(ports)) == len(ports)
    save_resolved(resolved, tmp_path)
    assert load_resolved(tmp_path) == resolved


def test_a_misspelt_key_is_refused_by_name() -> None:
    text = default_topology_text().replace("synchronous_mode:", "synchronus_mode:")
    with pytest.raises(ConfigError, match="postgres.synchronus_mode"):
        parse_topology(text, source="lab.yaml")


def test_a_ttl_too_short_for_the_ha_loop_is_refused() -> None:
    text = default_topology_text().replace("ttl: 10", "ttl: 5")
    with pytest.raises(ConfigError, match="ttl 5 is shorter than loop_wait"):
        parse_topology(text, source="lab.yaml")


def test_a_quorum_larger_than_the_sentinels_is_refused() -> None:
    text = default_topology_text().replace("quorum: 2", "quorum: 4")
    with pytest.raises(ConfigError, match="quorum 4 needs more sentinels"):
        parse_topology(text, source="lab.yaml")


def test_a_missing_topology_file_is_named(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path, topology=tmp_path / "nope.yaml")
    (result,) = configured_topology_checks(settings)
    assert result.name == "topology" and result.status.value == "critical"
    assert "nope.yaml does not exist" in result.summary


def test_haproxy_routes_writes_to_the_leader_and_reads_to_replicas_within_the_lag(
    tmp_path: Path,
) -> None:
    topology = resolve_ports(load_topology(None))
    config = render_haproxy_config(topology, layout=LabLayout(tmp_path))
    write, read = config.split("listen db_read")
    assert "GET /primary" in write and "on-marked-down shutdown-sessions" in write
    assert f"GET /replica?lag={topology.haproxy.replica_max_lag_bytes}" in read
    for node in topology.postgres.nodes:
        assert f"server {node.name} {node.host}:{node.port} check port {node.rest_port}" in read
    for host in topology.api.hosts:
        assert f"server {host.name} {host.host}:{host.port} check" in config


def test_sentinels_watch_the_first_redis_node_with_the_quorum() -> None:
    topology = resolve_ports(load_topology(None))
    master = topology.redis.nodes[0]
    config = render_sentinel_config(topology, topology.redis.sentinels[0])
    assert f"sentinel monitor chairside {master.host} {master.port} 2" in config


def test_sentinel_addresses_are_parsed_and_bad_ones_named() -> None:
    assert parse_sentinels("10.0.0.5:26379, 10.0.0.6:26380") == [
        ("10.0.0.5", 26379),
        ("10.0.0.6", 26380),
    ]
    with pytest.raises(ConfigError, match="'10.0.0.7' is not host:port"):
        parse_sentinels("10.0.0.5:26379,10.0.0.7")


def test_up_names_the_sentinels_rather_than_saying_redis_is_not_running(tmp_path: Path) -> None:
    settings = load_settings(
        home=tmp_path,
        database_url="postgresql://u:p@127.0.0.1:5432/db",
        redis_sentinels="127.0.0.1:26379,127.0.0.1:26380",
    )
    assert describe_redis(settings) == (
        "master 'chairside' via Sentinel 127.0.0.1:26379,127.0.0.1:26380"
    )
    plain = load_settings(
        home=tmp_path,
        database_url="postgresql://u:p@127.0.0.1:5432/db",
        redis_url="redis://:secret@127.0.0.1:6379/0",
    )
    assert describe_redis(plain) == "redis://:***@127.0.0.1:6379/0"


def test_pgbouncer_is_off_in_the_built_in_lab_and_on_when_the_file_says_so() -> None:
    assert not load_topology(None).pgbouncer.enabled
    text = default_topology_text().replace("enabled: false", "enabled: true")
    enabled = parse_topology(text.replace("pool_size: 20", "pool_size: 7"), source="t.yaml")
    assert enabled.pgbouncer.enabled and enabled.pgbouncer.pool_size == 7
    with pytest.raises(ConfigError, match="pgbouncer.pool_mode"):
        parse_topology(text.replace("pool_size: 20", "pool_mode: session"), source="t.yaml")
