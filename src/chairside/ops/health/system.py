"""Host resources: disk usage of the Chairside home and memory in use.

Read straight from the kernel (``statvfs``, ``/proc/meminfo`` and, inside a container,
the cgroup v2 ``memory.max`` limit), so no agent is needed on the host.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from chairside.checks import CheckResult, CheckStatus

MEMINFO = Path("/proc/meminfo")
CGROUP_MEMORY = Path("/sys/fs/cgroup")


def check_disk(path: Path, *, warning_percent: float, critical_percent: float) -> CheckResult:
    """Disk usage of the filesystem holding ``path``: critical above 85 %, by default."""
    existing = _nearest_existing(path)
    usage = shutil.disk_usage(existing)
    percent = round(100 * usage.used / usage.total, 1) if usage.total else 0.0
    details: dict[str, object] = {
        "path": str(existing),
        "used_bytes": usage.used,
        "total_bytes": usage.total,
        "free_bytes": usage.free,
        "percent": percent,
    }
    status = _grade(percent, warning_percent, critical_percent)
    return CheckResult(
        "disk",
        status,
        f"{percent}% used on the filesystem of {existing} ({_gib(usage.free)} GiB free; "
        f"warning above {warning_percent:g}%, critical above {critical_percent:g}%)",
        details=details,
    )


def check_memory(*, warning_percent: float, critical_percent: float) -> CheckResult:
    """Memory in use (not counting reclaimable cache): critical above 90 %, by default."""
    reading = read_memory()
    if reading is None:
        return CheckResult("memory", CheckStatus.UNKNOWN, f"cannot read {MEMINFO}")
    used, total, source = reading
    percent = round(100 * used / total, 1)
    details: dict[str, object] = {
        "used_bytes": used,
        "total_bytes": total,
        "percent": percent,
        "source": source,
    }
    return CheckResult(
        "memory",
        _grade(percent, warning_percent, critical_percent),
        f"{percent}% of {_gib(total)} GiB in use ({source}; warning above "
        f"{warning_percent:g}%, critical above {critical_percent:g}%)",
        details=details,
    )


def read_memory() -> tuple[int, int, str] | None:
    """(used bytes, total bytes, source): the cgroup limit when tighter than the host."""
    try:
        fields = {}
        for line in MEMINFO.read_text().splitlines():
            name, _, rest = line.partition(":")
            fields[name] = int(rest.split()[0]) * 1024
        total = fields["MemTotal"]
        used = total - fields.get("MemAvailable", fields.get("MemFree", 0))
    except (OSError, KeyError, ValueError, IndexError):
        return None
    limited = _cgroup_memory()
    if limited is not None and limited[1] < total:
        return limited[0], limited[1], "cgroup limit"
    return used, total, "host"


def _cgroup_memory() -> tuple[int, int] | None:
    try:
        limit = (CGROUP_MEMORY / "memory.max").read_text().strip()
        current = int((CGROUP_MEMORY / "memory.current").read_text().strip())
    except (OSError, ValueError):
        return None
    if limit == "max":
        return None
    return current, int(limit)


def _grade(percent: float, warning: float, critical: float) -> CheckStatus:
    if percent > critical:
        return CheckStatus.CRITICAL
    if percent > warning:
        return CheckStatus.WARNING
    return CheckStatus.OK


def _nearest_existing(path: Path) -> Path:
    # The home may not exist yet on a fresh host; its filesystem is still the one to watch.
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path("/")


def _gib(value: int) -> str:
    return f"{value / 2**30:.1f}"
