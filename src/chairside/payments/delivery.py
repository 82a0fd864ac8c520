"""Delivering the simulated processor's webhooks to the app's own endpoint.

With ``CHAIRSIDE_SIMULATED_WEBHOOK_DELIVERY=http`` (the default) a pending charge
schedules a background task that waits for the webhook delay and posts whatever is due
to ``CHAIRSIDE_SIMULATED_WEBHOOK_URL`` (default: this server's
``/api/v1/webhooks/simulated``). With ``manual`` the events stay in the outbox.
"""

from __future__ import annotations

import time

from fastapi import BackgroundTasks

from chairside.api.context import AppContext
from chairside.config import Settings
from chairside.payments import registry, simulated


def webhook_url(settings: Settings) -> str:
    """Where simulated webhooks are posted."""
    if settings.simulated_webhook_url:
        return settings.simulated_webhook_url
    return f"http://{settings.host}:{settings.port}/api/v1/webhooks/simulated"


def schedule_simulated_delivery(*, context: AppContext, background: BackgroundTasks) -> None:
    """After the response, deliver the due simulated webhooks (now and after the delay)."""
    settings = context.settings
    if settings.simulated_webhook_delivery != "http":
        return
    background.add_task(_deliver_soon, context)


def _deliver_soon(context: AppContext) -> None:
    settings = context.settings
    url = webhook_url(settings)
    secret = registry.simulated_secret(settings)
    simulated.deliver_due(sessions=context.sessions, url=url, secret=secret)
    time.sleep(settings.simulated_webhook_delay_seconds + 0.05)
    simulated.deliver_due(sessions=context.sessions, url=url, secret=secret)
