"""Data rights: when an account was last seen, when it was anonymised, and the one
sanctioned change to the audit log, redacting personal values.

``users.last_seen_at`` is set whenever a token pair is issued (log in, refresh), so the
retention job can tell an inactive client from one who keeps a session alive;
``users.anonymised_at`` marks an account whose personal data is gone (privacy/).

The audit log stays append-only (migration 0003). Anonymising a client must not remove
its rows (who changed which booking when is the shop's record), but a row may carry the
client's e-mail or name (``account.registered``). The trigger now lets an UPDATE through
only when the transaction set ``chairside.audit_redact = 'personal-data'`` *and* the new
row is the old one with some values of ``before``/``after`` replaced by the string
``"[redacted]"``: same id, time, actor, action, entity, request id, same keys. Nothing
else can be rewritten, so history cannot be changed under cover of a redaction.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

REDACTED = '"[redacted]"'

UPGRADE = f"""
ALTER TABLE users ADD COLUMN last_seen_at timestamptz;
ALTER TABLE users ADD COLUMN anonymised_at timestamptz;
-- The retention job's question: clients not anonymised, by last activity.
CREATE INDEX users_retention ON users ((coalesce(last_seen_at, created_at)))
    WHERE role = 'client' AND anonymised_at IS NULL;

-- True when new_doc is old_doc with zero or more values replaced by "[redacted]".
CREATE FUNCTION audit_log_only_redacts(old_doc jsonb, new_doc jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN old_doc IS NULL OR new_doc IS NULL THEN old_doc IS NULL AND new_doc IS NULL
        WHEN jsonb_typeof(old_doc) <> 'object' OR jsonb_typeof(new_doc) <> 'object'
            THEN old_doc = new_doc
        ELSE
            (SELECT coalesce(array_agg(k ORDER BY k), '{{}}') FROM jsonb_object_keys(old_doc) k)
            = (SELECT coalesce(array_agg(k ORDER BY k), '{{}}') FROM jsonb_object_keys(new_doc) k)
            AND NOT EXISTS (
                SELECT 1 FROM jsonb_each(new_doc) n
                WHERE n.value IS DISTINCT FROM old_doc -> n.key
                  AND n.value <> '{REDACTED}'::jsonb
            )
    END
$$;

CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('chairside.audit_purge', true) = 'canary' THEN
        RETURN OLD;
    END IF;
    IF TG_OP = 'UPDATE'
        AND current_setting('chairside.audit_redact', true) = 'personal-data'
        AND (NEW.id, NEW.at, NEW.actor_id, NEW.actor_role, NEW.action, NEW.entity,
             NEW.entity_id, NEW.request_id)
            IS NOT DISTINCT FROM
            (OLD.id, OLD.at, OLD.actor_id, OLD.actor_role, OLD.action, OLD.entity,
             OLD.entity_id, OLD.request_id)
        AND audit_log_only_redacts(OLD.before, NEW.before)
        AND audit_log_only_redacts(OLD.after, NEW.after)
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'the audit log keeps every change; it is never edited or deleted';
END
$$;
"""

# Migration 0003's function, as it was.
DOWNGRADE = """
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('chairside.audit_purge', true) = 'canary' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'the audit log keeps every change; it is never edited or deleted';
END
$$;
DROP FUNCTION IF EXISTS audit_log_only_redacts(jsonb, jsonb);
DROP INDEX IF EXISTS users_retention;
ALTER TABLE users DROP COLUMN IF EXISTS anonymised_at;
ALTER TABLE users DROP COLUMN IF EXISTS last_seen_at;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
