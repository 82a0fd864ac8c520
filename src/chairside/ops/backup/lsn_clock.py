"""When the server passed an LSN: samples of (time, current LSN), kept under the home.

The RPO in time is "how long ago was the oldest commit that is not shipped yet". WAL
does not say when it was written, so whoever reads the server's current LSN (``backup
status``, the health probe behind every ``/metrics`` scrape, the supervisor of
``chairside up`` every few seconds) records a sample here. For a shipped LSN *S*, the
newest sample with an LSN at or below *S* was taken before the first unshipped byte
was written, so ``now - its time`` is at least the real loss: never understated, and
as tight as the sampling is frequent.

Samples live in ``$CHAIRSIDE_HOME/run/lsn-clock.json``, one list per system identifier
and timeline, at most one per second and ``MAX_SAMPLES`` in all.
"""

from __future__ import annotations

import bisect
import json
import os
import time
from pathlib import Path

from chairside.config import Settings

MAX_SAMPLES = 3600
MIN_SPACING_SECONDS = 1.0


class LsnClock:
    """Samples of one cluster's current LSN over time."""

    def __init__(self, path: Path, *, cluster: str) -> None:
        self.path = path
        self.cluster = cluster
        self.samples: list[tuple[float, int]] = []  # (unix time, lsn), both ascending
        self._load()

    @classmethod
    def for_settings(cls, settings: Settings, *, cluster: str) -> LsnClock:
        return cls(settings.run_dir / "lsn-clock.json", cluster=cluster)

    def record(self, lsn: int, *, at: float | None = None, save: bool = True) -> None:
        """Add a sample (skipped when the previous one is under a second old)."""
        now = time.time() if at is None else at
        if self.samples and self.samples[-1][1] > lsn:
            self.samples = []  # the LSN went back: another cluster or timeline; start over
        if self.samples and now - self.samples[-1][0] < MIN_SPACING_SECONDS:
            return  # the older sample is the safer one to keep
        self.samples.append((now, lsn))
        del self.samples[:-MAX_SAMPLES]
        if save:
            self._save()

    def passed_at(self, lsn: int) -> float | None:
        """The time of the newest sample at or below ``lsn`` (None: no sample that old)."""
        lsns = [sample[1] for sample in self.samples]
        index = bisect.bisect_right(lsns, lsn)
        return self.samples[index - 1][0] if index else None

    def _load(self) -> None:
        try:
            data = json.loads(self.path.read_text())
            raw = data.get(self.cluster, [])
            self.samples = [(float(at), int(lsn)) for at, lsn in raw]
        except (OSError, ValueError, TypeError, AttributeError):
            self.samples = []

    def _save(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
            tmp.write_text(json.dumps({self.cluster: self.samples}))
            tmp.replace(self.path)
        except OSError:
            pass  # a read-only home: the RPO falls back to the archive's age
