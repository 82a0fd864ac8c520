"""Where backups and WAL are kept: one :class:`Repository` protocol, one module per
backend (``local``, ``s3``), and :func:`open_repository` to pick one from a URL."""

from chairside.ops.backup.repository.base import (
    ObjectInfo,
    ObjectNotFoundError,
    Repository,
    RepositoryError,
    open_repository,
)

__all__ = ["ObjectInfo", "ObjectNotFoundError", "Repository", "RepositoryError", "open_repository"]
