"""``chairside drill failover``: kill the database leader of the lab under load, measure."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markdown import Markdown

from chairside.cli.output import (
    ActionExit,
    DryRunOption,
    JsonOption,
    Output,
    YesOption,
    confirm,
    guarded,
)
from chairside.config import get_settings
from chairside.ops.drill.failover import plan_failover, render_failover_markdown, run_failover_drill
from chairside.ops.locks import named_lock


def failover(
    warmup: Annotated[
        float, typer.Option(help="Seconds of booking load before the kill.", min=0, max=600)
    ] = 3.0,
    clients: Annotated[int, typer.Option(help="Concurrent booking clients.", min=1, max=64)] = 4,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    json_output: JsonOption = False,
) -> None:
    """Kill the lab's database leader under a booking load; measure the failover, count
    lost and double bookings, check the old leader rejoins. Exit 1 if it failed."""
    out = Output(json_mode=json_output)
    with guarded(out):
        settings = get_settings()
        topology, view = plan_failover(settings)
        leader = view.leader
        assert leader is not None
        if dry_run:
            plan = {
                "dry_run": True,
                "would_kill": leader.name,
                "replicas": [m.name for m in view.replicas],
                "failover_target_seconds": topology.postgres.failover_budget_seconds,
            }
            out.result(plan, lambda c: c.print(f"would kill the leader {leader.name}"))
            return
        confirm(out, f"Kill the database leader {leader.name} of the lab?", yes=yes)
        with named_lock(settings.home, "drill-failover", purpose="failover drill"):
            result = run_failover_drill(
                settings, warmup_seconds=warmup, clients=clients, step=out.info
            )
        data = result.to_dict()
        out.result(data, lambda c: c.print(Markdown(render_failover_markdown(data))))
        if not result.passed:
            raise typer.Exit(ActionExit.FAILED)
