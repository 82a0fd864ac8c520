"""Backups: repositories, WAL archiving, base/logical/schema backups, catalog, retention,
validation. Restores live in :mod:`chairside.ops.restore`."""
