"""Reminder delivery metrics, counted in the database when Prometheus scrapes.

The worker is a short scheduled process (``chairside reminders run``) that no scrape
would find alive, so, like :class:`~chairside.ops.metrics.business.BusinessStateCollector`,
these are read from the rows every worker writes, and every API worker reports the same:

- ``chairside_reminder_deliveries_total{channel,outcome}``: attempts by outcome
  (``sent``, ``failed``, ``ambiguous``) from ``reminder_attempts``;
- ``chairside_reminder_retries_total{channel}``: attempts after the first;
- ``chairside_reminders{status}``: reminders by status;
- ``chairside_reminder_oldest_due_age_seconds``: how late the oldest due reminder of a
  confirmed booking is (0 when none waits): the pending age.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from chairside.reminders.models import OUTCOMES, STATUSES

_ATTEMPTS = text(
    "SELECT channel, outcome, count(*), count(*) FILTER (WHERE attempt > 1)"
    " FROM reminder_attempts WHERE outcome IS NOT NULL GROUP BY channel, outcome"
)
_STATUSES = text("SELECT status, count(*) FROM reminders GROUP BY status")
_OLDEST = text(
    "SELECT coalesce(extract(epoch FROM now() - min(r.next_attempt_at)), 0)"
    " FROM reminders r JOIN bookings b ON b.id = r.booking_id"
    " WHERE r.status = 'pending' AND r.next_attempt_at <= now()"
    " AND b.status = 'confirmed' AND b.starts_at > now()"
)


class ReminderCollector(Collector):
    """Delivery attempts, retries, reminders by status and the pending age."""

    def __init__(
        self, engine: Engine, *, cache_seconds: float, channels: Sequence[str] = ()
    ) -> None:
        self.engine = engine
        self.cache_seconds = cache_seconds
        # Configured channels are exported at 0 before their first attempt, so a rule
        # reading them has a series to judge from the start.
        self.channels = tuple(channels)
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Metric]] | None = None

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            if self._cached is None or time.monotonic() - self._cached[0] > self.cache_seconds:
                try:
                    self._cached = (time.monotonic(), self.read())
                except SQLAlchemyError:
                    # The database check already reports the outage; a scrape must not fail.
                    self._cached = None
                    return
            metrics = self._cached[1]
        yield from metrics

    def read(self) -> list[Metric]:
        """The metrics as the database has them now."""
        with self.engine.connect() as conn:
            attempts = conn.execute(_ATTEMPTS).all()
            statuses = {str(s): int(n) for s, n in conn.execute(_STATUSES)}
            oldest = float(conn.execute(_OLDEST).scalar_one())
        deliveries = CounterMetricFamily(
            "chairside_reminder_deliveries",
            "Reminder delivery attempts by channel and outcome (sent, failed, ambiguous).",
            labels=["channel", "outcome"],
        )
        retries = CounterMetricFamily(
            "chairside_reminder_retries",
            "Reminder delivery attempts after a reminder's first, by channel.",
            labels=["channel"],
        )
        by_channel: dict[str, dict[str, tuple[int, int]]] = {name: {} for name in self.channels}
        for channel, outcome, n, retried in attempts:
            by_channel.setdefault(str(channel), {})[str(outcome)] = (int(n), int(retried))
        for channel, outcomes in sorted(by_channel.items()):
            for outcome in OUTCOMES:
                deliveries.add_metric([channel, outcome], float(outcomes.get(outcome, (0, 0))[0]))
            retries.add_metric([channel], float(sum(r for _, r in outcomes.values())))
        reminders = GaugeMetricFamily(
            "chairside_reminders", "Reminders by status.", labels=["status"]
        )
        for status in STATUSES:
            reminders.add_metric([status], float(statuses.get(status, 0)))
        age = GaugeMetricFamily(
            "chairside_reminder_oldest_due_age_seconds",
            "How long the oldest due reminder of a confirmed booking has waited (0: none).",
            value=max(oldest, 0.0),
        )
        return [deliveries, retries, reminders, age]
