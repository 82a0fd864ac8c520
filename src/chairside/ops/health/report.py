"""The JSON shape of a health run, shared by ``/health/detailed``, the CLI and status files.

The same fields as every check-type command (``status``, ``checks``; see
``cli.output.checks_payload``), plus when the checks ran.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from chairside.checks import CheckResult, worst


def health_payload(results: Sequence[CheckResult], *, at: float | None = None) -> dict[str, Any]:
    """``{"status", "checked_at", "checks": [...]}``: the worst status, then each check."""
    moment = time.time() if at is None else at
    return {
        "status": worst(r.status for r in results).value,
        "checked_at": datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds"),
        "checks": [r.to_dict() for r in results],
    }
