"""Chairside: bookings for barbershops and beauty salons, with operations built in."""

__version__ = "0.1.0"
