"""Backup validation: knowing a backup is good because it was checked, and restored.

Three layers, each a module, each yielding :class:`~chairside.checks.CheckResult`:

- :mod:`.integrity`: the marker vouches for the manifest, every stored file matches its
  size and SHA-256, decrypts with the configured key and matches its plaintext
  checksum, and every archived WAL segment the backup needs matches its own checksum;
- :mod:`.continuity`: no WAL segment is missing from the backup's start to the newest
  archived one, following timeline history files across promotions;
- :mod:`.full_test`: a test restore into a scratch cluster on a free port with
  archiving off, ``pg_verifybackup`` on the unpacked files, ``pg_amcheck`` on every
  database, then the application's own invariants (:mod:`.invariants`).

:mod:`.service` runs them, stores the result with the backup (``validation.json``, so
"last verified" is known to ``backup status``) and records an ops event.
"""
