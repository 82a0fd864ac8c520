"""The booking side: accounts, shops, providers, services, hours, bookings, payments, audit.

Written as plain SQL on purpose: the exclusion constraint, the partial predicate, the
earthdistance index and the CHECK constraints are the guarantees, and they read best as
the SQL PostgreSQL runs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE users (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email text NOT NULL,
    full_name text NOT NULL,
    password_hash text NOT NULL,
    role text NOT NULL CHECK (role IN ('client', 'provider', 'owner', 'admin')),
    tokens_valid_after timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE token_revocations (
    jti text PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX token_revocations_expires_at ON token_revocations (expires_at);

CREATE TABLE shops (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    owner_id uuid NOT NULL REFERENCES users (id),
    name text NOT NULL,
    address text NOT NULL DEFAULT '',
    latitude double precision NOT NULL CHECK (latitude BETWEEN -90 AND 90),
    longitude double precision NOT NULL CHECK (longitude BETWEEN -180 AND 180),
    timezone text NOT NULL,
    currency char(3) NOT NULL,
    free_cancel_hours integer NOT NULL DEFAULT 24 CHECK (free_cancel_hours >= 0),
    late_cancel_fee_minor bigint NOT NULL DEFAULT 0 CHECK (late_cancel_fee_minor >= 0),
    min_notice_minutes integer NOT NULL DEFAULT 60 CHECK (min_notice_minutes >= 0),
    slot_step_minutes integer NOT NULL DEFAULT 15 CHECK (slot_step_minutes BETWEEN 5 AND 240),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX shops_owner_id ON shops (owner_id);
-- "Providers near me": a GiST index on the earth point, used by earth_box() lookups.
CREATE INDEX shops_location ON shops USING gist (ll_to_earth(latitude, longitude));

CREATE TABLE providers (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    shop_id uuid NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    user_id uuid REFERENCES users (id),
    name text NOT NULL,
    active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX providers_shop_id ON providers (shop_id);
CREATE INDEX providers_user_id ON providers (user_id);

CREATE TABLE services (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    shop_id uuid NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    name text NOT NULL,
    duration_minutes integer NOT NULL CHECK (duration_minutes BETWEEN 5 AND 720),
    price_minor bigint NOT NULL CHECK (price_minor >= 0),
    buffer_before_minutes integer NOT NULL DEFAULT 0 CHECK (buffer_before_minutes >= 0),
    buffer_after_minutes integer NOT NULL DEFAULT 0 CHECK (buffer_after_minutes >= 0),
    active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX services_shop_id ON services (shop_id);
CREATE INDEX services_name ON services (lower(name));

CREATE TABLE provider_services (
    provider_id uuid NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
    service_id uuid NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    PRIMARY KEY (provider_id, service_id)
);
CREATE INDEX provider_services_service_id ON provider_services (service_id);

-- Weekly hours are shop-local wall times (weekday 0 = Monday); breaks likewise.
CREATE TABLE working_hours (
    id bigserial PRIMARY KEY,
    provider_id uuid NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
    weekday smallint NOT NULL CHECK (weekday BETWEEN 0 AND 6),
    starts time NOT NULL,
    ends time NOT NULL,
    CHECK (starts < ends)
);
CREATE INDEX working_hours_provider_id ON working_hours (provider_id);

CREATE TABLE working_breaks (
    id bigserial PRIMARY KEY,
    provider_id uuid NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
    weekday smallint NOT NULL CHECK (weekday BETWEEN 0 AND 6),
    starts time NOT NULL,
    ends time NOT NULL,
    CHECK (starts < ends)
);
CREATE INDEX working_breaks_provider_id ON working_breaks (provider_id);

CREATE TABLE time_off (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    provider_id uuid NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL,
    reason text NOT NULL DEFAULT '',
    CHECK (starts_at < ends_at)
);
CREATE INDEX time_off_provider_id ON time_off (provider_id, starts_at);

CREATE TABLE bookings (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    shop_id uuid NOT NULL REFERENCES shops (id),
    provider_id uuid NOT NULL REFERENCES providers (id),
    service_id uuid NOT NULL REFERENCES services (id),
    client_id uuid NOT NULL REFERENCES users (id),
    status text NOT NULL CHECK (status IN
        ('pending_payment', 'confirmed', 'completed', 'cancelled', 'no_show', 'expired')),
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL,
    buffered_starts_at timestamptz NOT NULL,
    buffered_ends_at timestamptz NOT NULL,
    price_minor bigint NOT NULL CHECK (price_minor >= 0),
    currency char(3) NOT NULL,
    hold_expires_at timestamptz,
    cancellation_fee_minor bigint,
    note text NOT NULL DEFAULT '',
    version integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (starts_at < ends_at),
    CHECK (buffered_starts_at <= starts_at AND ends_at <= buffered_ends_at),
    -- The guarantee: no two live bookings of one provider overlap, buffers included.
    CONSTRAINT bookings_no_overlap EXCLUDE USING gist (
        provider_id WITH =,
        tstzrange(buffered_starts_at, buffered_ends_at, '[)') WITH &&
    ) WHERE (status IN ('pending_payment', 'confirmed'))
);
CREATE INDEX bookings_client_id ON bookings (client_id, starts_at);
CREATE INDEX bookings_shop_id ON bookings (shop_id, starts_at);
CREATE INDEX bookings_pending_holds ON bookings (hold_expires_at)
    WHERE status = 'pending_payment';

CREATE TABLE idempotency_keys (
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key text NOT NULL,
    request_hash text NOT NULL,
    booking_id uuid REFERENCES bookings (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);

CREATE TABLE payments (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    booking_id uuid NOT NULL REFERENCES bookings (id),
    provider text NOT NULL,
    provider_ref text NOT NULL,
    amount_minor bigint NOT NULL CHECK (amount_minor >= 0),
    refunded_minor bigint NOT NULL DEFAULT 0 CHECK (refunded_minor >= 0),
    currency char(3) NOT NULL,
    status text NOT NULL CHECK (status IN
        ('pending', 'succeeded', 'failed', 'refunded', 'partially_refunded')),
    failure_reason text,
    card_last4 text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (refunded_minor <= amount_minor),
    UNIQUE (provider, provider_ref)
);
CREATE INDEX payments_booking_id ON payments (booking_id);

CREATE TABLE refunds (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    payment_id uuid NOT NULL REFERENCES payments (id),
    provider_ref text NOT NULL,
    amount_minor bigint NOT NULL CHECK (amount_minor > 0),
    reason text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refunds_payment_id ON refunds (payment_id);

CREATE TABLE webhook_events (
    id bigserial PRIMARY KEY,
    provider text NOT NULL,
    event_id text NOT NULL,
    type text NOT NULL,
    provider_ref text,
    outcome text NOT NULL DEFAULT '',
    received_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (provider, event_id)
);

-- The simulated card processor's own outgoing webhooks, waiting for delivery.
CREATE TABLE simulated_webhook_outbox (
    id bigserial PRIMARY KEY,
    event_id text NOT NULL UNIQUE,
    body text NOT NULL,
    deliver_after timestamptz NOT NULL,
    delivered_at timestamptz,
    attempts integer NOT NULL DEFAULT 0
);

CREATE TABLE reviews (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    booking_id uuid NOT NULL UNIQUE REFERENCES bookings (id),
    client_id uuid NOT NULL REFERENCES users (id),
    provider_id uuid NOT NULL REFERENCES providers (id),
    rating smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
    text text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reviews_provider_id ON reviews (provider_id, created_at);

CREATE TABLE audit_log (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    actor_id uuid,
    actor_role text,
    action text NOT NULL,
    entity text NOT NULL,
    entity_id text NOT NULL,
    before jsonb,
    after jsonb,
    request_id text
);
CREATE INDEX audit_log_entity ON audit_log (entity, entity_id, id);
CREATE INDEX audit_log_at ON audit_log (at);
"""

TABLES = (
    "audit_log",
    "reviews",
    "simulated_webhook_outbox",
    "webhook_events",
    "refunds",
    "payments",
    "idempotency_keys",
    "bookings",
    "time_off",
    "working_breaks",
    "working_hours",
    "provider_services",
    "services",
    "providers",
    "shops",
    "token_revocations",
    "users",
)


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TABLE IF EXISTS {table}")
