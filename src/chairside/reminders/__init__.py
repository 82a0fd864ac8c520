"""Booking reminders: an outbox written with the booking, delivered by a scheduled worker."""
