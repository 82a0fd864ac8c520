"""Status files: the last health and smoke results, kept under ``$CHAIRSIDE_HOME/health``.

``status.json`` holds the newest ``chairside health`` run (what an operator or a cron job
reads back); ``smoke.json`` holds the newest smoke run alone, so a later health-only run
does not erase it: ``/metrics`` reads it to export ``chairside_smoke_*``. Both are
written atomically (temporary file, then rename), so a reader never sees half of one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chairside.checks import CheckResult, worst
from chairside.config import Settings


def health_dir(settings: Settings) -> Path:
    """Where health keeps its files: ``$CHAIRSIDE_HOME/health``."""
    return settings.home / "health"


def default_status_file(settings: Settings) -> Path:
    """Where ``chairside health`` writes its result unless told otherwise."""
    return health_dir(settings) / "status.json"


def smoke_file(settings: Settings) -> Path:
    """The newest smoke run, read by ``/metrics``."""
    return health_dir(settings) / "smoke.json"


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Write ``data`` to ``path`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    tmp.replace(path)


def write_smoke_result(
    settings: Settings, steps: Sequence[CheckResult], *, duration_seconds: float
) -> dict[str, Any]:
    """Record one smoke run for ``/metrics`` and return what was written."""
    now = time.time()
    data: dict[str, Any] = {
        "status": worst(step.status for step in steps).value,
        "at": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
        "at_timestamp": now,
        "duration_seconds": round(duration_seconds, 4),
        "steps": [step.to_dict() for step in steps],
    }
    write_json(smoke_file(settings), data)
    return data


def read_smoke_result(settings: Settings) -> dict[str, Any] | None:
    """The newest smoke run, or None when none ran here (or the file is unreadable)."""
    try:
        data = json.loads(smoke_file(settings).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None
