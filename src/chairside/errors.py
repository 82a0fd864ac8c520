"""The error tree of Chairside.

Every error Chairside raises on purpose derives from :class:`ChairsideError`. Services
raise these; only the edges (``api/problems.py`` for HTTP, ``cli/output.py`` for exit
codes) decide what a client or an operator sees. Each message names the bad value and
what is allowed.

::

    ChairsideError
    ├── ConfigError              a setting is missing or malformed
    ├── InputError               a request or argument is invalid (HTTP 422, exit 2)
    │   ├── NotFoundError        the thing asked for does not exist or is not yours (404)
    │   └── ConflictError        the state does not allow it (409)
    ├── AuthError                not authenticated (401)
    │   └── PermissionDeniedError authenticated but not allowed (403)
    ├── RateLimitedError         too many attempts; carries retry_after (429)
    ├── UnavailableError         maintenance or read-only mode; carries retry_after (503)
    ├── GuardRefusedError        a safety guard refused a destructive action (exit 3)
    │   └── LockHeldError        another operation holds the named lock
    ├── ComponentError           a process or service Chairside depends on failed (exit 1)
    │   ├── BinaryNotFoundError  a required program is not installed
    │   ├── PortInUseError       a port Chairside wants is taken
    │   └── DependencyDownError  PostgreSQL, Redis or a repository does not answer
    └── OperationFailedError     an ops action ran and failed (exit 1)
"""

from __future__ import annotations


class ChairsideError(Exception):
    """Root of every error Chairside raises on purpose."""

    def __init__(self, message: str, *, details: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, object] = details or {}


class ConfigError(ChairsideError):
    """A setting is missing or malformed."""


class InputError(ChairsideError):
    """A request or command argument is invalid."""

    def __init__(
        self, message: str, *, field: str | None = None, details: dict[str, object] | None = None
    ) -> None:
        super().__init__(message, details=details)
        self.field = field


class NotFoundError(InputError):
    """The thing asked for does not exist, or is not visible to the caller."""


class ConflictError(InputError):
    """The current state does not allow the change (a taken slot, an illegal transition)."""


class AuthError(ChairsideError):
    """The caller is not authenticated (missing, invalid, expired or revoked token)."""


class PermissionDeniedError(AuthError):
    """The caller is authenticated but not allowed to do this."""


class RateLimitedError(ChairsideError):
    """Too many attempts; try again after ``retry_after`` seconds."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, details={"retry_after": retry_after})
        self.retry_after = retry_after


class UnavailableError(ChairsideError):
    """The service is in maintenance or read-only mode."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, details={"retry_after": retry_after})
        self.retry_after = retry_after


class GuardRefusedError(ChairsideError):
    """A safety guard refused a destructive or risky action."""


class LockHeldError(GuardRefusedError):
    """Another operation holds the named lock."""


class ComponentError(ChairsideError):
    """A process or service Chairside depends on failed."""


class BinaryNotFoundError(ComponentError):
    """A required program is not installed."""


class PortInUseError(ComponentError):
    """A port Chairside wants to listen on is taken."""


class DependencyDownError(ComponentError):
    """PostgreSQL, Redis or a backup repository does not answer."""


class OperationFailedError(ChairsideError):
    """An operations action ran and failed."""
