"""Alembic migrations of the application database (run with ``chairside db migrate``)."""
