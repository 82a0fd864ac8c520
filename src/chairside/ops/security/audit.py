"""``security audit``: run one area's checks, or all of them.

A check that raises a Chairside error (a server down, a setting it cannot parse) becomes
one UNKNOWN result named after its area, so the other areas still answer.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chairside.checks import CheckResult, CheckStatus, worst
from chairside.config import Settings
from chairside.errors import ChairsideError
from chairside.ops.security.certificates import check_certificates
from chairside.ops.security.compliance import check_compliance
from chairside.ops.security.configuration import check_config
from chairside.ops.security.dependencies import VulnerabilitySource, check_dependencies
from chairside.ops.security.network import check_network
from chairside.ops.security.permissions import check_permissions
from chairside.ops.timeline.store import open_ops_store


class AuditArea(enum.StrEnum):
    FULL = "full"
    SSL = "ssl"
    PERMISSIONS = "permissions"
    NETWORK = "network"
    DEPENDENCIES = "dependencies"
    CONFIG = "config"
    COMPLIANCE = "compliance"


@dataclass(frozen=True)
class AreaResults:
    """The checks of one audited area."""

    area: AuditArea
    results: list[CheckResult]

    @property
    def status(self) -> CheckStatus:
        return worst(r.status for r in self.results)


@dataclass(frozen=True)
class SecurityAudit:
    """What ``security audit`` found, area by area."""

    at: datetime
    areas: list[AreaResults]

    @property
    def results(self) -> list[CheckResult]:
        return [r for area in self.areas for r in area.results]

    @property
    def status(self) -> CheckStatus:
        return worst(a.status for a in self.areas)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "at": self.at.isoformat(),
            "areas": {a.area.value: a.status.value for a in self.areas},
            "checks": [
                {"area": a.area.value, **r.to_dict()} for a in self.areas for r in a.results
            ],
        }


def run_audit(
    settings: Settings, *, area: AuditArea, vulnerabilities: VulnerabilitySource
) -> SecurityAudit:
    """Audit ``area`` (every area for FULL)."""
    checks: dict[AuditArea, Callable[[], list[CheckResult]]] = {
        AuditArea.CONFIG: lambda: check_config(settings),
        AuditArea.PERMISSIONS: lambda: check_permissions(settings),
        AuditArea.NETWORK: lambda: check_network(settings),
        AuditArea.SSL: lambda: check_certificates(settings),
        AuditArea.DEPENDENCIES: lambda: [check_dependencies(vulnerabilities)],
        AuditArea.COMPLIANCE: lambda: check_compliance(settings),
    }
    chosen = list(checks) if area is AuditArea.FULL else [area]
    audit = SecurityAudit(
        at=datetime.now(UTC), areas=[_run_area(name, checks[name]) for name in chosen]
    )
    _record(settings, area, audit)
    return audit


def _record(settings: Settings, area: AuditArea, audit: SecurityAudit) -> None:
    """The audit on the timeline: when it ran, by whom, and what it found (not the details)."""
    findings = [r for r in audit.results if r.status is not CheckStatus.OK]
    summary = f"security audit {area.value}: {audit.status.value}"
    if findings:
        summary += f" ({len(findings)} finding(s): {', '.join(r.name for r in findings[:5])})"
    open_ops_store(settings).record(
        "security.audit",
        summary,
        status=audit.status.value,
        details={"area": area.value, "areas": audit.to_dict()["areas"]},
    )


def write_report(audit: SecurityAudit, path: Path) -> None:
    """Write the audit's JSON to ``path`` (atomically: a reader never sees half a report)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.touch(mode=0o600)  # a list of weaknesses is for operators only
    tmp.write_text(json.dumps(audit.to_dict(), indent=2, default=str) + "\n")
    tmp.replace(path)


def _run_area(area: AuditArea, run: Callable[[], list[CheckResult]]) -> AreaResults:
    try:
        return AreaResults(area, run())
    except ChairsideError as exc:
        return AreaResults(area, [CheckResult(area.value, CheckStatus.UNKNOWN, exc.message)])
