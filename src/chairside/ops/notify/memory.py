"""An in-memory notifier: keeps every notification; for tests and dry runs."""

from __future__ import annotations

from chairside.ops.notify.base import Delivery, DeliveryReport, Notification


class MemoryNotifier:
    """Records notifications instead of sending them."""

    def __init__(self, *, fail: bool = False) -> None:
        self.sent: list[Notification] = []
        self.fail = fail

    def send(self, notification: Notification) -> DeliveryReport:
        self.sent.append(notification)
        return DeliveryReport([Delivery("memory://", not self.fail)])
