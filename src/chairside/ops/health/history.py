"""The last 24 hours of error rate, p95 and RPO, for the ops console's chart.

A point is taken from a fresh health probe snapshot (the app's probe runs when
``/metrics`` is scraped, ``/health/detailed`` is asked or the console refreshes) at most
every ``interval`` seconds, and kept in ``$CHAIRSIDE_HOME/health/history.json`` for
``keep`` seconds: 288 points at the defaults, a few kilobytes. With several workers each
adds the rates it saw, which the interval thins to about one point per slot.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chairside.checks import CheckResult

INTERVAL_SECONDS = 300.0
KEEP_SECONDS = 24 * 3600.0


@dataclass(frozen=True)
class HistoryPoint:
    """One moment: client error rate (%), p95 (s) and RPO (s); None when unknown."""

    at: float
    error_percent: float | None
    p95_seconds: float | None
    rpo_seconds: float | None

    def to_dict(self) -> dict[str, float | None]:
        return {
            "at": self.at,
            "error_percent": self.error_percent,
            "p95_seconds": self.p95_seconds,
            "rpo_seconds": self.rpo_seconds,
        }


def point_from(results: list[CheckResult], at: float) -> HistoryPoint:
    """The chart's three values as the health checks found them."""
    by_name = {r.name: r.details or {} for r in results}
    return HistoryPoint(
        at=at,
        error_percent=_number(by_name.get("error_rate", {}).get("error_percent")),
        p95_seconds=_number(by_name.get("latency_p95", {}).get("p95_seconds")),
        rpo_seconds=_number(by_name.get("wal_archive_lag", {}).get("lag_seconds")),
    )


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


class MetricsHistory:
    """Points in a small JSON file, appended at most once per interval."""

    def __init__(
        self, path: Path, *, interval: float = INTERVAL_SECONDS, keep: float = KEEP_SECONDS
    ) -> None:
        self.path = path
        self.interval = interval
        self.keep = keep
        self._lock = threading.Lock()

    def add(self, point: HistoryPoint) -> bool:
        """Keep ``point`` unless the newest one is younger than the interval."""
        with self._lock:
            points = self.points()
            if points and point.at - points[-1].at < self.interval:
                return False
            points = [p for p in points if point.at - p.at <= self.keep] + [point]
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps([p.to_dict() for p in points]))
            tmp.replace(self.path)
            return True

    def record(self, results: list[CheckResult], at: float | None = None) -> bool:
        """Add the point of one probe run."""
        return self.add(point_from(results, time.time() if at is None else at))

    def points(self, *, since: float | None = None) -> list[HistoryPoint]:
        """The kept points, oldest first (a torn or missing file: none)."""
        try:
            raw: Any = json.loads(self.path.read_text())
            points = [
                HistoryPoint(
                    float(p["at"]),
                    _number(p.get("error_percent")),
                    _number(p.get("p95_seconds")),
                    _number(p.get("rpo_seconds")),
                )  # fmt: skip
                for p in raw
            ]
        except (OSError, ValueError, TypeError, KeyError):
            return []
        return [p for p in points if since is None or p.at >= since]


def history_for(home: Path) -> MetricsHistory:
    """The history file of a Chairside home."""
    return MetricsHistory(home / "health" / "history.json")
