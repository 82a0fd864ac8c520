"""What ``/metrics`` serves, in one process or across several uvicorn workers.

Two kinds of metrics live here:

- **process metrics** (HTTP requests, database pool gauges) are counted in the worker that
  did the work. With one worker they are plain ``prometheus_client`` objects on the app's
  registry. With several workers, set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory
  before the server starts: every worker then writes its values to memory-mapped files
  there and any worker answering a scrape sums them all (``MultiProcessCollector``), so
  Prometheus sees the service, not whichever worker it happened to reach.
- **state metrics** (health, backups, smoke, bookings by status) describe shared state
  (the database, the backup repository, status files). They are read at scrape time by
  custom collectors and never go through the multiprocess files, so they are not summed
  across workers: each worker reports the same truth.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST


def multiprocess_dir() -> str | None:
    """The shared metrics directory when running several workers, else None."""
    return os.environ.get(MULTIPROC_ENV) or os.environ.get(MULTIPROC_ENV.lower())


class MetricsExposition:
    """The registry of one app plus its scrape-time collectors, exposed as text."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.multiprocess = multiprocess_dir() is not None
        self._state_collectors: list[Collector] = []

    def add_state_collector(self, collector: Collector) -> None:
        """Register a collector that reads shared state at scrape time."""
        self._state_collectors.append(collector)
        if not self.multiprocess:
            self.registry.register(collector)

    def process_metrics(self, process_collectors: Iterable[Collector]) -> Iterator[Metric]:
        """The process metrics of the whole service (every worker's, when there are many)."""
        if self.multiprocess:
            yield from MultiProcessCollector(None).collect()  # type: ignore[no-untyped-call]
            return
        for collector in process_collectors:
            yield from collector.collect()

    def render(self) -> bytes:
        """The Prometheus text exposition of everything."""
        if not self.multiprocess:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        for collector in self._state_collectors:
            registry.register(collector)
        return generate_latest(registry)


def prepare_multiprocess(run_dir: Path, *, workers: int) -> Path | None:
    """Before starting several workers: an empty shared metrics directory, in the env.

    Called by ``chairside up --workers N`` in the parent, so the worker processes it
    spawns see the variable before they import prometheus_client. An operator's own
    ``PROMETHEUS_MULTIPROC_DIR`` is respected (and emptied, as values of dead processes
    would otherwise be summed forever). One worker needs nothing.
    """
    configured = multiprocess_dir()
    if workers <= 1 and configured is None:
        return None
    path = Path(configured) if configured else run_dir / "prometheus"
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROC_ENV] = str(path)
    return path
