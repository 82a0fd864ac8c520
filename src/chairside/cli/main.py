"""The ``chairside`` command: registers every command group, nothing else.

Groups are registered by name, import path and one-line help, and imported only when
they run (:mod:`chairside.cli.lazy`), so ``chairside --help`` and a quick check such as
``chairside backup status --json`` do not pay for importing every service.
"""

from __future__ import annotations

import typer

from chairside.cli.lazy import LazyCommand, LazyGroup

COMMANDS = (
    LazyCommand(
        "up",
        "chairside.runtime.cli:up",
        "Run Chairside: embedded PostgreSQL and Redis, migrations, the API. Ctrl-C stops all.",
    ),
    LazyCommand(
        "status",
        "chairside.runtime.cli:status",
        "Show each component and its state. Exit 0 ok, 1 warning, 2 critical, 3 unknown.",
    ),
    LazyCommand(
        "maintenance-mode",
        "chairside.ops.deploy.cli:maintenance_mode",
        (
            "Answer 503 with Retry-After (maintenance) or refuse writes (--read-only); "
            "off clears both."
        ),
    ),
    LazyCommand(
        "maintenance",
        "chairside.ops.maintenance.cli:maintenance",
        "Vacuum, reindex, rotate logs, clear leftovers, review (exit 0 ok, 1 warn, 2 crit).",
    ),
    LazyCommand(
        "health",
        "chairside.ops.health.cli:health",
        "Is it healthy, and does a booking still go through? Exit 0 ok, 1 warn, 2 crit, 3 unknown.",
    ),
    LazyCommand(
        "deploy",
        "chairside.ops.deploy.cli:app",
        "Deployments: guard, start (backup + maintenance mode), finish, verify, rollback;"
        " roll across the API hosts of a topology.",
    ),
    LazyCommand(
        "db",
        "chairside.ops.database.cli:app",
        "The application database: migrations, connections, slow and long-running queries.",
    ),
    # booking side:
    LazyCommand(
        "bookings",
        "chairside.booking.cli:app",
        "Booking-side operations: expire run-out holds, check the invariant.",
    ),
    LazyCommand(
        "reminders",
        "chairside.reminders.cli:app",
        "Booking reminders: deliver the due ones, report on delivery.",
    ),
    LazyCommand(
        "privacy",
        "chairside.privacy.cli:app",
        "Data rights: export or anonymise a client's data; retention of inactive clients.",
    ),
    # backups and restores (validate and sync are commands of the backup group):
    LazyCommand(
        "backup",
        "chairside.ops.backup.cli:app",
        "Take, list, check and prune backups.",
        extra={
            "validate": "chairside.ops.backup.validation.cli:validate",
            "sync": "chairside.ops.backup.sync.cli:sync",
        },
    ),
    LazyCommand(
        "wal",
        "chairside.ops.backup.wal_cli:app",
        "Archive and fetch WAL (PostgreSQL calls these), or stream it with pg_receivewal.",
    ),
    LazyCommand(
        "restore",
        "chairside.ops.restore.cli:app",
        "Restore the database: a full backup, a point in time, or interactively.",
    ),
    # disaster recovery:
    LazyCommand(
        "drill",
        "chairside.ops.drill.cli:app",
        "Disaster-recovery drills: restore to a scratch cluster, check, measure RTO/RPO.",
    ),
    # health, metrics, alerts, notifications:
    LazyCommand(
        "monitoring",
        "chairside.ops.monitoring.cli:monitoring_app",
        "Prometheus, Alertmanager and Grafana configuration.",
    ),
    LazyCommand(
        "alerts", "chairside.ops.monitoring.cli:alerts_app", "Alerts and silences in Alertmanager."
    ),
    LazyCommand(
        "notify", "chairside.ops.notify.cli:notify_app", "Notifications through apprise URLs."
    ),
    # security audit and breach containment:
    LazyCommand(
        "security",
        "chairside.ops.security.cli:app",
        "Security audit and breach containment (log everyone out, rotate the secret).",
    ),
    # incident response:
    LazyCommand(
        "incident",
        "chairside.ops.incidents.cli:app",
        "Incident response: open, acknowledge, note, resolve, report.",
    ),
    # what happened, for forensics:
    LazyCommand(
        "timeline",
        "chairside.ops.timeline.cli:timeline",
        "Ops events, oldest first: who did what to the service, and what the schedule did.",
    ),
    # the runbooks' schedules:
    LazyCommand(
        "schedule",
        "chairside.ops.schedule.cli:app",
        "The ops schedule: list the jobs, run them as leader, export for cron.",
    ),
    # the ops console (break-glass access):
    LazyCommand(
        "ops",
        "chairside.web.cli:app",
        "The ops console (/ops): access while logins cannot work.",
    ),
    # past one machine: the production topology's units and configuration:
    LazyCommand(
        "topology",
        "chairside.topology.cli:app",
        "The production topology: export each host's systemd units and configuration.",
    ),
    # past one machine: the highly available topology, rehearsed locally:
    LazyCommand(
        "lab",
        "chairside.runtime.lab.cli:app",
        (
            "A highly available topology (Patroni, etcd, HAProxy, Sentinel, API hosts) on "
            "this machine, for rehearsal (docs/production.md)."
        ),
    ),
)

app = typer.Typer(
    name="chairside",
    help="Chairside: bookings for barbershops and salons, with the runbooks built in.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=LazyGroup.of(COMMANDS),
)


@app.callback()
def _root() -> None:
    """Chairside: bookings for barbershops and salons, with the runbooks built in."""


def main() -> None:
    app()
