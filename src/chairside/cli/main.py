"""The ``chairside`` command: registers every command group, nothing else."""

from __future__ import annotations

import typer

from chairside.booking.cli import app as bookings_app
from chairside.ops.backup.cli import app as backup_app
from chairside.ops.backup.sync.cli import sync
from chairside.ops.backup.validation.cli import validate
from chairside.ops.backup.wal_cli import app as wal_app
from chairside.ops.database.cli import app as db_app
from chairside.ops.deploy.cli import app as deploy_app
from chairside.ops.deploy.cli import maintenance_mode
from chairside.ops.drill.cli import app as drill_app
from chairside.ops.health.cli import health
from chairside.ops.incidents.cli import app as incident_app
from chairside.ops.maintenance.cli import maintenance
from chairside.ops.monitoring.cli import alerts_app, monitoring_app
from chairside.ops.notify.cli import notify_app
from chairside.ops.restore.cli import app as restore_app
from chairside.ops.schedule.cli import app as schedule_app
from chairside.ops.security.cli import app as security_app
from chairside.runtime.cli import status, up
from chairside.runtime.lab.cli import app as lab_app

app = typer.Typer(
    name="chairside",
    help="Chairside: bookings for barbershops and salons, with the runbooks built in.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

app.command()(up)
app.command()(status)
app.command("maintenance-mode")(maintenance_mode)
app.command("maintenance")(maintenance)
app.add_typer(deploy_app, name="deploy")
app.add_typer(db_app, name="db")
# booking side:
app.add_typer(bookings_app, name="bookings")
# backups and restores:
app.add_typer(backup_app, name="backup")
app.add_typer(wal_app, name="wal")
backup_app.command("validate")(validate)
app.add_typer(restore_app, name="restore")
# disaster recovery:
backup_app.command("sync")(sync)
app.add_typer(drill_app, name="drill")
# health, metrics, alerts, notifications:
app.command()(health)
app.add_typer(monitoring_app, name="monitoring")
app.add_typer(alerts_app, name="alerts")
app.add_typer(notify_app, name="notify")
# security audit and breach containment:
app.add_typer(security_app, name="security")
# incident response:
app.add_typer(incident_app, name="incident")
# the runbooks' schedules:
app.add_typer(schedule_app, name="schedule")
# past one machine: the highly available topology, rehearsed locally:
app.add_typer(lab_app, name="lab")


def main() -> None:
    app()
