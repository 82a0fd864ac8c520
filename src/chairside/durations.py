"""Durations as operators type them: ``90s``, ``30m``, ``2h``, ``1d``, ``1h30m``, ``2w``."""

from __future__ import annotations

import re
from datetime import timedelta

from chairside.errors import InputError

_PART = re.compile(r"(\d+)([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(raw: str, *, maximum: timedelta, field: str = "duration") -> timedelta:
    """The duration ``raw`` names; more than 0 and at most ``maximum``, else InputError."""
    text = raw.strip().lower()
    parts = _PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise InputError(
            f"{field} {raw!r} is not a duration like 90s, 30m, 2h, 1d or 1h30m", field=field
        )
    total = timedelta(seconds=sum(int(n) * _UNIT_SECONDS[u] for n, u in parts))
    if total <= timedelta(0) or total > maximum:
        raise InputError(
            f"{field} {raw!r} must be more than 0 and at most {describe(maximum)}", field=field
        )
    return total


def describe(value: timedelta) -> str:
    """``value`` the way :func:`parse_duration` reads it back (largest units first)."""
    seconds = int(value.total_seconds())
    if seconds <= 0:
        return "0s"
    out = []
    for unit in ("d", "h", "m", "s"):
        count, seconds = divmod(seconds, _UNIT_SECONDS[unit])
        if count:
            out.append(f"{count}{unit}")
    return "".join(out)
