"""``chairside topology export``: the topology's hosts as systemd units and configuration
files for production (docs/production.md).

A command of its own, not under ``lab``: ``lab`` rehearses the topology on this machine,
``topology`` is about the real machines, which only share the file and the render
functions with the lab.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.table import Table

from chairside.cli.output import JsonOption, Output, guarded
from chairside.config import get_settings
from chairside.errors import InputError
from chairside.topology.export import (
    Binaries,
    ExportedFile,
    deployment_secrets,
    export_topology,
    write_export,
)
from chairside.topology.file import load_topology

app = typer.Typer(
    help="The production topology: export each host's systemd units and configuration.",
    no_args_is_help=True,
)


@app.command("export")
def export(
    out_dir: Annotated[
        Path, typer.Option("--out", help="Directory to write OUT/<host>/etc/... into.")
    ],
    output_format: Annotated[
        Literal["systemd"], typer.Option("--format", help="systemd (units and their files).")
    ] = "systemd",
    topology_file: Annotated[
        Path | None,
        typer.Option(
            "--topology",
            help="Topology file with every port given (default: CHAIRSIDE_TOPOLOGY).",
        ),
    ] = None,
    chairside: Annotated[
        str, typer.Option(help="The chairside executable on the API hosts.")
    ] = Binaries.chairside,
    pg_bin_dir: Annotated[
        str, typer.Option(help="PostgreSQL's bin directory on the database hosts.")
    ] = Binaries.pg_bin_dir,
    json_output: JsonOption = False,
) -> None:
    """Write every host's units and configuration, rendered as the lab renders them."""
    out = Output(json_mode=json_output)
    with guarded(out):
        settings = get_settings()
        path = topology_file or settings.topology
        if path is None:
            raise InputError(
                "no topology: give --topology FILE or set CHAIRSIDE_TOPOLOGY", field="topology"
            )
        if out_dir.exists() and not out_dir.is_dir():
            raise InputError(f"--out {out_dir} is a file; give a directory", field="out")
        topology = load_topology(path)
        keys = deployment_secrets(out_dir / "secrets.json")
        files = export_topology(
            topology,
            settings=settings,
            keys=keys,
            binaries=Binaries(chairside=chairside, pg_bin_dir=pg_bin_dir),
        )
        written = write_export(files, out_dir)
        data = {
            "format": output_format,
            "out": str(out_dir),
            "secrets": str(out_dir / "secrets.json"),
            "files": [
                {"host": f.host, "path": str(f.path), "written": str(w), "mode": oct(f.mode)}
                for f, w in zip(files, written, strict=True)
            ],
        }
        out.result(data, lambda console: _render(console, files, out_dir))


def _render(console: Console, files: list[ExportedFile], out_dir: Path) -> None:
    table = Table("host", "installed at", "mode")
    for item in files:
        table.add_row(item.host, str(item.path), oct(item.mode))
    console.print(table)
    console.print(
        f"Copy each host's tree to its machine (rsync -a {out_dir}/<host>/ root@<host>:/), "
        f"then `systemctl daemon-reload` and enable the units. Keep {out_dir}/secrets.json "
        "secret: it holds the database passwords and the JWT secret."
    )
