"""Database maintenance benchmark: `chairside maintenance database` against plain
`vacuumdb --analyze` on identical copies of one bloated database.

The data set is a pgbench database (``--scale``, 20 by default) with autovacuum off and a
third of ``pgbench_accounts`` updated, so every round has the same dead rows to clear.
Each round clones two databases from that template and times one tool on each, in
alternating order; the figures are medians, and the ratio is Chairside's time over
vacuumdb's measured in the same round. What Chairside adds on top of the same VACUUM
(ANALYZE) work: the catalog and statistics reads before and after, lock_timeout, the
invalid-index scan, and the ops event.

    .venv/bin/python -m bench.maintenance.bench_vacuum --scale 20 --rounds 5

Run on demand, never in the test suite; the machine should be otherwise idle.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

from bench.cluster import run_tool, scratch_cluster  # noqa: E402
from chairside.config import load_settings  # noqa: E402
from chairside.ops.maintenance.database import maintain_database  # noqa: E402
from chairside.runtime.postgres import PostgresCluster  # noqa: E402


def prepare(root: Path, scale: int) -> PostgresCluster:
    cluster = scratch_cluster(root)
    cluster.configure({"autovacuum": "off", "max_wal_size": "4GB"})
    cluster.start()
    cluster.create_database("template_bench")
    started = time.monotonic()
    _run(cluster, "pgbench", "-i", "-q", "-s", str(scale), "template_bench")
    _psql(
        cluster,
        "template_bench",
        "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid % 3 = 0",
        "CHECKPOINT",
    )
    print(
        f"data set: pgbench scale {scale}, a third of the accounts updated, ready in "
        f"{time.monotonic() - started:.1f} s"
    )
    return cluster


def _run(cluster: PostgresCluster, tool: str, *args: str) -> None:
    run_tool(cluster, tool, *args)


def _psql(cluster: PostgresCluster, db: str, *statements: str) -> None:
    commands = [arg for statement in statements for arg in ("-c", statement)]
    _run(cluster, "psql", "-d", db, "-q", *commands)


def _clone(cluster: PostgresCluster, name: str) -> None:
    _psql(
        cluster,
        "postgres",
        f"DROP DATABASE IF EXISTS {name}",
        f"CREATE DATABASE {name} TEMPLATE template_bench",
    )


def time_vacuumdb(cluster: PostgresCluster) -> float:
    _clone(cluster, "anchor")
    started = time.perf_counter()
    _run(cluster, "vacuumdb", "--analyze", "-d", "anchor")
    return time.perf_counter() - started


def time_chairside(cluster: PostgresCluster, root: Path) -> float:
    _clone(cluster, "chairside")
    settings = load_settings(env="test", home=root / "home", database_url=cluster.url("chairside"))
    started = time.perf_counter()
    result = maintain_database(settings)
    elapsed = time.perf_counter() - started
    if result.failed or result.skipped:
        raise SystemExit(f"maintenance did not complete: {result.failed} {result.skipped}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-vacuum-", dir="/tmp") as tmp:
        root = Path(tmp)
        os.chmod(root, 0o755)
        cluster = prepare(root, args.scale)
        try:
            pairs = []
            for number in range(args.rounds):
                if number % 2 == 0:
                    anchor = time_vacuumdb(cluster)
                    ours = time_chairside(cluster, root)
                else:
                    ours = time_chairside(cluster, root)
                    anchor = time_vacuumdb(cluster)
                pairs.append((ours, anchor))
                print(
                    f"round {number + 1}: chairside {ours:.3f} s, vacuumdb {anchor:.3f} s, "
                    f"ratio {ours / anchor:.2f}x"
                )
            ours_median = statistics.median(p[0] for p in pairs)
            anchor_median = statistics.median(p[1] for p in pairs)
            ratio_median = statistics.median(p[0] / p[1] for p in pairs)
            print(
                f"median: chairside maintenance database {ours_median:.3f} s, "
                f"vacuumdb --analyze {anchor_median:.3f} s (anchor), "
                f"ratio {ratio_median:.2f}x (median of per-round ratios)"
            )
        finally:
            cluster.stop(mode="immediate")


if __name__ == "__main__":
    main()
