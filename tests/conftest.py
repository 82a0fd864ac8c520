"""Shared fixtures: real PostgreSQL and Redis on free ports, an isolated database per test.

Session-wide: one cluster (``pg_cluster``), one Redis (``redis_server``), and a template
database migrated once. Per test: a fresh database cloned from that template
(``database_url``), Redis flushed, and ``settings`` / ``app_client`` built on them. Tests
that need clusters of their own (backups, restores) ask ``cluster_factory``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from chairside.api.app import create_app
from chairside.config import Settings, load_settings
from chairside.ops.database import migrations
from chairside.runtime.postgres import PostgresCluster
from chairside.runtime.redis import RedisServer
from tests.support.seaweed import SeaweedServer, seaweed_server
from tests.support.servers import ClusterFactory, remove_tree, scratch_dir
from tests.support.servers import redis_server as start_redis

TEMPLATE_DB = "chairside_template"
_db_counter = itertools.count()


@pytest.fixture(scope="session")
def scratch_base() -> Iterator[Path]:
    base = scratch_dir()
    yield base
    remove_tree(base)


@pytest.fixture(scope="session")
def cluster_factory(scratch_base: Path) -> Iterator[ClusterFactory]:
    factory = ClusterFactory(scratch_base / "clusters")
    yield factory
    factory.stop_all()


@pytest.fixture(scope="session")
def pg_cluster(cluster_factory: ClusterFactory) -> PostgresCluster:
    """The shared cluster, with a migrated template database."""
    cluster = cluster_factory.make("shared")
    cluster.create_database(TEMPLATE_DB)
    migrations.upgrade(url=cluster.url(TEMPLATE_DB))
    return cluster


@pytest.fixture(scope="session")
def redis_server(scratch_base: Path) -> Iterator[RedisServer | None]:
    with start_redis(scratch_base) as server:
        yield server


@pytest.fixture(scope="session")
def seaweed(scratch_base: Path) -> Iterator[SeaweedServer]:
    """A real S3-compatible server (SeaweedFS) on loopback, signatures enforced."""
    with seaweed_server(scratch_base / "seaweed") as server:
        yield server


@pytest.fixture
def database_url(pg_cluster: PostgresCluster) -> Iterator[str]:
    """A fresh, migrated database of this test's own."""
    name = f"t_{next(_db_counter)}"
    pg_cluster.create_database(name, template=TEMPLATE_DB)
    yield pg_cluster.url(name)
    with psycopg.connect(pg_cluster.conninfo(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


@pytest.fixture
def redis_url(redis_server: RedisServer | None) -> str | None:
    if redis_server is None:
        return None
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def settings(home: Path, database_url: str, redis_url: str | None) -> Settings:
    return load_settings(
        env="test",
        home=home,
        database_url=database_url,
        redis_url=redis_url,
        log_json=True,
        log_level="WARNING",
    )


@pytest.fixture
def app_client(settings: Settings) -> Iterator[TestClient]:
    """The HTTP app on this test's database and Redis, lifespan included."""
    with TestClient(create_app(settings)) as client:
        yield client
