"""Reminders through an apprise URL: e-mail and SMS gateways, or any webhook.

The URL is a template: ``{email}`` and ``{phone}`` are replaced by the client's address
(URL-quoted) for each message, so one setting serves every client. apprise answers
False when the gateway refused or could not be reached: that attempt is a failure the
worker retries. Its own connect and read timeouts (``cto``/``rto`` URL options, 4 s by
default) keep a delivery far inside the worker's lease.
"""

from __future__ import annotations

import warnings
from urllib.parse import quote

from chairside.errors import ConfigError
from chairside.reminders.channel import ChannelConfig, DeliveryResult, ReminderMessage

with warnings.catch_warnings():
    # apprise 1.x imports the standard library's imghdr (deprecated since Python 3.11).
    warnings.filterwarnings("ignore", "'imghdr' is deprecated", DeprecationWarning)
    import apprise


class AppriseReminderChannel:
    """Delivers each reminder to the configured apprise URL, filled in for its client."""

    def __init__(self, config: ChannelConfig) -> None:
        self.config = config
        # Refuse a URL apprise cannot read now, not at the first reminder.
        self._server(email="client@example.com", phone="+15550000000")

    def _server(self, *, email: str, phone: str | None) -> object:
        url = self.config.url.replace("{email}", quote(email, safe="@")).replace(
            "{phone}", quote(phone or "", safe="+")
        )
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "'imghdr' is deprecated", DeprecationWarning)
            server = apprise.Apprise.instantiate(url)
        if server is None:
            scheme = url.split("://", 1)[0]
            raise ConfigError(
                f"reminder channel {self.config.name!r} has a URL with scheme {scheme!r} that "
                "apprise does not understand; see https://github.com/caronc/apprise/wiki"
            )
        return server

    def deliver(self, message: ReminderMessage) -> DeliveryResult:
        try:
            server = self._server(email=message.email, phone=message.phone)
        except ConfigError as exc:
            return DeliveryResult(ok=False, error=exc.message)
        ok = bool(
            server.notify(  # type: ignore[attr-defined]
                body=message.body, title=message.title, notify_type=apprise.NotifyType.INFO
            )
        )
        if ok:
            return DeliveryResult(ok=True)
        return DeliveryResult(ok=False, error=f"{self.config.name}: the gateway did not take it")
