"""``chairside security``: the audit (a check: exit 0/1/2/3) and breach containment
(actions: revoke-sessions, rotate-secret)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from chairside.cli.output import (
    CommandKind,
    DryRunOption,
    JsonOption,
    Output,
    YesOption,
    confirm,
    guarded,
    render_checks,
)
from chairside.config import get_settings
from chairside.ops.security.audit import AuditArea, SecurityAudit, run_audit, write_report
from chairside.ops.security.pip_audit_source import PipAuditSource
from chairside.ops.security.secret import RotationReport, rotate_secret
from chairside.ops.security.sessions import RevokePlan, RevokeReport, revoke_sessions

app = typer.Typer(
    help="Security audit and breach containment (log everyone out, rotate the secret).",
    no_args_is_help=True,
)


@app.command()
def audit(
    area: Annotated[
        AuditArea, typer.Argument(help="Which area to audit (default: all of them).")
    ] = AuditArea.FULL,
    output: Annotated[
        Path | None, typer.Option("--output", help="Also write the JSON report to this file.")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Audit configuration, permissions, network, TLS, dependencies, compliance (check)."""
    out = Output(json_mode=json_output)
    with guarded(out, CommandKind.CHECK):
        settings = get_settings()
        report = run_audit(settings, area=area, vulnerabilities=PipAuditSource())
        if output is not None:
            write_report(report, output)
        out.result(report.to_dict(), lambda console: _render_audit(console, report))
    out.exit_check(report.status)


@app.command("revoke-sessions")
def revoke_sessions_command(
    user: Annotated[
        str | None, typer.Option("--user", help="E-mail of the one account to log out.")
    ] = None,
    everyone: Annotated[bool, typer.Option("--all", help="Log out every account.")] = False,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    json_output: JsonOption = False,
) -> None:
    """Log out everywhere: every token issued so far to the account (or all) is refused."""
    out = Output(json_mode=json_output)

    def ask(plan: RevokePlan) -> None:
        confirm(out, f"{plan.describe()}?", yes=yes)

    with guarded(out):
        report = revoke_sessions(
            get_settings(), email=user, everyone=everyone, dry_run=dry_run, confirm=ask
        )
    out.result(report.to_dict(), lambda console: _render_revoke(console, report))


@app.command("rotate-secret")
def rotate_secret_command(
    dry_run: DryRunOption = False, yes: YesOption = False, json_output: JsonOption = False
) -> None:
    """Write a new token-signing secret: every existing token becomes invalid."""
    out = Output(json_mode=json_output)

    def ask(path: Path) -> None:
        confirm(out, f"replace the signing secret in {path}, logging every user out?", yes=yes)

    with guarded(out):
        report = rotate_secret(get_settings(), dry_run=dry_run, confirm=ask)
    out.result(report.to_dict(), lambda console: _render_rotation(console, report))


def _render_audit(console: Console, report: SecurityAudit) -> None:
    for area in report.areas:
        render_checks(console, area.results, f"security: {area.area.value}")
    console.print(f"overall: {report.status.value}")


def _render_revoke(console: Console, report: RevokeReport) -> None:
    if report.dry_run:
        console.print(f"would {report.plan.describe()}:")
    else:
        console.print(
            f"logged out {len(report.plan.accounts)} account(s) everywhere "
            f"({report.plan.scope}); tokens issued up to {report.tokens_valid_after} are refused"
        )
    for _, email in report.plan.accounts[:20]:
        console.print(f"  {email}")
    if len(report.plan.accounts) > 20:
        console.print(f"  … and {len(report.plan.accounts) - 20} more")


def _render_rotation(console: Console, report: RotationReport) -> None:
    verb = "would replace" if report.dry_run else "replaced"
    console.print(f"{verb} the signing secret in {report.path}")
    console.print("next:")
    for step in report.next_steps:
        console.print(f"  - {step}")
