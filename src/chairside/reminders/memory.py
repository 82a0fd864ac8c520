"""An in-memory reminder channel: keeps every message; for tests and dry runs."""

from __future__ import annotations

from chairside.reminders.channel import DeliveryResult, ReminderMessage


class MemoryReminderChannel:
    """Records messages instead of sending them; ``fail`` makes it refuse every one."""

    def __init__(self, *, fail: bool = False) -> None:
        self.sent: list[ReminderMessage] = []
        self.refused: list[ReminderMessage] = []
        self.fail = fail

    def deliver(self, message: ReminderMessage) -> DeliveryResult:
        if self.fail:
            self.refused.append(message)
            return DeliveryResult(ok=False, error="memory channel set to fail")
        self.sent.append(message)
        return DeliveryResult(ok=True)
