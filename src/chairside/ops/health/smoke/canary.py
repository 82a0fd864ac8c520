"""Canary data: how smoke-test records are marked, kept out of metrics, and removed.

Every account a smoke run creates has an e-mail at :data:`CANARY_DOMAIN`; its shop is
named with :data:`CANARY_SHOP_PREFIX` and sits at "null island" (0° N, 0° E), where no
client searches. That marking is the single definition the business metrics use to
leave canary rows out (:data:`REAL_CLIENT`) and the clean-up uses to find them.

Clean-up goes through the database rather than the API, because the API deliberately
has no way to erase bookings, payments or accounts; it runs whatever happened to the
run, and also sweeps canaries left behind by an earlier run that was killed midway.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, text

CANARY_DOMAIN = "canary.chairside.example"
CANARY_SHOP_PREFIX = "Chairside canary"
CANARY_LATITUDE = 0.0
CANARY_LONGITUDE = 0.0
CANARY_HEADER = "x-chairside-canary"

# SQL predicate on a users alias ``u``: true for real (non-canary) accounts.
REAL_CLIENT = f"u.email NOT LIKE '%@{CANARY_DOMAIN}'"


@dataclass(frozen=True)
class Removed:
    """How many canary rows a clean-up removed, by table."""

    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def canary_email(run_id: str, role: str) -> str:
    """The marked e-mail of one run's canary account."""
    return f"smoke-{run_id}-{role}@{CANARY_DOMAIN}"


# Children before parents. Each statement works on the canary users of the pattern and
# everything hanging off them; shops cascade to providers, services and their hours.
_CLEANUP = [
    (
        "canary_users",
        "CREATE TEMP TABLE canary_users ON COMMIT DROP AS "
        "SELECT id FROM users WHERE email LIKE :pattern "
        "AND created_at <= now() - make_interval(secs => :min_age)",
    ),
    (
        "canary_shops",
        "CREATE TEMP TABLE canary_shops ON COMMIT DROP AS "
        "SELECT id FROM shops WHERE owner_id IN (SELECT id FROM canary_users)",
    ),
    (
        "canary_bookings",
        "CREATE TEMP TABLE canary_bookings ON COMMIT DROP AS SELECT id FROM bookings "
        "WHERE client_id IN (SELECT id FROM canary_users) "
        "OR shop_id IN (SELECT id FROM canary_shops)",
    ),
    (
        "canary_payments",
        "CREATE TEMP TABLE canary_payments ON COMMIT DROP AS SELECT id, provider_ref "
        "FROM payments WHERE booking_id IN (SELECT id FROM canary_bookings)",
    ),
    (
        "simulated_webhook_outbox",
        "DELETE FROM simulated_webhook_outbox o USING canary_payments p "
        "WHERE position(p.provider_ref in o.body) > 0",
    ),
    (
        "webhook_events",
        "DELETE FROM webhook_events WHERE provider_ref IN "
        "(SELECT provider_ref FROM canary_payments)",
    ),
    ("refunds", "DELETE FROM refunds WHERE payment_id IN (SELECT id FROM canary_payments)"),
    ("payments", "DELETE FROM payments WHERE id IN (SELECT id FROM canary_payments)"),
    (
        "idempotency_keys",
        "DELETE FROM idempotency_keys WHERE user_id IN (SELECT id FROM canary_users) "
        "OR booking_id IN (SELECT id FROM canary_bookings)",
    ),
    ("reviews", "DELETE FROM reviews WHERE booking_id IN (SELECT id FROM canary_bookings)"),
    (
        "audit_log",
        "DELETE FROM audit_log WHERE actor_id IN (SELECT id FROM canary_users) "
        "OR entity_id IN (SELECT id::text FROM canary_users UNION ALL "
        "SELECT id::text FROM canary_shops UNION ALL SELECT id::text FROM canary_bookings "
        "UNION ALL SELECT id::text FROM canary_payments)",
    ),
    ("bookings", "DELETE FROM bookings WHERE id IN (SELECT id FROM canary_bookings)"),
    ("shops", "DELETE FROM shops WHERE id IN (SELECT id FROM canary_shops)"),
    ("users", "DELETE FROM users WHERE id IN (SELECT id FROM canary_users)"),
]


def remove_canaries(
    engine: Engine, *, run_id: str | None = None, min_age_seconds: float = 0
) -> Removed:
    """Delete one run's canary data (no ``run_id``: every canary at least that old)."""
    pattern = f"smoke-{run_id}-%@{CANARY_DOMAIN}" if run_id else f"%@{CANARY_DOMAIN}"
    counts: dict[str, int] = {}
    with engine.begin() as conn:
        # audit_log refuses deletions (migration 0003) except, in this transaction, of
        # the smoke test's own canary rows.
        conn.execute(text("SET LOCAL chairside.audit_purge = 'canary'"))
        for table, statement in _CLEANUP:
            params = {"pattern": pattern, "min_age": min_age_seconds}
            result = conn.execute(text(statement), params)
            if not table.startswith("canary_"):
                counts[table] = max(result.rowcount, 0)
    return Removed(counts)


def count_canaries(engine: Engine) -> int:
    """Canary accounts present now (0 after a clean run)."""
    with engine.connect() as conn:
        value = conn.execute(
            text("SELECT count(*) FROM users WHERE email LIKE :p"), {"p": f"%@{CANARY_DOMAIN}"}
        ).scalar_one()
    return int(value)
