"""Who is told: the notifier from settings, the test message, health results."""

from __future__ import annotations

import socket
from collections.abc import Sequence

from chairside.checks import CheckResult, CheckStatus, worst
from chairside.config import Settings
from chairside.errors import ConfigError
from chairside.ops.notify.apprise_notifier import AppriseNotifier, split_urls
from chairside.ops.notify.base import DeliveryReport, Notification, Notifier, Severity


def notifier_from_settings(settings: Settings, *, urls: Sequence[str] = ()) -> AppriseNotifier:
    """The apprise notifier of ``urls``, else of ``CHAIRSIDE_NOTIFY_URLS``."""
    chosen = list(urls)
    if not chosen and settings.notify_urls is not None:
        chosen = split_urls(settings.notify_urls.get_secret_value())
    if not chosen:
        raise ConfigError(
            "no notification URL: set CHAIRSIDE_NOTIFY_URLS to one or more apprise URLs "
            "(e.g. 'mailtos://user:pass@example.com slack://T/B/C') or pass --url"
        )
    return AppriseNotifier(chosen)


def send_test(notifier: Notifier) -> DeliveryReport:
    """Send a message that says it is a test, naming the host it came from."""
    return notifier.send(
        Notification(
            title="Chairside test notification",
            body=f"If you can read this, notifications from {socket.gethostname()} reach you.",
            severity=Severity.INFO,
        )
    )


def health_notification(results: Sequence[CheckResult], *, source: str) -> Notification:
    """One message for a health run: the overall status, then every check not ok."""
    status = worst(r.status for r in results)
    bad = [r for r in results if r.status is not CheckStatus.OK]
    lines = [f"{r.name}: {r.status.value}: {r.summary}" for r in bad] or ["every check ok"]
    severity = {
        CheckStatus.OK: Severity.OK,
        CheckStatus.WARNING: Severity.WARNING,
        CheckStatus.UNKNOWN: Severity.WARNING,
        CheckStatus.CRITICAL: Severity.CRITICAL,
    }[status]
    return Notification(
        title=f"Chairside health {status.value.upper()} at {source}",
        body="\n".join(lines),
        severity=severity,
    )
