-- The SQL one POST /api/v1/bookings issues, as a pgbench script: the statements of
-- chairside.booking.creation (the caller's account and token revocation, claiming the
-- Idempotency-Key, loading shop/provider/service and the provider's schedule around the
-- start in one statement; the insert the exclusion constraint arbitrates together with
-- the key's booking id, the audit row and the booking's reminders). The app works out the
-- reminders' due instants in Python (calendar days in the shop's zone, quiet hours; the
-- bench's shop is in UTC) and passes them as arrays; here they are the plain
-- subtraction: the same statement, the same two rows (one channel, leads 24 h and 2 h). The first line is the one statement the app
-- does not send (pgbench cannot count per client by itself): bench_clients maps
-- pgbench's :client_id to a provider of its own and bench_slots hands out distinct
-- 5-minute slots, like the HTTP phase.
SELECT provider_id, user_id, service_id, shop_id, nextval('bench_slots') AS slot
  FROM bench_clients WHERE n = :client_id \gset
BEGIN;
WITH claimed AS (
  INSERT INTO idempotency_keys (user_id, key, request_hash)
  SELECT :user_id, 'pgbench-' || :slot, 'hash' WHERE EXISTS (SELECT FROM users WHERE id = :user_id)
  ON CONFLICT DO NOTHING RETURNING key)
SELECT users.id, users.email, users.role, users.tokens_valid_after, users.timezone,
       users.phone,
       EXISTS (SELECT FROM token_revocations WHERE jti = 'pgbench-' || :slot) AS revoked,
       shops.id, shops.timezone, shops.currency, shops.min_notice_minutes,
       shops.reminder_lead_minutes, shops.reminder_quiet_start, shops.reminder_quiet_end,
       providers.id,
       services.id, services.duration_minutes, services.price_minor,
       services.buffer_before_minutes, services.buffer_after_minutes,
       hours.*, breaks.*, time_off.*,
       EXISTS (SELECT key FROM claimed) AS claimed
  FROM users LEFT JOIN (shops JOIN providers ON providers.shop_id = shops.id
                        JOIN services ON services.shop_id = shops.id)
    ON providers.id = :provider_id AND services.id = :service_id
       AND providers.active AND services.active
       AND EXISTS (SELECT FROM provider_services
                   WHERE provider_id = providers.id AND service_id = services.id)
  LEFT JOIN LATERAL (SELECT array_agg(weekday), array_agg(starts), array_agg(ends)
                     FROM working_hours WHERE provider_id = providers.id) hours ON true
  LEFT JOIN LATERAL (SELECT array_agg(weekday), array_agg(starts), array_agg(ends)
                     FROM working_breaks WHERE provider_id = providers.id) breaks ON true
  LEFT JOIN LATERAL (
    SELECT array_agg(starts_at), array_agg(ends_at) FROM time_off
    WHERE provider_id = providers.id
      AND starts_at < timestamptz '2040-01-03 00:00Z' + (:slot)::int * interval '5 minutes'
      AND ends_at > timestamptz '2039-12-30 00:00Z' + (:slot)::int * interval '5 minutes'
  ) time_off ON true
  WHERE users.id = :user_id;
WITH created AS (
  INSERT INTO bookings (shop_id, provider_id, service_id, client_id, status, starts_at,
      ends_at, buffered_starts_at, buffered_ends_at, price_minor, currency,
      hold_expires_at, note, version)
  SELECT :shop_id, :provider_id, :service_id, :user_id, 'pending_payment',
      timestamptz '2040-01-01 00:00Z' + (:slot)::int * interval '5 minutes',
      timestamptz '2040-01-01 00:05Z' + (:slot)::int * interval '5 minutes',
      timestamptz '2040-01-01 00:00Z' + (:slot)::int * interval '5 minutes',
      timestamptz '2040-01-01 00:05Z' + (:slot)::int * interval '5 minutes',
      500, 'EUR', now() + interval '15 minutes', '', 1
  WHERE NOT EXISTS (
    SELECT FROM bookings
    WHERE provider_id = :provider_id AND status IN ('pending_payment', 'confirmed')
      AND buffered_starts_at < timestamptz '2040-01-01 00:05Z' + (:slot)::int * interval '5 minutes'
      AND buffered_ends_at > timestamptz '2040-01-01 00:00Z' + (:slot)::int * interval '5 minutes')
  ON CONFLICT DO NOTHING
  RETURNING *
), audited AS (
  INSERT INTO audit_log (actor_id, actor_role, action, entity, entity_id, after, request_id)
  SELECT :user_id, 'client', 'booking.created', 'booking', id::text,
      '{"status": "pending_payment"}', 'pgbench'
  FROM created
), reminded AS (
  INSERT INTO reminders (booking_id, channel, lead_minutes, booking_starts_at, due_at,
      next_attempt_at)
  SELECT created.id, r.channel, r.lead_minutes, created.starts_at, r.due_at, r.due_at
  FROM created, unnest('{email,email}'::text[], '{1440,120}'::integer[],
      ARRAY[timestamptz '2039-12-31 00:00Z' + (:slot)::int * interval '5 minutes',
            timestamptz '2039-12-31 22:00Z' + (:slot)::int * interval '5 minutes'])
      AS r(channel, lead_minutes, due_at)
), keyed AS (
  UPDATE idempotency_keys SET booking_id = created.id FROM created
  WHERE user_id = :user_id AND key = 'pgbench-' || :slot
)
SELECT * FROM created;
COMMIT;
