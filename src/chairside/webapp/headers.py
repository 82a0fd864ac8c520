"""The security headers every web-app response carries.

Only our own files from our own origin: no inline script or style (the CSP has no
'unsafe-inline'; pages load /assets/ files), no framing (clickjacking), forms post only
to us, the referrer never leaves with a path that may name a booking.
"""

from __future__ import annotations

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
PRIVATE = {"Cache-Control": "no-store"}  # pages with a person's data, and every form
