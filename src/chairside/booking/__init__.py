"""Bookings: availability, holds, idempotent creation, state changes, search, reviews."""
