"""An S3 repository as the *primary* one: WAL archiving and backups go straight to S3.

archive_command runs as the server's OS user with none of the operator's environment;
it must still reach the S3 store, with the secret kept out of postgresql.conf.
"""

from __future__ import annotations

import psycopg
import pytest

from chairside.ops.backup import access
from chairside.ops.backup.archiving import archive_command
from chairside.ops.backup.basebackup import take_full_backup
from chairside.ops.restore.service import RestoreRequest, restore_database
from chairside.ops.restore.targets import LATEST
from tests.ops.backup.helpers import backup_env
from tests.ops.restore.helpers import stop_copy
from tests.support.seaweed import SeaweedServer
from tests.support.servers import ClusterFactory, remove_tree, scratch_dir

pytestmark = pytest.mark.slow


def test_a_cluster_archives_and_backs_up_into_s3_and_restores_from_it(
    cluster_factory: ClusterFactory, seaweed: SeaweedServer
) -> None:
    url = f"s3://{seaweed.new_bucket('primary')}/main"
    with backup_env(cluster_factory, backup_repository=url, **seaweed.settings_overrides()) as env:
        assert seaweed.secret_key not in archive_command(env.settings)
        env.sql("CREATE TABLE t AS SELECT 1 AS x")
        backup_id = take_full_backup(env.settings).manifest.id
        env.sql("INSERT INTO t VALUES (2)")
        segment = env.switch_and_wait()  # archived by the postgres user, into S3

        catalog = access.catalog(env.settings)
        assert [e.id for e in catalog.list_backups()] == [backup_id]
        assert access.wal_archive(env.settings).find(segment)

        target = scratch_dir("chairside-s3-restore-")
        try:
            result = restore_database(
                env.settings, request=RestoreRequest(target=LATEST, to=target / "pg")
            )
            conninfo = f"host={target / 'pg.run'} port={result.port} user=postgres"
            with psycopg.connect(conninfo) as conn:
                rows = conn.execute("SELECT x FROM t ORDER BY x").fetchall()
            assert rows == [(1,), (2,)]
        finally:
            stop_copy(target / "pg")
            remove_tree(target)
