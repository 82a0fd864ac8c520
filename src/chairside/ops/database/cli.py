"""``chairside db``: migrations of the application database, and what it is doing now
(connections, long-running and slow queries, dead rows), with the one remedy that
cannot wait: stopping runaway queries."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from chairside.checks import CheckResult, worst
from chairside.cli.output import (
    CommandKind,
    DryRunOption,
    JsonOption,
    Output,
    YesOption,
    checks_payload,
    confirm,
    guarded,
    render_checks,
)
from chairside.config import get_settings
from chairside.db import database_url
from chairside.durations import parse_duration
from chairside.ops.database import activity, by_node, migrations, statistics
from chairside.ops.database.connection import app_database
from chairside.ops.database.nodes import has_topology, settings_for_node
from chairside.ops.timeline.store import open_ops_store

app = typer.Typer(
    help="The application database: migrations, connections, slow and long-running queries.",
    no_args_is_help=True,
)

T = TypeVar("T")

OlderThanOption = Annotated[
    str, typer.Option("--older-than", help="Busy for longer than this: 90s, 10m, 2h.")
]


@app.command()
def migrate(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
    json_output: JsonOption = False,
) -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    out = Output(json_mode=json_output)
    with guarded(out):
        settings = get_settings()
        before, after = migrations.upgrade(url=database_url(settings), revision=revision)
        if before != after:
            open_ops_store(settings).record(
                "db.migrate",
                f"migrated {before or 'empty'} -> {after}",
                details={"before": before, "after": after},
            )
        out.result(
            {"before": before, "after": after, "changed": before != after},
            lambda c: c.print(
                f"migrated {before or 'empty'} -> {after}"
                if before != after
                else f"already at {after}"
            ),
        )


@app.command()
def current(json_output: JsonOption = False) -> None:
    """Show the revision the database is at and the newest one the code knows."""
    out = Output(json_mode=json_output)
    with guarded(out):
        now = migrations.current_revision(url=database_url(get_settings()))
        head = migrations.head_revision()
        out.result(
            {"current": now, "head": head, "up_to_date": now == head},
            lambda c: c.print(
                f"current {now or 'none'}, head {head}"
                + ("" if now == head else "  (run `chairside db migrate`)")
            ),
        )


@app.command()
def history(json_output: JsonOption = False) -> None:
    """List every migration, oldest first, marking the applied ones."""
    out = Output(json_mode=json_output)
    with guarded(out):
        revisions = migrations.history(url=database_url(get_settings()))

        def render(console: Console) -> None:
            table = Table("revision", "applied", "description")
            for r in revisions:
                table.add_row(r.revision, "yes" if r.applied else "no", r.message)
            console.print(table)

        out.result({"revisions": [vars(r) for r in revisions]}, render)


@app.command()
def connections(json_output: JsonOption = False) -> None:
    """Connections in use against max_connections, by state and application (check)."""
    out = Output(json_mode=json_output)
    settings = get_settings()
    if has_topology(settings):
        with guarded(out, CommandKind.CHECK):
            found = by_node.connections_by_node(settings)
        _finish_by_node(out, found, "Connections", _render_usage)
        return
    with guarded(out, CommandKind.CHECK), app_database(settings) as conn:
        usage = activity.connection_usage(conn)
    result = usage.check()

    def render(console: Console) -> None:
        render_checks(console, [result], "Connections")
        _render_usage(console, usage)

    _finish_check(out, [result], render, usage.to_dict())


@app.command("long-running")
def long_running(older_than: OlderThanOption = "10m", json_output: JsonOption = False) -> None:
    """Queries (and open transactions) busy longer than --older-than; warning if any (check)."""
    out = Output(json_mode=json_output)
    settings = get_settings()
    if has_topology(settings):
        with guarded(out, CommandKind.CHECK):
            on_nodes = by_node.long_running_by_node(settings, older_than=_age(older_than))
        _finish_by_node(out, on_nodes, "Long-running", _print_queries)
        return
    with guarded(out, CommandKind.CHECK):
        age = _age(older_than)
        with app_database(settings) as conn:
            found = activity.long_running(conn, older_than=age)
    result = activity.long_running_check(found, older_than=age)

    def render(console: Console) -> None:
        render_checks(console, [result], "Long-running")
        _print_queries(console, found)

    _finish_check(out, [result], render, {"queries": [q.to_dict() for q in found]})


@app.command("kill-long-running")
def kill_long_running(
    older_than: OlderThanOption = "10m",
    cancel: Annotated[
        bool,
        typer.Option(
            "--cancel", help="Cancel the statement but keep the session (default: end it)."
        ),
    ] = False,
    include_backups: Annotated[
        bool, typer.Option("--include-backups", help="Also stop pg_dump and its kin.")
    ] = False,
    node: Annotated[
        str | None,
        typer.Option(
            "--node", help="A PostgreSQL node of CHAIRSIDE_TOPOLOGY (default: DATABASE_URL)."
        ),
    ] = None,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    json_output: JsonOption = False,
) -> None:
    """Stop the queries busy longer than --older-than (asks first; records an ops event)."""
    out = Output(json_mode=json_output)

    def ask(plan: activity.KillReport) -> None:
        _print_queries(out.err, plan.targets)
        confirm(out, f"{plan.describe()}?", yes=yes)

    with guarded(out):
        settings = get_settings()
        report = activity.kill_long_running(
            settings if node is None else settings_for_node(settings, node),
            older_than=_age(older_than),
            mode=activity.StopMode.CANCEL if cancel else activity.StopMode.TERMINATE,
            include_protected=include_backups,
            dry_run=dry_run,
            confirm=ask,
        )

    def render(console: Console) -> None:
        if report.dry_run:
            console.print(f"would {report.describe()}")
            _print_queries(console, report.targets)
        else:
            console.print(
                f"{report.describe()}: stopped {report.stopped or 'none'}"
                + (f", already gone {report.gone}" if report.gone else "")
            )
        if report.protected:
            pids = [q.pid for q in report.protected]
            console.print(f"left alone (backups; --include-backups to stop them): {pids}")

    out.result(report.to_dict(), render)


@app.command("slow-queries")
def slow_queries(
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many statements.")] = 10,
    by: Annotated[
        statistics.SlowOrder, typer.Option("--by", help="Rank by mean, total time or calls.")
    ] = statistics.SlowOrder.MEAN,
    threshold_ms: Annotated[
        float, typer.Option("--threshold-ms", min=0, help="Warn when a mean exceeds this.")
    ] = statistics.SLOW_MEAN_MS,
    json_output: JsonOption = False,
) -> None:
    """The slowest statements from pg_stat_statements; warning over --threshold-ms (check)."""
    out = Output(json_mode=json_output)
    with guarded(out, CommandKind.CHECK), app_database(get_settings()) as conn:
        found = statistics.slow_queries(conn, limit=limit, order=by, threshold_ms=threshold_ms)
    result = found.check()

    def render(console: Console) -> None:
        render_checks(console, [result], "Slow queries")
        table = Table("mean ms", "max ms", "calls", "share", "query")
        for s in found.statements:
            table.add_row(
                f"{s.mean_ms:.1f}",
                f"{s.max_ms:.1f}",
                str(s.calls),
                f"{s.share_of_time:.0%}",
                " ".join(s.query.split())[:160],
            )
        console.print(table)

    _finish_check(out, [result], render, found.to_dict())


@app.command()
def bloat(json_output: JsonOption = False) -> None:
    """Dead rows per table, transaction-ID age, invalid and unused indexes (check)."""
    out = Output(json_mode=json_output)
    settings = get_settings()
    if has_topology(settings):
        with guarded(out, CommandKind.CHECK):
            on_nodes = by_node.health_by_node(settings)
        _finish_by_node(out, on_nodes, "Database", _render_health)
        return
    with guarded(out, CommandKind.CHECK), app_database(settings) as conn:
        health = statistics.database_health(conn)
    results = health.checks()

    def render(console: Console) -> None:
        render_checks(console, results, f"Database {health.database}")
        _render_health(console, health)

    _finish_check(out, results, render, health.to_dict())


def _render_health(console: Console, health: statistics.DatabaseHealth) -> None:
    table = Table("table", "live", "dead", "dead %", "last vacuum", "last analyze")
    for t in health.tables[:15]:
        table.add_row(
            t.name,
            str(t.live_rows),
            str(t.dead_rows),
            f"{t.dead_fraction:.0%}",
            _when(t.last_vacuum),
            _when(t.last_analyze),
        )
    console.print(table)
    for index in health.unused_indexes:
        console.print(f"never scanned: {index.name} on {index.table} ({index.size_bytes} B)")


def _render_usage(console: Console, usage: activity.ConnectionUsage) -> None:
    _print_counts(console, "by state", usage.by_state)
    _print_counts(console, "by application", usage.by_application)
    if usage.oldest_idle_in_transaction_seconds is not None:
        console.print(
            f"oldest idle-in-transaction: {usage.oldest_idle_in_transaction_seconds:.0f} s"
        )


def _finish_by_node(
    out: Output,
    found: by_node.ByNode[T],
    title: str,
    render_figures: Callable[[Console, T], None],
) -> None:
    """Each node's checks and figures under a heading of its own (name, role, lag)."""

    def render(console: Console) -> None:
        render_checks(console, found.results, f"{title}, each node")
        for reading in found.readings:
            if reading.value is None:
                continue
            lag = ""
            if reading.role != "leader":
                lag = f", replay lag {reading.lag_seconds or 0:.1f} s"
            console.print(f"[bold]{reading.node}[/] ({reading.address}, {reading.role}{lag})")
            render_figures(console, reading.value)

    _finish_check(out, found.results, render, found.to_dict())


def _age(raw: str) -> timedelta:
    return parse_duration(raw, maximum=timedelta(days=7), field="--older-than")


def _finish_check(
    out: Output,
    results: list[CheckResult],
    render: Callable[[Console], None],
    data: dict[str, Any],
) -> None:
    out.result({**checks_payload(results), **data}, render)
    out.exit_check(worst(r.status for r in results))


def _print_counts(console: Console, title: str, counts: dict[str, int]) -> None:
    console.print(f"{title}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


def _print_queries(console: Console, queries: list[activity.LongQuery]) -> None:
    if not queries:
        return
    table = Table("pid", "age s", "state", "application", "wait", "query")
    for q in queries:
        table.add_row(
            str(q.pid),
            f"{q.age_seconds:.0f}",
            q.state,
            q.application + (" (protected)" if q.protected else ""),
            q.wait or "",
            " ".join(q.query.split())[:120],
        )
    console.print(table)


def _when(value: object) -> str:
    return "never" if value is None else str(value)[:19]
