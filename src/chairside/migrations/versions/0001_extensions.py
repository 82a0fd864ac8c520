"""Extensions the booking side needs.

btree_gist lets the bookings exclusion constraint combine ``provider_id =`` with a
``tstzrange &&`` overlap; pgcrypto gives ``gen_random_uuid()``-era helpers and digests;
cube + earthdistance give indexed distance search for "providers near me".

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

EXTENSIONS = ("btree_gist", "pgcrypto", "cube", "earthdistance")


def upgrade() -> None:
    for name in EXTENSIONS:
        op.execute(f"CREATE EXTENSION IF NOT EXISTS {name}")


def downgrade() -> None:
    for name in reversed(EXTENSIONS):
        op.execute(f"DROP EXTENSION IF EXISTS {name}")
