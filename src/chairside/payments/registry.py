"""Which PaymentProvider serves a name, built from the settings for one session."""

from __future__ import annotations

import hashlib
import hmac

from sqlalchemy.orm import Session

from chairside.config import Settings
from chairside.errors import NotFoundError
from chairside.payments.provider import PaymentProvider
from chairside.payments.simulated import SimulatedProvider
from chairside.payments.stripe_provider import StripeProvider

PROVIDERS = ("simulated", "stripe")


def simulated_secret(settings: Settings) -> str:
    """The simulated provider's webhook secret: configured, or derived from the JWT secret."""
    configured = settings.simulated_webhook_secret.get_secret_value()
    if configured:
        return configured
    key = settings.effective_jwt_secret().encode()
    return hmac.new(key, b"chairside-simulated-webhooks", hashlib.sha256).hexdigest()


def provider_for(name: str, *, settings: Settings, session: Session) -> PaymentProvider:
    """The provider called ``name``; NotFoundError for unknown names."""
    if name == "simulated":
        return SimulatedProvider(
            session=session,
            secret=simulated_secret(settings),
            delay_seconds=settings.simulated_webhook_delay_seconds,
        )
    if name == "stripe":
        return StripeProvider(
            api_key=settings.stripe_api_key.get_secret_value(),
            webhook_secret=settings.stripe_webhook_secret.get_secret_value(),
            api_base=settings.stripe_api_base,
        )
    raise NotFoundError(
        f"no payment provider {name!r}; known: {', '.join(PROVIDERS)}", field="provider"
    )
