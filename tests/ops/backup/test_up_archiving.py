"""`chairside up` gives a newcomer continuous archiving from the first minute."""

from __future__ import annotations

import time

import psycopg
import pytest

from chairside.config import load_settings
from chairside.ops.backup import access
from chairside.ops.backup.archiving import configure_archiving
from chairside.ops.backup.basebackup import take_full_backup
from chairside.runtime.embedded import embedded_stack
from tests.support.servers import remove_tree, scratch_dir

pytestmark = pytest.mark.slow


def test_the_embedded_cluster_archives_into_the_home_repository() -> None:
    home = scratch_dir()
    settings = load_settings(env="test", home=home, embedded_redis=False)
    stack = embedded_stack(settings)
    try:
        stack.start(configurers=(configure_archiving,))  # what `chairside up` passes
        assert settings.backup_repository_url == str(home / "backups")
        with psycopg.connect(stack.postgres.conninfo(), autocommit=True) as conn:
            assert conn.execute("SHOW archive_mode").fetchone() == ("on",)
            conn.execute("CREATE TABLE first_minute AS SELECT 1 AS id")
            row = conn.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()
        assert row is not None
        archive = access.wal_archive(settings)
        deadline = time.monotonic() + 30
        while not archive.find(str(row[0])):
            assert time.monotonic() < deadline, stack.postgres.log_tail()
            time.sleep(0.1)
        assert (home / "backups" / "repository.json").exists()

        # Backups of the embedded cluster go to the same repository, next to its WAL,
        # and WAL archiving (as postgres) keeps working after root wrote there.
        result = take_full_backup(settings)
        assert [e.id for e in access.catalog(settings).list_backups()] == [result.manifest.id]
        backup_dir = home / "backups" / "backups" / result.manifest.id
        assert backup_dir.stat().st_uid == (home / "backups").stat().st_uid
        with psycopg.connect(stack.postgres.conninfo(), autocommit=True) as conn:
            conn.execute("INSERT INTO first_minute VALUES (2)")
            row = conn.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()
        assert row is not None
        while not archive.find(str(row[0])):
            assert time.monotonic() < deadline + 30, stack.postgres.log_tail()
            time.sleep(0.1)
    finally:
        stack.stop()
        remove_tree(home)
