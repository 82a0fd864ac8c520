"""Reminders through an apprise URL: e-mail and SMS gateways, or any webhook.

The URL is a template: ``{email}`` and ``{phone}`` are replaced by the client's address
(URL-quoted) for each message, so one setting serves every client. apprise's own connect
and read timeouts (``cto``/``rto`` URL options, 4 s by default) keep a delivery far
inside the worker's lease.

apprise answers only True or False. False covers both "the gateway said no" and "the
request went out and no answer came back"; only the first may be retried without risking
a second message. So the attempt's log (apprise's ``LogCapture``) decides: a gateway
that answered with an error status (``error=NNN``) or a connection that was never
established (refused, unknown host, connect timeout) is a *definite* failure, retried
with backoff; anything else (a read timeout, a dropped connection, an SMTP error after
the message was handed over) is *unknown*, recorded as ambiguous and never retried.
"""

from __future__ import annotations

import logging
import re
import warnings
from urllib.parse import quote

from chairside.errors import ConfigError
from chairside.reminders.channel import ChannelConfig, DeliveryResult, ReminderMessage

# What apprise logs when the message surely did not reach the gateway: an HTTP error
# status it answered with, or a connection that was never made.
_NOT_TAKEN = re.compile(
    r"error=\d{3}|Connection refused|Failed to establish a new connection|"
    r"Name or service not known|nodename nor servname|ConnectTimeout|connect timeout",
    re.IGNORECASE,
)

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
        with apprise.LogCapture(level=logging.DEBUG) as log:  # type: ignore[no-untyped-call]
            ok = bool(
                server.notify(  # type: ignore[attr-defined]
                    body=message.body, title=message.title, notify_type=apprise.NotifyType.INFO
                )
            )
        if ok:
            return DeliveryResult(ok=True)
        text = log.getvalue()
        lines = [line.split(" - ", 2)[-1] for line in text.splitlines() if line.strip()]
        summary = "; ".join(lines[-2:])[:500] or "apprise reported a failure"
        if _NOT_TAKEN.search(text):
            return DeliveryResult(ok=False, error=f"{self.config.name}: {summary}")
        return DeliveryResult(
            ok=False, error=f"{self.config.name}: outcome unknown: {summary}", definite=False
        )
