"""Who is calling: the authenticated user behind a request."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Principal:
    """An authenticated caller, as read from a valid, unrevoked access token."""

    id: uuid.UUID
    email: str
    role: str
    jti: str
    token_expires_at: datetime

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"
