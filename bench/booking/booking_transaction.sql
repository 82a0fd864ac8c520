-- The SQL one POST /api/v1/bookings issues (authentication, idempotency key, lookups,
-- releasing run-out holds, the schedule read, the insert the exclusion constraint
-- arbitrates, the audit row), as a pgbench script. bench_clients maps pgbench's
-- :client_id to a provider of its own and bench_slots hands out distinct 5-minute slots,
-- like the HTTP phase.
SELECT provider_id, user_id, service_id, shop_id FROM bench_clients WHERE n = :client_id \gset
SELECT nextval('bench_slots') AS slot \gset
BEGIN;
SELECT id, email, role, tokens_valid_after FROM users WHERE id = :user_id;
SELECT jti FROM token_revocations WHERE jti = 'pgbench-' || :slot;
INSERT INTO idempotency_keys (user_id, key, request_hash)
  VALUES (:user_id, 'pgbench-' || :slot, 'hash') ON CONFLICT DO NOTHING RETURNING key;
SELECT * FROM providers WHERE id = :provider_id;
SELECT * FROM services WHERE id = :service_id;
SELECT service_id FROM provider_services WHERE provider_id = :provider_id;
SELECT * FROM shops WHERE id = :shop_id;
SELECT * FROM bookings
  WHERE provider_id = :provider_id AND status = 'pending_payment' AND hold_expires_at <= now()
    AND buffered_starts_at < timestamptz '2040-01-01 00:05Z' + (:slot)::int * interval '5 minutes'
    AND buffered_ends_at > timestamptz '2040-01-01 00:00Z' + (:slot)::int * interval '5 minutes'
  FOR UPDATE SKIP LOCKED;
SELECT * FROM working_hours WHERE provider_id = :provider_id;
SELECT * FROM working_breaks WHERE provider_id = :provider_id;
SELECT * FROM time_off WHERE provider_id = :provider_id
  AND starts_at < timestamptz '2040-01-02 00:00Z' + (:slot)::int * interval '5 minutes'
  AND ends_at > timestamptz '2039-12-31 00:00Z' + (:slot)::int * interval '5 minutes';
SELECT buffered_starts_at, buffered_ends_at FROM bookings
  WHERE provider_id = :provider_id
    AND buffered_starts_at < timestamptz '2040-01-02 00:00Z' + (:slot)::int * interval '5 minutes'
    AND buffered_ends_at > timestamptz '2039-12-31 00:00Z' + (:slot)::int * interval '5 minutes'
    AND (status = 'confirmed' OR (status = 'pending_payment' AND hold_expires_at > now()));
INSERT INTO bookings (shop_id, provider_id, service_id, client_id, status, starts_at, ends_at,
    buffered_starts_at, buffered_ends_at, price_minor, currency, hold_expires_at, note, version)
  VALUES (:shop_id, :provider_id, :service_id, :user_id, 'pending_payment',
    timestamptz '2040-01-01 00:00Z' + (:slot)::int * interval '5 minutes',
    timestamptz '2040-01-01 00:05Z' + (:slot)::int * interval '5 minutes',
    timestamptz '2040-01-01 00:00Z' + (:slot)::int * interval '5 minutes',
    timestamptz '2040-01-01 00:05Z' + (:slot)::int * interval '5 minutes',
    500, 'EUR', now() + interval '15 minutes', '', 1)
  ON CONFLICT DO NOTHING
  RETURNING id AS booking_id \gset
UPDATE idempotency_keys SET booking_id = :booking_id
  WHERE user_id = :user_id AND key = 'pgbench-' || :slot;
INSERT INTO audit_log (actor_id, actor_role, action, entity, entity_id, after, request_id)
  VALUES (:user_id, 'client', 'booking.created', 'booking', :booking_id,
          '{"status": "pending_payment"}', 'pgbench');
COMMIT;
