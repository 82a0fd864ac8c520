"""The reminder channel seam: what a reminder message is, and what delivering one says.

::

    ReminderChannel (Protocol)
    ├── AppriseReminderChannel   an apprise URL: e-mail (mailto://, mailtos://, SES…),
    │                            SMS gateways (twilio://, vonage://, sns://…), webhooks
    └── MemoryReminderChannel    keeps what it was given; for tests (memory.py)

Channels are named in ``CHAIRSIDE_REMINDER_CHANNELS`` (``name=URL`` pairs); a URL holds
``{email}`` or ``{phone}`` where the client's address goes, and a client without that
address gets no reminder through that channel.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, Protocol

from chairside.config import Settings
from chairside.errors import ConfigError

Address = Literal["email", "phone", "none"]
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class ReminderMessage:
    """One reminder for one client through one channel."""

    reminder_id: uuid.UUID
    channel: str
    email: str
    phone: str | None
    title: str
    body: str


@dataclass(frozen=True)
class DeliveryResult:
    """The channel's answer: the gateway took the message, or it did not (why).

    ``definite`` False: the outcome is unknown (the request went out and no answer came
    back, such as a read timeout); the worker records it as ambiguous and never retries.
    """

    ok: bool
    error: str | None = None
    definite: bool = True


class ReminderChannel(Protocol):
    """Hands a reminder to a gateway; returns its answer, never raises for a refusal."""

    def deliver(self, message: ReminderMessage) -> DeliveryResult:
        """Deliver ``message``; ``ok=False, definite=True`` only when the gateway surely
        did not take it (a retry cannot make a duplicate)."""
        ...


@dataclass(frozen=True)
class ChannelConfig:
    """A configured channel: its name, apprise URL template and the address it needs."""

    name: str
    url: str

    @property
    def address(self) -> Address:
        if "{phone}" in self.url:
            return "phone"
        if "{email}" in self.url:
            return "email"
        return "none"


def channel_configs(settings: Settings) -> list[ChannelConfig]:
    """The channels of ``CHAIRSIDE_REMINDER_CHANNELS``, in order (none when unset)."""
    if settings.reminder_channels is None:
        return []
    return list(_parse(settings.reminder_channels.get_secret_value()))


@lru_cache(maxsize=8)
def _parse(raw: str) -> tuple[ChannelConfig, ...]:
    # Cached: booking creation asks on every request.
    configs: list[ChannelConfig] = []
    for part in (p for p in re.split(r"[\s,]+", raw.strip()) if p):
        name, sep, url = part.partition("=")
        if not sep or not _NAME.match(name) or "://" not in url:
            shown = name if sep else part[:20]
            raise ConfigError(
                f"CHAIRSIDE_REMINDER_CHANNELS entry {shown!r} is not 'name=apprise-URL' with a "
                "lower-case name (letters, digits, '-', '_'; e.g. 'email=mailtos://u:p@host"
                "?to={email}')"
            )
        if any(c.name == name for c in configs):
            raise ConfigError(f"CHAIRSIDE_REMINDER_CHANNELS names channel {name!r} twice")
        configs.append(ChannelConfig(name, url))
    return tuple(configs)


def reachable_channels(configs: list[ChannelConfig], *, email: str, phone: str | None) -> list[str]:
    """The names of the channels that can reach a client with these addresses."""
    return [c.name for c in configs if c.address != "phone" or phone] if email else []
