"""The vocabulary of check-type results, shared by health, status, audits and validation.

A check yields a :class:`CheckResult`; a command's overall status is the worst of its
results. The CLI edge turns :class:`CheckStatus` into exit codes 0/1/2/3.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field


class CheckStatus(enum.StrEnum):
    OK = "ok"
    WARNING = "warning"
    CRITICAL = "critical"
    UNKNOWN = "unknown"

    @property
    def severity(self) -> int:
        # unknown ranks above warning (we cannot tell) but below a known critical
        return {"ok": 0, "warning": 1, "unknown": 2, "critical": 3}[self.value]


@dataclass(frozen=True)
class CheckResult:
    """One named check: its status, a human summary, and optional measurements."""

    name: str
    status: CheckStatus
    summary: str
    latency_ms: float | None = None
    details: dict[str, object] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["status"] = self.status.value
        return data


def worst(statuses: Iterable[CheckStatus]) -> CheckStatus:
    """The most severe status; OK when there is none."""
    return max(statuses, key=lambda s: s.severity, default=CheckStatus.OK)
