"""Installed Python distributions against known vulnerabilities.

The data comes from a :class:`VulnerabilitySource`: ``pip_audit_source`` asks PyPI's
vulnerability data through pip-audit (network), ``static_source`` is the in-code fake.
A source that cannot answer, or could audit nothing, makes the check UNKNOWN: no answer
is never reported as "no vulnerabilities".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from chairside.checks import CheckResult, CheckStatus


@dataclass(frozen=True)
class Vulnerability:
    """One advisory against an installed distribution."""

    id: str
    fix_versions: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class AuditedDistribution:
    """An installed distribution and what is known against it (or why it was skipped)."""

    name: str
    version: str | None
    vulnerabilities: tuple[Vulnerability, ...] = ()
    skip_reason: str | None = None


@dataclass(frozen=True)
class DependencyAudit:
    """A source's answer; ``error`` set means it could not answer at all."""

    distributions: tuple[AuditedDistribution, ...] = ()
    error: str | None = None
    source: str = ""
    extra: dict[str, object] = field(default_factory=dict)


class VulnerabilitySource(Protocol):
    """Where vulnerability data for the installed distributions comes from."""

    name: str

    def audit(self) -> DependencyAudit:
        """Audit the installed distributions; never raises for a network failure."""
        ...


def check_dependencies(source: VulnerabilitySource) -> CheckResult:
    """Critical when an installed distribution has a known vulnerability, unknown when unaudited."""
    report = source.audit()
    if report.error is not None:
        return CheckResult(
            "dependencies",
            CheckStatus.UNKNOWN,
            f"could not audit dependencies with {source.name}: {report.error}",
            details={"source": source.name},
        )
    audited = [d for d in report.distributions if d.skip_reason is None]
    skipped = [d for d in report.distributions if d.skip_reason is not None]
    vulnerable = [d for d in audited if d.vulnerabilities]
    details: dict[str, object] = {
        "source": source.name,
        "audited": len(audited),
        "skipped": [{"name": d.name, "reason": d.skip_reason} for d in skipped],
        "vulnerable": [
            {
                "name": d.name,
                "version": d.version,
                "vulnerabilities": [
                    {"id": v.id, "fix_versions": list(v.fix_versions), "aliases": list(v.aliases)}
                    for v in d.vulnerabilities
                ],
            }
            for d in vulnerable
        ],
    }
    if vulnerable:
        named = ", ".join(
            f"{d.name} {d.version} ({', '.join(v.id for v in d.vulnerabilities)}; "
            f"fixed in {_fixes(d)})"
            for d in vulnerable
        )
        return CheckResult(
            "dependencies",
            CheckStatus.CRITICAL,
            f"{len(vulnerable)} installed distribution(s) with known vulnerabilities: {named}; "
            "expected none: upgrade to a fixed version",
            details=details,
        )
    if not audited:
        example = f" (e.g. {skipped[0].name}: {skipped[0].skip_reason})" if skipped else ""
        return CheckResult(
            "dependencies",
            CheckStatus.UNKNOWN,
            f"{source.name} audited none of {len(skipped)} distributions{example}; "
            "is the vulnerability service reachable?",
            details=details,
        )
    summary = f"no known vulnerabilities in {len(audited)} audited distributions"
    if skipped:
        names = ", ".join(d.name for d in skipped[:5])
        more = "…" if len(skipped) > 5 else ""
        return CheckResult(
            "dependencies",
            CheckStatus.WARNING,
            f"{summary}, but {len(skipped)} could not be audited ({names}{more}); "
            "expected every distribution audited",
            details=details,
        )
    return CheckResult("dependencies", CheckStatus.OK, summary, details=details)


def _fixes(distribution: AuditedDistribution) -> str:
    versions = sorted({v for vuln in distribution.vulnerabilities for v in vuln.fix_versions})
    return ", ".join(versions) if versions else "no fixed version yet"
