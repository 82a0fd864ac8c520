"""The caller's address: the peer, or what a configured proxy says it forwarded for.

``X-Forwarded-For`` is anyone's to write, so it is believed only when the peer is one of
``CHAIRSIDE_TRUSTED_PROXIES`` (addresses or networks, comma-separated; empty by default).
Then the header is read from the right, skipping trusted hops, and the first address not
trusted is the client: a client cannot forge its way past the proxy by sending its own
header, since the proxy appends the address it saw. Per-address rate limits and the API
access log use this one function.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

from starlette.requests import Request
from starlette.types import Scope

from chairside.config import Settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
UNKNOWN = "unknown"


@lru_cache(maxsize=16)
def trusted_networks(raw: str) -> tuple[Network, ...]:
    """The networks of a CHAIRSIDE_TRUSTED_PROXIES value (addresses are /32 or /128)."""
    return tuple(
        ipaddress.ip_network(part.strip(), strict=False) for part in raw.split(",") if part.strip()
    )


def client_address(request: Request, settings: Settings) -> str:
    """The address of the client behind ``request`` (see the module docstring)."""
    return client_address_of_scope(request.scope, settings.trusted_proxies)


def client_address_of_scope(scope: Scope, trusted_proxies: str) -> str:
    """:func:`client_address` from a raw ASGI scope (for middleware)."""
    client = scope.get("client")
    peer = str(client[0]) if client else UNKNOWN
    networks = trusted_networks(trusted_proxies)
    if not networks or not _is_trusted(peer, networks):
        return peer
    hops = [
        hop.strip()
        for name, value in scope.get("headers", ())
        if name == b"x-forwarded-for"
        for hop in value.decode("latin-1").split(",")
    ]
    for hop in reversed(hops):
        if not _is_trusted(hop, networks):
            return hop if _is_address(hop) else peer
    return hops[0] if hops and _is_address(hops[0]) else peer


def _is_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _is_trusted(value: str, networks: Iterable[Network]) -> bool:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return False
    return any(address in network for network in networks)
