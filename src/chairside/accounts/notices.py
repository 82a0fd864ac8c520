"""Notices to account holders by e-mail: the seam registration tells an owner through.

::

    AccountNotices (Protocol)
    ├── LoggedNotices   writes the notice to the log (no mail channel configured)
    └── MemoryNotices   keeps what it was given; for tests

Registration answers the same whether or not the address has an account
(accounts.service.register); the owner of an existing account learns of the attempt
here instead of the caller. A mail channel plugs in as one more implementation.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Protocol

log = logging.getLogger("chairside.accounts")


class AccountNotices(Protocol):
    """Sends account holders the notices registration and security events call for."""

    def registration_attempted(self, *, email: str) -> None:
        """Tell ``email``'s owner that someone tried to register it again."""
        ...


class LoggedNotices:
    """Logs each notice (the address hashed: the log is not a list of customers)."""

    def registration_attempted(self, *, email: str) -> None:
        digest = hashlib.sha256(email.lower().encode()).hexdigest()[:16]
        log.info(
            "registration attempted for an existing account; notice not mailed "
            "(no mail channel configured)",
            extra={"email_sha256": digest},
        )


@dataclass
class MemoryNotices:
    """Records notices instead of sending them."""

    sent: list[tuple[str, str]] = field(default_factory=list)

    def registration_attempted(self, *, email: str) -> None:
        self.sent.append(("registration_attempted", email))
