"""Input bounds as CHECK constraints: the backstop behind chairside/bounds.py.

The API's schemas refuse out-of-range input with a 422 naming the field; these
constraints hold the same bounds for any write that bypasses them (SQL by hand, a
future code path). They are added ``NOT VALID``: PostgreSQL checks every new or updated
row but not the rows already there, so an entry stored before the bounds (a time off
from year 0, a price of 2^62) stays readable and deletable; the API reads such instants
clamped to the bounds (``bounds.clamped_instant``).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Keep in step with chairside/bounds.py (tests/api/test_bounds.py compares them).
INSTANT = "'2000-01-01 00:00:00+00' AND '2100-01-01 00:00:00+00'"
MONEY = "100000000"

CONSTRAINTS: dict[str, dict[str, str]] = {
    "users": {
        "users_email_bounds": "length(email) <= 320",
        "users_full_name_bounds": "length(full_name) <= 200",
    },
    "shops": {
        "shops_name_bounds": "length(name) <= 200 AND length(address) <= 500",
        "shops_fee_bounds": f"late_cancel_fee_minor <= {MONEY}",
    },
    "providers": {"providers_name_bounds": "length(name) <= 200"},
    "services": {
        "services_name_bounds": "length(name) <= 200",
        "services_price_bounds": f"price_minor <= {MONEY}",
    },
    "time_off": {
        "time_off_instant_bounds": f"starts_at BETWEEN {INSTANT} AND ends_at BETWEEN {INSTANT}",
        "time_off_reason_bounds": "length(reason) <= 500",
    },
    "bookings": {
        "bookings_instant_bounds": f"starts_at BETWEEN {INSTANT} AND ends_at BETWEEN {INSTANT}",
        "bookings_money_bounds": (
            f"price_minor <= {MONEY} AND coalesce(cancellation_fee_minor, 0) BETWEEN 0 AND {MONEY}"
        ),
        "bookings_note_bounds": "length(note) <= 500",
    },
    "payments": {"payments_money_bounds": f"amount_minor <= {MONEY}"},
    "refunds": {
        "refunds_money_bounds": f"amount_minor <= {MONEY}",
        "refunds_reason_bounds": "length(reason) <= 500",
    },
    "reviews": {"reviews_text_bounds": "length(text) <= 1000"},
}


def upgrade() -> None:
    for table, checks in CONSTRAINTS.items():
        for name, condition in checks.items():
            op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} CHECK ({condition}) NOT VALID")


def downgrade() -> None:
    for table, checks in CONSTRAINTS.items():
        for name in checks:
            op.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {name}")
