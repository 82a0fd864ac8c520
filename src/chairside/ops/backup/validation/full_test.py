"""The full test: restore a backup for real into a scratch cluster, then inspect it.

The scratch copy is built exactly as a restore builds one (a new directory, a free port,
archiving off, recovery to the newest archived WAL when the chain is whole, else to the
backup's own consistent point), so a passing full test is evidence that the same
restore will work when it matters. Before the copy is touched, ``pg_verifybackup``
checks the unpacked files against ``backup_manifest`` and parses the backup's WAL; after
recovery ``pg_amcheck`` checks every table and B-tree index of every database, and the
application's invariants run on its database. The scratch cluster is always stopped
and removed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from chairside.checks import CheckResult, CheckStatus
from chairside.errors import ChairsideError
from chairside.ops.backup.catalog import BackupCatalog
from chairside.ops.backup.validation.invariants import check_invariants
from chairside.ops.backup.walarchive import WalArchive
from chairside.ops.restore.build import build_recovered_cluster, discard
from chairside.ops.restore.layout import under_root
from chairside.ops.restore.plan import newest_reached_timeline, plan_restore
from chairside.ops.restore.recovery import RestoredCluster
from chairside.ops.restore.targets import IMMEDIATE, LATEST
from chairside.runtime.osuser import run_as

StepReporter = Callable[[str], None]


def run_full_test(
    catalog: BackupCatalog,
    archive: WalArchive,
    backup_id: str,
    *,
    scratch_root: Path,
    app_database: str,
    chain_complete: bool,
    pg_bin_dir: Path | None = None,
    step: StepReporter | None = None,
) -> list[CheckResult]:
    """Test-restore ``backup_id`` under ``scratch_root`` and check the copy."""
    results: list[CheckResult] = []
    began = time.monotonic()
    target = LATEST if chain_complete else IMMEDIATE
    layout = under_root(scratch_root)
    built = None

    def verify(cluster: RestoredCluster, files_dir: Path) -> None:
        results.append(_verifybackup(cluster, files_dir))

    try:
        plan = plan_restore(
            catalog, archive, target=target, backup_id=backup_id,
            timeline=newest_reached_timeline(catalog.read_manifest(backup_id), archive),
        )  # fmt: skip
        built = build_recovered_cluster(
            plan, layout, catalog=catalog, archive=archive, pg_bin_dir=pg_bin_dir, step=step,
            after_unpack=verify,
        )  # fmt: skip
        results.append(
            _result(
                "test_restore",
                CheckStatus.OK,
                f"restored to {target.describe()} in {built.outcome.seconds:.1f}s: timeline "
                f"{built.outcome.timeline}, LSN {built.outcome.end_lsn}",
                began,
                built.outcome.to_dict(),
            )  # fmt: skip
        )
        results.append(_amcheck(built.cluster))
        results.extend(_invariants(built.cluster, app_database))
    except ChairsideError as exc:
        results.append(_result("test_restore", CheckStatus.CRITICAL, exc.message, began))
    finally:
        discard(layout, built.cluster if built else None)
    return results


def _verifybackup(cluster: RestoredCluster, files_dir: Path) -> CheckResult:
    began = time.monotonic()
    manifest = files_dir / "backup_manifest"
    if not manifest.exists():
        return _result("pg_verifybackup", CheckStatus.WARNING, "no backup_manifest", began)
    result = run_as(
        cluster.user,
        [cluster.binary("pg_verifybackup"), "-m", str(manifest), str(cluster.data_dir)],
        check=False,
        timeout=None,
    )
    if result.returncode != 0:
        problem = (result.stderr or result.stdout).strip().splitlines()
        return _result(
            "pg_verifybackup", CheckStatus.CRITICAL,
            "pg_verifybackup: " + "; ".join(problem[:3]), began,
        )  # fmt: skip
    return _result(
        "pg_verifybackup", CheckStatus.OK,
        "every file matches backup_manifest and the backup's WAL parses", began,
    )  # fmt: skip


def _amcheck(cluster: RestoredCluster) -> CheckResult:
    began = time.monotonic()
    argv = [
        cluster.binary("pg_amcheck"), "--all", "--install-missing",
        "-h", str(cluster.socket_dir), "-p", str(cluster.port), "-U", "postgres",
    ]  # fmt: skip
    result = run_as(cluster.user, argv, check=False, timeout=None)
    if result.returncode != 0:
        lines = (result.stdout + result.stderr).strip().splitlines()
        return _result(
            "amcheck", CheckStatus.CRITICAL, "pg_amcheck found corruption: " + "; ".join(lines[:3]),
            began,
        )  # fmt: skip
    return _result(
        "amcheck", CheckStatus.OK, "pg_amcheck: every table and B-tree index is sound", began
    )


def _invariants(cluster: RestoredCluster, database: str) -> list[CheckResult]:
    began = time.monotonic()
    import psycopg

    with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
        found = exists.fetchone() is not None
    if not found:
        return [
            _result(
                "invariants",
                CheckStatus.WARNING,
                f"the application database {database!r} is not in the backup",
                began,
            )  # fmt: skip
        ]
    return check_invariants(cluster.conninfo(database))


def _result(
    name: str,
    status: CheckStatus,
    summary: str,
    began: float,
    details: dict[str, object] | None = None,
) -> CheckResult:
    return CheckResult(
        name, status, summary, round((time.monotonic() - began) * 1000, 1), details or {}
    )
