"""CPU time per component during a benchmark phase, read from /proc.

On a 2-core machine every figure is a share of the same two cores, so knowing where the
CPU went (API workers, PostgreSQL, Redis, the load generator) says more than latency
alone: it shows what a request costs and what to optimise.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Mapping
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces; everything after its ")" is fixed.
    return text[text.rindex(")") + 2 :].split()


def tree_cpu_seconds(root: int) -> float:
    """CPU of ``root`` and its live descendants, plus what their reaped children used."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat(int(entry))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry))
    total, pending = 0, [root]
    while pending:
        pid = pending.pop()
        fields = _stat(pid)
        if fields is None:
            continue
        # utime, stime, cutime, cstime are fields 14-17 of the line, 12-15 after the name.
        total += sum(int(v) for v in fields[11:15])
        pending.extend(children.get(pid, []))
    return total / _TICK


def client_cpu_seconds() -> float:
    """CPU of this process's reaped children (wrk, pgbench run through subprocess)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class CpuMeter:
    """Snapshots of named process trees (and the load generators) around one phase."""

    def __init__(self, roots: Mapping[str, int | None]) -> None:
        self.roots = {name: pid for name, pid in roots.items() if pid is not None}
        self._start: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        now = {name: tree_cpu_seconds(pid) for name, pid in self.roots.items()}
        now["client"] = client_cpu_seconds()
        return now

    def start(self) -> None:
        self._start = self._now()

    def per_request_ms(self, requests: int) -> dict[str, float]:
        """Milliseconds of CPU per request for each component since :meth:`start`."""
        end = self._now()
        return {
            name: 1000 * (end[name] - self._start.get(name, 0.0)) / max(1, requests) for name in end
        }
