"""Delivering the simulated processor's webhooks to the app's own endpoint.

With ``CHAIRSIDE_SIMULATED_WEBHOOK_DELIVERY=http`` (the default) a pending charge
schedules a background task that waits for the webhook delay and posts whatever is due
to ``CHAIRSIDE_SIMULATED_WEBHOOK_URL`` (default: this server's
``/api/v1/webhooks/simulated``). With ``manual`` the events stay in the outbox.
"""

from __future__ import annotations

import json
import logging
import threading
import time

from chairside.api.context import AppContext
from chairside.config import Settings
from chairside.payments import registry, simulated
from chairside.runtime.serve import api_state_file

log = logging.getLogger("chairside.payments.delivery")
POLL_SECONDS = 0.2
POLL_GRACE_SECONDS = 3.0


def webhook_url(settings: Settings) -> str:
    """Where simulated webhooks are posted: configured, else this server's own endpoint."""
    if settings.simulated_webhook_url:
        return settings.simulated_webhook_url
    host, port = settings.host, settings.port
    # `chairside up --port P` tells its workers nothing but records where it listens.
    try:
        state = json.loads(api_state_file(settings).read_text())
        host, port = str(state["host"]), int(state["port"])
    except (OSError, ValueError, KeyError):
        pass
    return f"http://{host}:{port}/api/v1/webhooks/simulated"


def schedule_simulated_delivery(*, context: AppContext, payment_ref: str) -> None:
    """Deliver the simulated webhooks this request queued, once its transaction commits."""
    settings = context.settings
    if settings.simulated_webhook_delivery != "http":
        return
    # A thread, not a response background task: those run before the request's session
    # commits, when the queued events are not visible yet.
    threading.Thread(target=_deliver_for_a_while, args=(context, payment_ref), daemon=True).start()


def _deliver_for_a_while(context: AppContext, payment_ref: str) -> None:
    settings = context.settings
    url = webhook_url(settings)
    secret = registry.simulated_secret(settings)
    deadline = time.monotonic() + settings.simulated_webhook_delay_seconds + POLL_GRACE_SECONDS
    while time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        try:
            simulated.deliver_due(sessions=context.sessions, url=url, secret=secret)
            with context.sessions() as session:
                queued, waiting = simulated.outbox_state(session=session, payment_ref=payment_ref)
            # Nothing queued yet means the charging transaction has not committed: wait.
            if queued and not waiting:
                return
        except Exception as exc:  # noqa: BLE001 - a delivery thread must never die loudly
            log.warning("simulated webhook delivery failed", extra={"error": str(exc)})
            return
