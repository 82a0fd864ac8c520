"""API hosts: ``chairside up`` on a port of its own, with a state directory of its own.

Each host reaches PostgreSQL through HAProxy (writes on the write port, lag-tolerant
reads on the read port) and Redis through Sentinel, exactly as a production host would.
Migrations run once, on the leader, before any host starts (``LabStack``).
"""

from __future__ import annotations

import sys

from chairside.runtime.lab.layout import LabLayout
from chairside.runtime.lab.process import Daemon
from chairside.runtime.osuser import OsUser
from chairside.topology.model import ApiHost, Topology


def api_daemon(topology: Topology, host: ApiHost, *, layout: LabLayout, user: OsUser) -> Daemon:
    home = layout.api_home(host.name)
    home.mkdir(parents=True, exist_ok=True)
    env = layout.client_environment(topology)
    env.update(
        {
            "CHAIRSIDE_HOME": str(home),
            "CHAIRSIDE_LOG_LEVEL": "WARNING",
            # A rehearsal drives load from a handful of accounts and one address.
            "CHAIRSIDE_RATE_LIMIT_BOOKINGS": "1000000",
            "CHAIRSIDE_RATE_LIMIT_REGISTER": "1000000",
            "CHAIRSIDE_RATE_LIMIT_LOGIN": "1000000",
            "CHAIRSIDE_SIMULATED_WEBHOOK_URL": (
                f"http://{topology.haproxy.host}:{topology.haproxy.api_port}"
                "/api/v1/webhooks/simulated"
            ),
        }
    )
    env.update(topology.api.environment)
    argv = [
        sys.executable, "-m", "chairside", "up",
        "--host", host.host,
        "--port", str(host.port),
        "--workers", str(host.workers),
    ]  # fmt: skip
    return Daemon(
        name=host.name,
        role="api",
        argv=argv,
        log_file=layout.log_file(host.name),
        user=user,
        env=env,
    )


def ready_path() -> str:
    """The readiness route HAProxy checks: ``/health/ready`` (this host can serve: its
    database path works, it has room, it is not in maintenance), or ``/health`` in a build
    that has no readiness route yet."""
    from chairside.ops.health.router import router

    paths = {getattr(route, "path", "") for route in router.routes}
    return "/health/ready" if "/health/ready" in paths else "/health"
