"""pip-audit as a :class:`~chairside.ops.security.dependencies.VulnerabilitySource`.

pip-audit runs as a child process of this interpreter (``python -m pip_audit``), so it
audits the environment Chairside is installed in; its JSON output is the stable contract
(its Python API is not). It asks PyPI's vulnerability data over the network: offline, it
either fails or skips every distribution, and both come back as "could not audit".
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from chairside.ops.security.dependencies import (
    AuditedDistribution,
    DependencyAudit,
    Vulnerability,
)


class PipAuditSource:
    """Runs ``pip-audit --format json`` on the running environment."""

    name = "pip-audit"

    def __init__(self, *, timeout_seconds: float = 300.0, python: str = sys.executable) -> None:
        self.timeout_seconds = timeout_seconds
        self.python = python

    def audit(self) -> DependencyAudit:
        """The parsed pip-audit report, or an error naming why there is none."""
        argv = [self.python, "-m", "pip_audit", "--format", "json", "--progress-spinner", "off"]
        argv += ["--local", "--skip-editable"]
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=self.timeout_seconds, check=False
            )
        except subprocess.TimeoutExpired:
            return DependencyAudit(
                error=f"pip-audit did not finish within {self.timeout_seconds:g} s",
                source=self.name,
            )
        # Exit 1 means "vulnerabilities found" and still prints the report.
        if done.returncode not in (0, 1) or not done.stdout.strip():
            tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
            if "No module named pip_audit" in done.stderr:
                tail = "pip-audit is not installed (pip install pip-audit)"
            return DependencyAudit(
                error=f"pip-audit exited {done.returncode}: {tail}", source=self.name
            )
        return parse_pip_audit_json(done.stdout)


def parse_pip_audit_json(text: str) -> DependencyAudit:
    """A :class:`DependencyAudit` from pip-audit's ``--format json`` output."""
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        return DependencyAudit(error=f"pip-audit printed no JSON ({exc})", source="pip-audit")
    entries = data.get("dependencies") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        return DependencyAudit(
            error="pip-audit JSON has no 'dependencies' list", source="pip-audit"
        )
    distributions = []
    for entry in entries:
        vulns = tuple(
            Vulnerability(
                id=str(v.get("id")),
                fix_versions=tuple(str(x) for x in v.get("fix_versions") or ()),
                aliases=tuple(str(x) for x in v.get("aliases") or ()),
            )
            for v in entry.get("vulns") or ()
        )
        distributions.append(
            AuditedDistribution(
                name=str(entry.get("name")),
                version=entry.get("version"),
                vulnerabilities=vulns,
                skip_reason=entry.get("skip_reason"),
            )
        )
    return DependencyAudit(distributions=tuple(distributions), source="pip-audit")
