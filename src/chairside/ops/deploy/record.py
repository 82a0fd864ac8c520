"""The record of a deployment, from ``deploy start`` to ``finish`` or ``rollback``.

One deployment is in progress at a time: ``$CHAIRSIDE_HOME/deploy/current.json``. When it
ends it moves to ``last.json``, which is what ``deploy rollback`` undoes. Both live in the
home (never in the application database), so a restore cannot rewind them; the history
is the ``deploy.*`` events of the ops store.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from chairside.config import Settings
from chairside.errors import ConfigError


@dataclass
class DeployRecord:
    """What was running before, what is being deployed, and how far it got."""

    id: str
    version: str
    version_before: str
    reason: str | None
    started_at: str
    started_by: str
    revision_before: str | None
    backup_id: str | None
    baseline_p95_seconds: float | None
    maintenance_was_on: bool
    critical_before: list[str] = field(default_factory=list)  # checks critical at start
    state: str = "started"  # started, finished, failed, rolled_back
    revision_after: str | None = None
    finished_at: str | None = None
    # When maintenance mode ended and the API's client-traffic counters at that moment
    # (a TrafficSample as a dict): verification judges only what came after.
    serving_since: str | None = None
    serving_baseline: dict[str, Any] | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)
    # "single": start/finish on this host; "rolling": `deploy roll` across the API hosts
    # of a topology, with each host's result (rolling.HostResult as a dict) in ``hosts``.
    kind: str = "single"
    hosts: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeployRecord:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


def deploy_dir(settings: Settings) -> Path:
    return settings.home / "deploy"


def read_record(settings: Settings, name: str) -> DeployRecord | None:
    """``current`` or ``last``; None when there is none."""
    path = deploy_dir(settings) / f"{name}.json"
    try:
        return DeployRecord.from_dict(json.loads(path.read_text()))
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, TypeError) as exc:
        raise ConfigError(f"{path} is damaged ({exc}); read it, fix or remove it") from None


def write_record(settings: Settings, name: str, record: DeployRecord) -> None:
    """Write atomically: a crash leaves the old record or the new, never half of one."""
    directory = deploy_dir(settings)
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f".{name}.json.tmp"
    with tmp.open("w") as handle:
        handle.write(json.dumps(record.to_dict(), indent=2) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(directory / f"{name}.json")


def close_record(settings: Settings, record: DeployRecord) -> None:
    """The deployment ended: it becomes ``last`` and nothing is in progress."""
    write_record(settings, "last", record)
    (deploy_dir(settings) / "current.json").unlink(missing_ok=True)
