"""rate_limit_counters: where rate limits are counted while Redis is unreachable.

Redis counts every limit (login, registration, booking creation); when it does not answer,
or none is configured, the same fixed windows are counted here (accounts/ratelimit.py), so
a limit never silently turns off. UNLOGGED: counters need not survive a crash, and are not
worth WAL, backups or replicas.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE UNLOGGED TABLE rate_limit_counters ("
        " key text PRIMARY KEY,"
        " attempts integer NOT NULL,"
        " window_ends_at timestamptz NOT NULL)"
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS rate_limit_counters")
