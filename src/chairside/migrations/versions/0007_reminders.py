"""reminders: the outbox of booking reminders, their delivery attempts, and their settings.

- ``shops``: the lead times of a shop's reminders (minutes before the booking, default
  24 h and 2 h) and its quiet hours (wall-clock times in the *client's* zone, default
  21:00-08:00), bounded here as in the API schema;
- ``users``: a time zone (NULL: the zone of the booking's shop) and a phone number (for
  SMS gateways), both optional;
- ``reminders``: one row per booking, lead time and channel, written by the booking's own
  transaction (booking/creation.py), cancelled or moved with the booking, and claimed by
  the worker (``chairside reminders run``) with ``FOR UPDATE SKIP LOCKED`` and a lease;
- ``reminder_attempts``: one row per delivery attempt, its outcome (sent, failed, or
  ambiguous: the worker died before recording it); the delivery metrics count these.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE shops"
        " ADD COLUMN reminder_lead_minutes integer[] NOT NULL DEFAULT '{1440,120}',"
        " ADD COLUMN reminder_quiet_start time NOT NULL DEFAULT '21:00',"
        " ADD COLUMN reminder_quiet_end time NOT NULL DEFAULT '08:00',"
        " ADD CONSTRAINT shops_reminder_leads_bounded CHECK ("
        "   cardinality(reminder_lead_minutes) <= 4"
        "   AND 15 <= ALL (reminder_lead_minutes) AND 10080 >= ALL (reminder_lead_minutes))"
    )
    op.execute(
        "ALTER TABLE users"
        " ADD COLUMN timezone text CHECK (char_length(timezone) <= 64),"
        " ADD COLUMN phone text CHECK (phone ~ '^\\+[1-9][0-9]{6,14}$')"
    )
    op.execute(
        "CREATE TABLE reminders ("
        " id uuid PRIMARY KEY DEFAULT gen_random_uuid(),"
        " booking_id uuid NOT NULL REFERENCES bookings (id) ON DELETE CASCADE,"
        " channel text NOT NULL,"
        " lead_minutes integer NOT NULL,"
        " booking_starts_at timestamptz NOT NULL,"
        " due_at timestamptz NOT NULL,"
        " next_attempt_at timestamptz NOT NULL,"
        " status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sending',"
        "   'sent', 'failed', 'ambiguous', 'cancelled', 'moved', 'skipped')),"
        " attempts integer NOT NULL DEFAULT 0,"
        " claim_token uuid,"
        " lease_until timestamptz,"
        " sent_at timestamptz,"
        " last_error text,"
        " created_at timestamptz NOT NULL DEFAULT now(),"
        " updated_at timestamptz NOT NULL DEFAULT now())"
    )
    op.execute("CREATE INDEX reminders_due ON reminders (next_attempt_at) WHERE status = 'pending'")
    op.execute("CREATE INDEX reminders_leased ON reminders (lease_until) WHERE status = 'sending'")
    op.execute("CREATE INDEX reminders_booking ON reminders (booking_id)")
    op.execute(
        "CREATE TABLE reminder_attempts ("
        " id bigserial PRIMARY KEY,"
        " reminder_id uuid NOT NULL REFERENCES reminders (id) ON DELETE CASCADE,"
        " channel text NOT NULL,"
        " attempt integer NOT NULL,"
        " started_at timestamptz NOT NULL,"
        " finished_at timestamptz,"
        " outcome text CHECK (outcome IN ('sent', 'failed', 'ambiguous')),"
        " error text)"
    )
    op.execute("CREATE INDEX reminder_attempts_reminder ON reminder_attempts (reminder_id)")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS reminder_attempts")
    op.execute("DROP TABLE IF EXISTS reminders")
    op.execute("ALTER TABLE users DROP COLUMN IF EXISTS phone, DROP COLUMN IF EXISTS timezone")
    op.execute(
        "ALTER TABLE shops DROP CONSTRAINT IF EXISTS shops_reminder_leads_bounded,"
        " DROP COLUMN IF EXISTS reminder_quiet_end,"
        " DROP COLUMN IF EXISTS reminder_quiet_start,"
        " DROP COLUMN IF EXISTS reminder_lead_minutes"
    )
