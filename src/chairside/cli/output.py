"""How every command speaks: a Rich rendering on a terminal, JSON with ``--json``, and the
exit codes of DESIGN.md, implemented here once.

Check-type commands (health, status, audit, validate) exit by :class:`CheckStatus`::

    0 ok   1 warning   2 critical   3 unknown

Action commands exit by :class:`ActionExit`::

    0 done   1 failed   2 bad usage or input   3 refused by a safety guard

Errors are :class:`~chairside.errors.ChairsideError`; :func:`guarded` prints them (as
``{"error": {...}}`` with ``--json``) and exits with the code their class maps to.
"""

from __future__ import annotations

import enum
import json
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from chairside import errors
from chairside.checks import CheckResult, CheckStatus, worst

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print JSON with the fields documented in docs/cli.md.")
]
YesOption = Annotated[
    bool, typer.Option("--yes", "-y", help="Do it without asking (needed when not on a terminal).")
]
ReportFormatOption = Annotated[
    Literal["markdown", "json"], typer.Option("--format", help="markdown or json.")
]
ReportOutputOption = Annotated[
    Path | None, typer.Option("--output", help="Also write the report to this file.")
]
DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="Show what would happen and change nothing.")
]


class ActionExit(enum.IntEnum):
    DONE = 0
    FAILED = 1
    BAD_INPUT = 2
    REFUSED = 3


CHECK_EXIT: Mapping[CheckStatus, int] = {
    CheckStatus.OK: 0,
    CheckStatus.WARNING: 1,
    CheckStatus.CRITICAL: 2,
    CheckStatus.UNKNOWN: 3,
}


class CommandKind(enum.Enum):
    ACTION = "action"
    CHECK = "check"


def exit_code_for(error: errors.ChairsideError, kind: CommandKind) -> int:
    """The exit code a failed command ends with."""
    if kind is CommandKind.CHECK:
        # A check that could not run cannot say ok or not: unknown.
        return CHECK_EXIT[CheckStatus.UNKNOWN]
    if isinstance(error, errors.GuardRefusedError):
        return ActionExit.REFUSED
    if isinstance(error, errors.InputError | errors.ConfigError):
        return ActionExit.BAD_INPUT
    return ActionExit.FAILED


class Output:
    """The voice of one command run: human or JSON, never both on stdout."""

    def __init__(self, *, json_mode: bool) -> None:
        self.json_mode = json_mode
        self.console = Console(highlight=False)
        self.err = Console(stderr=True, highlight=False)

    @property
    def interactive(self) -> bool:
        """True on a terminal without --json: progress bars and questions are allowed."""
        return not self.json_mode and sys.stdin.isatty() and sys.stdout.isatty()

    def result(self, data: Mapping[str, Any], render: Callable[[Console], None]) -> None:
        """Print the command's result: ``data`` as JSON, or ``render`` for people."""
        if self.json_mode:
            sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
            sys.stdout.flush()
        else:
            render(self.console)

    def info(self, message: str) -> None:
        """A progress note for people; silent with --json."""
        if not self.json_mode:
            self.err.print(message)

    def error(self, error: errors.ChairsideError) -> None:
        if self.json_mode:
            body: dict[str, Any] = {"type": type(error).__name__, "message": error.message}
            if isinstance(error, errors.InputError) and error.field:
                body["field"] = error.field
            if error.details:
                body["details"] = error.details
            sys.stdout.write(json.dumps({"error": body}, indent=2, default=str) + "\n")
        else:
            self.err.print(f"[bold red]error:[/] {error.message}", markup=True)

    def exit_check(self, status: CheckStatus) -> NoReturn:
        raise typer.Exit(CHECK_EXIT[status])


@contextmanager
def guarded(out: Output, kind: CommandKind = CommandKind.ACTION) -> Iterator[None]:
    """Turn Chairside errors into a printed message and the right exit code."""
    try:
        yield
    except errors.ChairsideError as exc:
        out.error(exc)
        raise typer.Exit(exit_code_for(exc, kind)) from None


def confirm(out: Output, question: str, *, yes: bool) -> None:
    """Ask on a terminal; without one, ``--yes`` is required. Refusal exits 3."""
    if yes:
        return
    if not out.interactive:
        raise errors.GuardRefusedError(f"{question} Refusing without --yes (not on a terminal).")
    if not typer.confirm(question, default=False):
        raise errors.GuardRefusedError("cancelled at the prompt; nothing was changed")


def status_style(status: CheckStatus) -> str:
    return {
        CheckStatus.OK: "green",
        CheckStatus.WARNING: "yellow",
        CheckStatus.CRITICAL: "bold red",
        CheckStatus.UNKNOWN: "magenta",
    }[status]


def render_checks(console: Console, results: Sequence[CheckResult], title: str) -> None:
    """The standard table of check results used by every check-type command."""
    table = Table(title=title, title_justify="left")
    table.add_column("check")
    table.add_column("status")
    table.add_column("summary")
    table.add_column("ms", justify="right")
    for result in results:
        latency = "" if result.latency_ms is None else f"{result.latency_ms:.1f}"
        style = status_style(result.status)
        table.add_row(result.name, f"[{style}]{result.status.value}[/]", result.summary, latency)
    console.print(table)


def checks_payload(results: Sequence[CheckResult]) -> dict[str, Any]:
    """The JSON shape of every check-type command: overall status plus each check."""
    return {
        "status": worst(r.status for r in results).value,
        "checks": [r.to_dict() for r in results],
    }


def add_id_column(table: Table, header: str, ids: Sequence[str]) -> None:
    """A column of identifiers an operator copies (backup, silence ids): never cut.

    At 80 columns Rich shrinks every column and ends each cut cell with an ellipsis;
    an id column keeps its full width and the other columns (added with
    ``overflow="fold"``) wrap instead.
    """
    width = max([len(header), *(len(i) for i in ids)])
    table.add_column(header, no_wrap=True, min_width=width)
