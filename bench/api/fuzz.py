"""The long schema fuzz: every /api/v1 operation, many examples, three callers.

    .venv/bin/python -m bench.api.fuzz --examples 200

Starts its own PostgreSQL and Redis (the test harness's), serves the app in-process
(ASGI), and runs tests/api/test_schema_fuzz.py's loop with ``--examples`` per operation
and caller (the suite runs 15). Prints the operations exercised and the time taken;
exits 1 with schemathesis's report (a curl command reproducing it) on the first failure.
"""

from __future__ import annotations

import argparse
import sys
import time

from fastapi.testclient import TestClient
from tests.booking.world import fast_settings, make_shop, register
from tests.support.servers import ClusterFactory, remove_tree, scratch_dir
from tests.support.servers import redis_server as start_redis

from chairside.api.app import create_app
from chairside.config import load_settings
from chairside.ops.database import migrations


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=200, help="examples per operation")
    args = parser.parse_args()
    from tests.api.test_schema_fuzz import fuzz_operations

    base = scratch_dir()  # reachable by the postgres user, unlike a 0700 temp dir
    factory = ClusterFactory(base / "clusters")
    try:
        cluster = factory.make("fuzz")
        cluster.create_database("fuzz")
        migrations.upgrade(url=cluster.url("fuzz"))
        with start_redis(base) as redis:
            settings = fast_settings(
                load_settings(
                    env="test",
                    home=base / "home",
                    database_url=cluster.url("fuzz"),
                    redis_url=redis.url if redis else None,
                    log_level="ERROR",
                )
            )
            app = create_app(settings)
            with TestClient(app, raise_server_exceptions=False) as client:
                shop = make_shop(client)
                callers = {
                    "anonymous": ({}, {}),
                    "client": (register(client).headers, {}),
                    "owner": (
                        shop.owner.headers,
                        {
                            "shop_id": shop.id,
                            "provider_id": shop.provider_id,
                            "service_id": shop.service_id,
                        },
                    ),
                }
                for name, (headers, values) in callers.items():
                    started = time.monotonic()
                    done = fuzz_operations(
                        client, headers=headers, path_values=values, examples=args.examples
                    )
                    answered = sum(sum(statuses.values()) for statuses in done.values())
                    print(
                        f"{name}: {len(done)} operations, {answered} requests "
                        f"({args.examples} examples per operation, valid and invalid mixed), "
                        f"{time.monotonic() - started:.1f} s, no failure"
                    )
    finally:
        factory.stop_all()
        remove_tree(base)
    return 0


if __name__ == "__main__":
    sys.exit(main())
