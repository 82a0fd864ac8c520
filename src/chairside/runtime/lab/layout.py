"""Where a lab keeps its files, its secrets, and which hosts an operator took down.

Layout of ``$CHAIRSIDE_HOME/lab``::

    topology.json        the resolved topology (every port chosen)
    secrets.json         passwords and keys of this lab (mode 0600)
    run/lab.json         the supervising ``lab up`` process and whether all is ready
    run/down/<host>      a host taken down on purpose: the supervisor leaves it down
    run/haproxy.sock     HAProxy's admin socket
    log/<host>.log       each process's output
    pg/<node>/           a Patroni node: patroni.yml, data/, run/ (its socket), pgpass
    etcd/<member>/  redis/<node>/  hosts/<api host>/ (its CHAIRSIDE_HOME)  s3/
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from chairside.config import Settings
from chairside.topology.model import Topology

SUPERUSER = "postgres"
REPLICATION_USER = "replicator"


@dataclass(frozen=True)
class LabLayout:
    """The directory of one lab."""

    root: Path

    @classmethod
    def of(cls, settings: Settings) -> LabLayout:
        return cls(settings.home / "lab")

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def log_dir(self) -> Path:
        return self.root / "log"

    @property
    def state_file(self) -> Path:
        return self.run_dir / "lab.json"

    @property
    def haproxy_socket(self) -> Path:
        return self.run_dir / "haproxy.sock"

    def log_file(self, host: str) -> Path:
        return self.log_dir / f"{host}.log"

    def node_dir(self, node: str) -> Path:
        return self.root / "pg" / node

    def api_home(self, host: str) -> Path:
        return self.root / "hosts" / host

    # ---- hosts taken down on purpose (drills, `lab kill`) ----------------------------

    def down_marker(self, host: str) -> Path:
        return self.run_dir / "down" / host

    def mark_down(self, host: str) -> None:
        marker = self.down_marker(host)
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(str(time.time()))

    def mark_up(self, host: str) -> None:
        self.down_marker(host).unlink(missing_ok=True)

    def is_marked_down(self, host: str) -> bool:
        return self.down_marker(host).exists()

    # ---- state of the supervisor -------------------------------------------------------

    def write_state(self, **state: object) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        tmp.replace(self.state_file)

    def read_state(self) -> dict[str, object]:
        try:
            data = json.loads(self.state_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        return data if isinstance(data, dict) else {}

    # ---- secrets -----------------------------------------------------------------------

    def secrets(self) -> dict[str, str]:
        """This lab's passwords and keys, made on first use and kept."""
        path = self.root / "secrets.json"
        if path.exists():
            data = json.loads(path.read_text())
            return {str(k): str(v) for k, v in data.items()}
        self.root.mkdir(parents=True, exist_ok=True)
        values = {
            "superuser_password": secrets.token_urlsafe(18),
            "replication_password": secrets.token_urlsafe(18),
            "jwt_secret": secrets.token_urlsafe(48),
            "s3_access_key": "LAB" + secrets.token_hex(8).upper(),
            "s3_secret_key": secrets.token_urlsafe(24),
        }
        path.touch(mode=0o600)
        os.chmod(path, 0o600)
        path.write_text(json.dumps(values, indent=2) + "\n")
        return values

    # ---- how clients reach the lab ------------------------------------------------------

    def database_url(self, topology: Topology, *, port: int, host: str | None = None) -> str:
        """An SQLAlchemy URL of the lab's database on ``host:port`` (HAProxy by default)."""
        password = quote(self.secrets()["superuser_password"], safe="")
        where = host or topology.haproxy.host
        return (
            f"postgresql+psycopg://{SUPERUSER}:{password}@{where}:{port}/"
            f"{topology.postgres.database}"
        )

    def write_url(self, topology: Topology) -> str:
        return self.database_url(topology, port=topology.haproxy.db_write_port)

    def read_url(self, topology: Topology) -> str:
        return self.database_url(topology, port=topology.haproxy.db_read_port)

    def pooler_url(self, topology: Topology) -> str:
        """PgBouncer's address (the API's request pool, when the topology enables it)."""
        return self.database_url(
            topology, port=topology.pgbouncer.port, host=topology.pgbouncer.host
        )

    def client_environment(self, topology: Topology) -> dict[str, str]:
        """The settings that point a Chairside process at the lab (HAProxy, Sentinel, S3)."""
        keys = self.secrets()
        env = {
            "DATABASE_URL": self.write_url(topology),
            "CHAIRSIDE_DATABASE_READ_URL": self.read_url(topology),
            "CHAIRSIDE_REPLICA_MAX_LAG_SECONDS": str(topology.api.replica_max_lag_seconds),
            "CHAIRSIDE_REDIS_SENTINELS": topology.redis.sentinel_addresses,
            "CHAIRSIDE_REDIS_SENTINEL_MASTER": topology.redis.master_name,
            "CHAIRSIDE_JWT_SECRET": keys["jwt_secret"],
            "CHAIRSIDE_TOPOLOGY": str(self.root / "topology.json"),
            "CHAIRSIDE_HEALTH_API_URL": f"http://{topology.haproxy.host}:{topology.haproxy.api_port}",
        }
        if topology.pgbouncer.enabled:
            env["CHAIRSIDE_DATABASE_POOLER_URL"] = self.pooler_url(topology)
        if topology.s3 is not None:
            env.update(
                {
                    "CHAIRSIDE_BACKUP_REPOSITORY": f"s3://{topology.s3.bucket}/chairside",
                    "CHAIRSIDE_S3_ENDPOINT_URL": topology.s3.endpoint,
                    "CHAIRSIDE_S3_REGION": topology.s3.region,
                    "CHAIRSIDE_S3_ADDRESSING_STYLE": "path",
                    "CHAIRSIDE_S3_ACCESS_KEY_ID": keys["s3_access_key"],
                    "CHAIRSIDE_S3_SECRET_ACCESS_KEY": keys["s3_secret_key"],
                    # Full backups copy the files from a replica, not the leader.
                    "CHAIRSIDE_BACKUP_FROM": "replica",
                }
            )
        return env
