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


def policy_posting_to(origin: str) -> str:
    """The policy of a page whose form is answered by a redirect to ``origin``.

    Browsers apply ``form-action`` to the redirects after a submit too, so the pay page of
    a hosted checkout (Stripe Checkout) names the processor's origin.
    """
    return CONTENT_SECURITY_POLICY.replace("form-action 'self'", f"form-action 'self' {origin}")


PRIVATE = {"Cache-Control": "no-store"}  # pages with a person's data, and every form
