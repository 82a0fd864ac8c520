"""Which request paths are web-app pages (HTML for people), as opposed to the API and ops.

The middleware (modes, admission) asks this to answer a web page with an HTML page
rather than problem+json, and to admit web pages, which use the database.
"""

from __future__ import annotations

# Everything else is a web-app page: the app's pages live at the root (/, /login, ...).
NOT_WEB_PREFIXES = ("/api/", "/ops", "/health", "/metrics", "/docs", "/openapi.json")
ASSETS_PREFIX = "/assets/"


def is_web_page(path: str) -> bool:
    """True for a web-app page (not the API, the ops console, health, metrics or docs)."""
    return not path.startswith(NOT_WEB_PREFIXES)


def uses_database(path: str) -> bool:
    """True for a web-app page that reads or writes the database (assets do not)."""
    return is_web_page(path) and not path.startswith(ASSETS_PREFIX)


def wants_page(path: str, accept: str) -> bool:
    """True when a refusal should be an HTML page: a web-app path asked for by a browser.

    Browsers ask for ``text/html`` when they navigate or send a form; programs that
    reach a non-API path (probes, scripts) keep getting problem+json.
    """
    return is_web_page(path) and "text/html" in accept


def accept_of(headers: list[tuple[bytes, bytes]]) -> str:
    """The Accept header of an ASGI scope's raw headers ('' when absent)."""
    for name, value in headers:
        if name == b"accept":
            return value.decode("latin-1")
    return ""
