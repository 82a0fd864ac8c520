"""The notifier seam: what a notification is and what sending one reports.

::

    Notifier (Protocol)
    ├── AppriseNotifier   apprise URLs: e-mail, Slack, PagerDuty, webhooks… (apprise_notifier.py)
    └── MemoryNotifier    keeps what it was given; for tests and dry runs (memory.py)
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol


class Severity(enum.StrEnum):
    INFO = "info"
    OK = "ok"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True)
class Notification:
    """A short message for people on call."""

    title: str
    body: str
    severity: Severity = Severity.INFO


@dataclass(frozen=True)
class Delivery:
    """Whether one destination took the message (its URL shown without secrets)."""

    target: str
    ok: bool


@dataclass(frozen=True)
class DeliveryReport:
    """What happened to one notification, per destination."""

    deliveries: list[Delivery] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.deliveries) and all(d.ok for d in self.deliveries)

    @property
    def failed(self) -> list[str]:
        return [d.target for d in self.deliveries if not d.ok]

    def to_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "deliveries": [{"target": d.target, "ok": d.ok} for d in self.deliveries],
        }


class Notifier(Protocol):
    """Sends notifications somewhere people will see them."""

    def send(self, notification: Notification) -> DeliveryReport:
        """Deliver ``notification`` to every destination; never raises for one failing."""
        ...
