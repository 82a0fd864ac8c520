"""Demo data for ``chairside up --demo``.

The booking side fills this in with shops, providers, services, hours and bookings;
until then there is nothing to seed and ``--demo`` says so.
"""

from __future__ import annotations


def seed_demo(database_url: str) -> str:
    """Seed demo data into the database at ``database_url``; returns a one-line summary."""
    return "no demo data yet (the booking service adds it)"
