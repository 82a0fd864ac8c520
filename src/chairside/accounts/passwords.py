"""Password rules and argon2id hashing."""

from __future__ import annotations

import secrets
import string
import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from chairside.config import Settings
from chairside.errors import InputError

MIN_LENGTH = 10
MAX_LENGTH = 256
RULES = (
    f"at least {MIN_LENGTH} and at most {MAX_LENGTH} characters, "
    "with at least one letter and one digit"
)

# One hasher per cost setting; building one is cheap but there is no reason to repeat it.
_hashers: dict[tuple[int, int], PasswordHasher] = {}


def hasher_for(settings: Settings) -> PasswordHasher:
    """The argon2id hasher with the configured cost."""
    key = (settings.password_hash_time_cost, settings.password_hash_memory_kib)
    if key not in _hashers:
        _hashers[key] = PasswordHasher(time_cost=key[0], memory_cost=key[1], parallelism=1)
    return _hashers[key]


def check_rules(password: str) -> None:
    """Refuse a password that breaks the rules, stating them."""
    ok = (
        MIN_LENGTH <= len(password) <= MAX_LENGTH
        and any(c.isalpha() for c in password)
        and any(c.isdigit() for c in password)
    )
    if not ok:
        raise InputError(f"password must have {RULES}", field="password")


def generate_password() -> str:
    """A random password that always meets the rules (for accounts a machine uses).

    ``secrets.token_urlsafe`` alone holds no digit about one time in sixty at this
    length; the smoke test's canary was refused that often.
    """
    return (
        secrets.token_urlsafe(18)
        + secrets.choice(string.ascii_letters)
        + secrets.choice(string.digits)
    )


# argon2 is CPU-bound and releases the GIL: run by every request thread at once, a burst
# of logins had up to 10 hashing threads per worker on 2 cores, and the event loop, which
# must keep refusing and answering everyone else within a second, got a sliver of a core.
# Hashes beyond the cores only queue in the kernel anyway; here they queue in order.
_hash_slots: dict[int, threading.BoundedSemaphore] = {}
_hash_slots_lock = threading.Lock()


def _hash_slot(settings: Settings) -> threading.BoundedSemaphore:
    size = settings.effective_password_hash_concurrency()
    with _hash_slots_lock:
        if size not in _hash_slots:
            _hash_slots[size] = threading.BoundedSemaphore(size)
        return _hash_slots[size]


def hash_password(password: str, *, settings: Settings) -> str:
    """An argon2id hash of ``password``."""
    with _hash_slot(settings):
        return hasher_for(settings).hash(password)


def verify_password(password_hash: str, password: str, *, settings: Settings) -> bool:
    """True when ``password`` matches ``password_hash``."""
    try:
        with _hash_slot(settings):
            return hasher_for(settings).verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
