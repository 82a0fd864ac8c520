"""Notifications through apprise URLs (``CHAIRSIDE_NOTIFY_URLS``), one report per URL.

apprise knows some hundred services by URL scheme (``mailtos://``, ``slack://``,
``pagerduty://``, ``ntfy://``, ``json://`` for any webhook…), so adding a destination is a
setting, not code. URLs hold tokens: reports show them the way apprise prints them
privately, with secrets masked.
"""

from __future__ import annotations

import re
import warnings

from chairside.errors import InputError
from chairside.ops.notify.base import Delivery, DeliveryReport, Notification, Severity

with warnings.catch_warnings():
    # apprise 1.x imports the standard library's imghdr (deprecated since Python 3.11),
    # here and again when it loads its plugins on the first URL it parses.
    warnings.filterwarnings("ignore", "'imghdr' is deprecated", DeprecationWarning)
    import apprise

_TYPES = {
    Severity.INFO: apprise.NotifyType.INFO,
    Severity.OK: apprise.NotifyType.SUCCESS,
    Severity.WARNING: apprise.NotifyType.WARNING,
    Severity.CRITICAL: apprise.NotifyType.FAILURE,
}


def split_urls(raw: str) -> list[str]:
    """URLs separated by spaces, commas or new lines."""
    return [part for part in re.split(r"[\s,]+", raw.strip()) if part]


class AppriseNotifier:
    """Sends to every configured apprise URL."""

    def __init__(self, urls: list[str]) -> None:
        self._servers = []
        for url in urls:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "'imghdr' is deprecated", DeprecationWarning)
                server = apprise.Apprise.instantiate(url)
            if server is None:
                scheme = url.split("://", 1)[0] if "://" in url else url[:20]
                raise InputError(
                    f"notification URL with scheme {scheme!r} is not one apprise understands; "
                    "see https://github.com/caronc/apprise/wiki for the URL of each service",
                    field="notify_urls",
                )
            self._servers.append(server)

    @property
    def targets(self) -> list[str]:
        return [_private_url(server) for server in self._servers]

    def send(self, notification: Notification) -> DeliveryReport:
        """Deliver to each URL in turn; a failing one does not stop the others."""
        deliveries = []
        for server in self._servers:
            ok = bool(
                server.notify(
                    body=notification.body,
                    title=notification.title,
                    notify_type=_TYPES[notification.severity],
                )
            )
            deliveries.append(Delivery(_private_url(server), ok))
        return DeliveryReport(deliveries)


def _private_url(server: object) -> str:
    """The URL as apprise prints it with passwords and tokens masked."""
    return str(server.url(privacy=True))  # type: ignore[attr-defined]
