"""Payments: the PaymentProvider protocol, the simulated and Stripe providers, webhooks."""
