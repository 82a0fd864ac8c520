"""Who is on the other end of a request, as logs and security events record it.

One small function on purpose: behind a load balancer the peer is the proxy, and the
client's own address comes from ``X-Forwarded-For`` only when the peer is a trusted
proxy (``CHAIRSIDE_TRUSTED_PROXIES``). Until that setting exists this is the peer.
"""

from __future__ import annotations

from starlette.types import Scope


def client_address(scope: Scope) -> str:
    """The client's address for logs and security events ("unknown" when none)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"
