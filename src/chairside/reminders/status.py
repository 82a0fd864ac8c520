"""``chairside reminders status``: is every reminder going out, and on time?

Checks what a client relies on: that channels are configured, that no due reminder
waits longer than the delay thresholds, that no channel fails most of its attempts
(the last 30 minutes), and that no delivery is ambiguous (a worker died mid-delivery;
the reminder was not sent again, and someone should look).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from chairside.checks import CheckResult, CheckStatus
from chairside.config import Settings
from chairside.ops.thresholds import threshold_table
from chairside.reminders.channel import channel_configs
from chairside.reminders.models import STATUSES

FAILURE_WINDOW = timedelta(minutes=30)


@dataclass(frozen=True)
class ReminderCounts:
    """Reminders by status, the oldest overdue one's delay, recent attempts per channel."""

    by_status: dict[str, int]
    oldest_due_seconds: float
    channels: dict[str, dict[str, int]]  # channel -> outcome -> attempts in the window

    def to_dict(self) -> dict[str, object]:
        return {
            "by_status": self.by_status,
            "oldest_due_seconds": round(self.oldest_due_seconds, 1),
            "recent_attempts": self.channels,
        }


OLDEST_DUE = (
    "SELECT min(r.next_attempt_at) FROM reminders r JOIN bookings b ON b.id = r.booking_id"
    " WHERE r.status = 'pending' AND r.next_attempt_at <= :now"
    " AND b.status = 'confirmed' AND b.starts_at > :now"
)


def read_counts(*, session: Session, now: datetime) -> ReminderCounts:
    """Count reminders, the oldest due one's delay and the last window's attempts."""
    by_status = dict.fromkeys(STATUSES, 0)
    for status, n in session.execute(
        text("SELECT status, count(*) FROM reminders GROUP BY status")
    ):
        by_status[str(status)] = int(n)
    oldest = session.execute(text(OLDEST_DUE), {"now": now}).scalar_one()
    channels: dict[str, dict[str, int]] = {}
    for channel, outcome, n in session.execute(
        text(
            "SELECT channel, outcome, count(*) FROM reminder_attempts"
            " WHERE outcome IS NOT NULL AND finished_at > :since GROUP BY channel, outcome"
        ),
        {"since": now - FAILURE_WINDOW},
    ):
        channels.setdefault(str(channel), {})[str(outcome)] = int(n)
    return ReminderCounts(
        by_status=by_status,
        oldest_due_seconds=0.0 if oldest is None else max((now - oldest).total_seconds(), 0.0),
        channels=channels,
    )


def check_reminders(counts: ReminderCounts, settings: Settings) -> list[CheckResult]:
    """The checks of ``reminders status``, judged by the threshold table."""
    table = threshold_table(settings)
    delay, failure = table["reminder_delay_minutes"], table["reminder_failure_percent"]
    results = []
    configured = [c.name for c in channel_configs(settings)]
    results.append(
        CheckResult(
            "channels",
            CheckStatus.OK if configured else CheckStatus.WARNING,
            f"channels: {', '.join(configured)}"
            if configured
            else "no channel configured (CHAIRSIDE_REMINDER_CHANNELS): no reminder is written",
            details={"channels": configured},
        )
    )
    minutes = counts.oldest_due_seconds / 60
    late = CheckStatus.OK
    if delay.critical is not None and minutes > delay.critical:
        late = CheckStatus.CRITICAL
    elif delay.warning is not None and minutes > delay.warning:
        late = CheckStatus.WARNING
    results.append(
        CheckResult(
            "delay",
            late,
            f"the oldest due reminder waits {minutes:.1f} min (warning above "
            f"{delay.warning:g}, critical above {delay.critical:g})",
            details={"oldest_due_minutes": round(minutes, 2)},
        )
    )
    for channel, outcomes in sorted(counts.channels.items()):
        failed, sent = outcomes.get("failed", 0), outcomes.get("sent", 0)
        share = 100 * failed / (failed + sent) if failed + sent else 0.0
        bad = failure.warning is not None and share > failure.warning
        results.append(
            CheckResult(
                f"channel:{channel}",
                CheckStatus.WARNING if bad else CheckStatus.OK,
                f"{channel}: {failed} failed, {sent} sent in the last 30 min ({share:.0f}% "
                f"failed; warning above {failure.warning:g}%)",
                details={"failed": failed, "sent": sent, "failed_percent": round(share, 1)},
            )
        )
    ambiguous = counts.by_status.get("ambiguous", 0)
    results.append(
        CheckResult(
            "ambiguous",
            CheckStatus.WARNING if ambiguous else CheckStatus.OK,
            f"{ambiguous} reminders whose delivery is unknown (a worker stopped mid-delivery; "
            "not sent again)"
            if ambiguous
            else "no delivery of unknown outcome",
            details={"ambiguous": ambiguous},
        )
    )
    return results
