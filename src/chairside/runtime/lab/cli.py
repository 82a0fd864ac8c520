"""``chairside lab up|status|env|kill|start``: the highly available topology, rehearsed."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from chairside.checks import worst
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
from chairside.errors import GuardRefusedError, InputError, OperationFailedError
from chairside.ops.deploy.rolling import choose_hosts
from chairside.ops.deploy.service import DEPLOY_LOCK
from chairside.ops.locks import named_lock
from chairside.runtime.lab.control import kill_host, start_host
from chairside.runtime.lab.layout import LabLayout
from chairside.runtime.lab.process import Daemon
from chairside.runtime.lab.roll import roll_api_hosts
from chairside.runtime.lab.stack import LabStack
from chairside.runtime.serve import _raise_keyboard_interrupt_on_sigterm
from chairside.topology.file import load_resolved, load_topology, resolve_ports, save_resolved
from chairside.topology.model import Topology
from chairside.topology.status import topology_checks

app = typer.Typer(
    help="A highly available topology (Patroni, etcd, HAProxy, Sentinel, API hosts) on "
    "this machine, for rehearsal (docs/production.md).",
    no_args_is_help=True,
)

TopologyOption = Annotated[
    Path | None,
    typer.Option(
        "--topology",
        help="Topology YAML (default: the built-in lab.yaml). Used on the first start; "
        "later starts reuse the lab's resolved topology.json.",
    ),
]


@app.command("up")
def up(topology_file: TopologyOption = None, json_output: JsonOption = False) -> None:
    """Start every host of the topology; Ctrl-C stops all of it."""
    out = Output(json_mode=json_output)
    with guarded(out):
        layout = LabLayout.of(get_settings())
        _refuse_second_supervisor(layout)
        topology = _topology_for_start(layout, topology_file, out)
        stack = LabStack.build(topology, layout)
        stack.on_event = lambda message: out.info(f"lab: {message}")
        _raise_keyboard_interrupt_on_sigterm()
        stop = threading.Event()
        stack.record_state(ready=False)
        try:
            out.info(f"Starting the lab under {layout.root} (logs in {layout.log_dir}) ...")
            stack.start()
            stack.record_state(ready=True)
            out.result(_where(topology, layout, stack), lambda c: _render_where(c, topology, stack))
            stack.supervise(stop)
        except KeyboardInterrupt:
            pass
        finally:
            stop.set()
            out.info("Stopping the lab ...")
            stack.stop()
            layout.state_file.unlink(missing_ok=True)
        out.info("The lab is stopped.")


@app.command("status")
def status(json_output: JsonOption = False) -> None:
    """Each host: Patroni leader and replicas (lag), HAProxy backends, Sentinel, API hosts,
    and the backup repository (newest full backup, WAL archived from the nodes)."""
    out = Output(json_mode=json_output)
    with guarded(out, kind=CommandKind.CHECK):
        layout = LabLayout.of(get_settings())
        topology = load_resolved(layout.root)
        results = topology_checks(topology)
        if topology.s3 is not None:
            from chairside.ops.health.backups import check_backups
            from chairside.runtime.lab.archive import lab_settings

            results += check_backups(lab_settings(topology, layout, home=layout.root / "backup"))
        out.result(checks_payload(results), lambda c: render_checks(c, results, topology.name))
        out.exit_check(worst(r.status for r in results))


@app.command("env")
def env(json_output: JsonOption = False) -> None:
    """The settings that point `chairside` (or an app) at the running lab."""
    out = Output(json_mode=json_output)
    with guarded(out):
        layout = LabLayout.of(get_settings())
        variables = layout.client_environment(load_resolved(layout.root))

        def render(console: Console) -> None:
            for key, value in variables.items():
                console.print(f"export {key}='{value}'", markup=False, soft_wrap=True)

        out.result(variables, render)


@app.command("kill")
def kill(
    host: Annotated[str, typer.Argument(help="A host of the topology (pg1, redis1, api2 ...).")],
    json_output: JsonOption = False,
) -> None:
    """SIGKILL one host's processes (an outage) and keep it down until `lab start HOST`."""
    out = Output(json_mode=json_output)
    with guarded(out):
        layout = LabLayout.of(get_settings())
        pid = kill_host(layout, host)
        out.result({"host": host, "pid": pid}, lambda c: c.print(f"{host} (pid {pid}) killed"))


@app.command("start")
def start(
    host: Annotated[str, typer.Argument(help="A host taken down with `lab kill`.")],
    json_output: JsonOption = False,
) -> None:
    """Let the supervisor start a host again (it restarts it within a second)."""
    out = Output(json_mode=json_output)
    with guarded(out):
        layout = LabLayout.of(get_settings())
        if host not in set(load_resolved(layout.root).host_names()) | {"haproxy", "s3"}:
            raise InputError(f"no host {host!r} in the lab", field="host")
        start_host(layout, host)
        out.result({"host": host}, lambda c: c.print(f"{host} will be started by `lab up`"))


def _refuse_second_supervisor(layout: LabLayout) -> None:
    pid = layout.read_state().get("pid")
    if isinstance(pid, int) and Path(f"/proc/{pid}").exists():
        raise GuardRefusedError(
            f"a lab already runs under {layout.root} (pid {pid}); stop it with Ctrl-C first"
        )


def _topology_for_start(layout: LabLayout, path: Path | None, out: Output) -> Topology:
    if (layout.root / "topology.json").exists():
        if path is not None:
            out.info(f"reusing the lab's resolved topology in {layout.root}; {path} is ignored")
        topology = load_resolved(layout.root)
    else:
        topology = resolve_ports(load_topology(path))
    topology.haproxy.admin_socket = str(layout.haproxy_socket)
    save_resolved(topology, layout.root)
    return topology


def _where(topology: Topology, layout: LabLayout, stack: LabStack) -> dict[str, object]:
    hp = topology.haproxy
    return {
        "lab": str(layout.root),
        "topology": str(layout.root / "topology.json"),
        "api_url": f"http://{hp.host}:{hp.api_port}",
        "database_write": f"{hp.host}:{hp.db_write_port}",
        "database_read": f"{hp.host}:{hp.db_read_port}",
        "haproxy_stats": f"http://{hp.host}:{hp.stats_port}/",
        "redis_sentinels": topology.redis.sentinel_addresses,
        "s3": topology.s3.endpoint if topology.s3 else None,
        "hosts": [_host_line(d) for d in stack.daemons.values()],
    }


def _host_line(daemon: Daemon) -> dict[str, object]:
    return {"name": daemon.name, "role": daemon.role, "pid": daemon.pid}


def _render_where(console: Console, topology: Topology, stack: LabStack) -> None:
    hp = topology.haproxy
    console.print(f"[bold green]The lab is up[/] ({topology.name})")
    console.print(f"  API (HAProxy)      http://{hp.host}:{hp.api_port}")
    console.print(f"  database write     {hp.host}:{hp.db_write_port} (the Patroni leader)")
    console.print(
        f"  database read      {hp.host}:{hp.db_read_port} (replicas within the lag bound)"
    )
    console.print(f"  HAProxy stats      http://{hp.host}:{hp.stats_port}/")
    console.print(f"  Redis sentinels    {topology.redis.sentinel_addresses}")
    if topology.s3 is not None:
        console.print(f"  S3 backups         {topology.s3.endpoint}/{topology.s3.bucket}")
    for node in topology.postgres.nodes:
        console.print(
            f"  {node.name:<18} PostgreSQL {node.host}:{node.port}, Patroni {node.rest_url}"
        )
    for host in topology.api.hosts:
        console.print(f"  {host.name:<18} API {host.url}")
    console.print("`chairside lab status` shows every host; `chairside lab env` the settings.")
    console.print("Press Ctrl-C to stop everything.")


@app.command("roll")
def roll(
    hosts: Annotated[
        list[str] | None,
        typer.Option("--host", help="API hosts to roll, in order (default: all)."),
    ] = None,
    migrate: Annotated[
        bool, typer.Option("--migrate", help="Run migrations once, on the leader, first.")
    ] = False,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    json_output: JsonOption = False,
) -> None:
    """Restart the API hosts one at a time: drain in HAProxy, restart, verify, put back."""
    out = Output(json_mode=json_output)
    with guarded(out):
        layout = LabLayout.of(get_settings())
        topology = load_resolved(layout.root)
        chosen = choose_hosts(topology, hosts)
        names = [h.name for h in chosen]
        if dry_run:
            plan = {"dry_run": True, "hosts": names, "migrate": migrate}
            out.result(plan, lambda c: c.print(f"would roll {', '.join(names)} one at a time"))
            return
        confirm(out, f"Restart {', '.join(names)} one at a time?", yes=yes)
        with named_lock(layout.root.parent, DEPLOY_LOCK, purpose="lab roll"):
            rolled = roll_api_hosts(layout, topology, hosts=chosen, migrate=migrate, step=out.info)
        data = {"hosts": [r.to_dict() for r in rolled], "migrated": migrate}
        failed = [r for r in rolled if r.state != "rolled"]
        if failed:
            raise OperationFailedError(
                f"{failed[0].host}: {failed[0].error}; the roll stopped there"
                f" ({failed[0].host} is {failed[0].state})",
                details=data,
            )
        out.result(data, lambda c: c.print(f"rolled {', '.join(names)}; every host is back"))
