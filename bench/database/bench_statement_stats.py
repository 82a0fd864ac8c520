"""What pg_stat_statements costs: pgbench with and without it on the same cluster.

`chairside up` preloads pg_stat_statements on its embedded cluster (so that
`chairside db slow-queries` works out of the box); every statement then pays for being
counted. This measures that price with pgbench's own transactions (the anchor is the
same cluster without the library), in alternating rounds, and prints the medians and
their ratio. Two workloads: `-S` (one primary-key select per transaction: the worst
case, since the counting is a larger share of a tiny statement) and the default TPC-B-like
mix (writes, closer to a booking).

    .venv/bin/python -m bench.database.bench_statement_stats --seconds 10 --rounds 5

Run on demand, never in the test suite; the machine should be otherwise idle.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

from bench.cluster import run_tool, scratch_cluster  # noqa: E402
from chairside.config import load_settings  # noqa: E402
from chairside.ops.database.statistics import preload_statement_stats  # noqa: E402
from chairside.runtime.postgres import PostgresCluster  # noqa: E402

_TPS = re.compile(r"tps = ([0-9.]+)")


def pgbench(cluster: PostgresCluster, *args: str) -> str:
    return run_tool(cluster, "pgbench", *args, "bench")


def tps(cluster: PostgresCluster, workload: list[str], seconds: int) -> float:
    found = _TPS.search(pgbench(cluster, *workload, "-c", "4", "-j", "2", "-T", str(seconds)))
    if found is None:
        raise SystemExit("pgbench printed no tps")
    return float(found.group(1))


def restart_with(cluster: PostgresCluster, *, statement_stats: bool) -> None:
    cluster.stop()
    if statement_stats:
        preload_statement_stats(cluster, load_settings(env="test"))
    else:
        cluster.configure({"shared_preload_libraries": ""})
    cluster.start()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scale", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-pgss-", dir="/tmp") as tmp:
        root = Path(tmp)
        os.chmod(root, 0o755)
        cluster = scratch_cluster(root)
        cluster.start()
        try:
            cluster.create_database("bench")
            pgbench(cluster, "-i", "-q", "-s", str(args.scale))
            for name, workload in (("select-only (-S)", ["-S"]), ("tpc-b-like", ["-N"])):
                with_stats: list[float] = []
                without: list[float] = []
                for number in range(args.rounds):
                    order = (True, False) if number % 2 == 0 else (False, True)
                    for enabled in order:
                        restart_with(cluster, statement_stats=enabled)
                        value = tps(cluster, workload, args.seconds)
                        (with_stats if enabled else without).append(value)
                    print(
                        f"{name} round {number + 1}: with {with_stats[-1]:.0f} tps,"
                        f" without {without[-1]:.0f} tps"
                    )
                ours, anchor = statistics.median(with_stats), statistics.median(without)
                print(
                    f"{name}: median {ours:.0f} tps with pg_stat_statements,"
                    f" {anchor:.0f} tps without (anchor), ratio {ours / anchor:.3f}x"
                )
        finally:
            cluster.stop(mode="immediate")


if __name__ == "__main__":
    main()
