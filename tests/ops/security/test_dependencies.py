"""``security audit dependencies``: known vulnerabilities, and honesty when offline.

No test asks the network: the fake source stands in for PyPI's data, and pip-audit's
own JSON is parsed from samples of the shape it prints.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from chairside.checks import CheckStatus
from chairside.ops.security.dependencies import (
    AuditedDistribution,
    DependencyAudit,
    Vulnerability,
    check_dependencies,
)
from chairside.ops.security.pip_audit_source import PipAuditSource, parse_pip_audit_json
from chairside.ops.security.static_source import StaticVulnerabilitySource

SAMPLE = {
    "dependencies": [
        {
            "name": "jinja2",
            "version": "3.1.2",
            "vulns": [
                {
                    "id": "GHSA-h5c8-rqwp-cp95",
                    "fix_versions": ["3.1.3"],
                    "aliases": ["CVE-2024-22195"],
                    "description": "xmlattr allows keys with spaces",
                }
            ],
        },
        {"name": "httpx", "version": "0.27.0", "vulns": []},
        {"name": "chairside", "skip_reason": "Dependency not found on PyPI"},
    ],
    "fixes": [],
}


def test_a_vulnerable_distribution_is_critical_and_named_with_its_fix() -> None:
    result = check_dependencies(StaticVulnerabilitySource(parse_pip_audit_json(json.dumps(SAMPLE))))
    assert result.status is CheckStatus.CRITICAL
    assert "jinja2 3.1.2 (GHSA-h5c8-rqwp-cp95; fixed in 3.1.3)" in result.summary
    vulnerable = result.details["vulnerable"]
    assert isinstance(vulnerable, list)
    assert vulnerable[0]["vulnerabilities"][0]["aliases"] == ["CVE-2024-22195"]


def test_no_vulnerabilities_but_unaudited_distributions_is_a_warning() -> None:
    report = DependencyAudit(
        distributions=(
            AuditedDistribution("httpx", "0.27.0"),
            AuditedDistribution("chairside", None, skip_reason="not on PyPI"),
        )
    )
    result = check_dependencies(StaticVulnerabilitySource(report))
    assert result.status is CheckStatus.WARNING
    assert "1 could not be audited (chairside)" in result.summary


def test_every_distribution_audited_clean_is_ok() -> None:
    report = DependencyAudit(distributions=(AuditedDistribution("httpx", "0.27.0"),))
    result = check_dependencies(StaticVulnerabilitySource(report))
    assert result.status is CheckStatus.OK
    assert "no known vulnerabilities in 1 audited" in result.summary


def test_an_unreachable_vulnerability_service_is_unknown_not_ok() -> None:
    offline = DependencyAudit(error="ConnectionError: pypi.org unreachable")
    result = check_dependencies(StaticVulnerabilitySource(offline, name="pip-audit"))
    assert result.status is CheckStatus.UNKNOWN
    assert "could not audit dependencies with pip-audit: ConnectionError" in result.summary


def test_skipping_every_distribution_is_unknown_not_ok() -> None:
    # What pip-audit prints when its vulnerability lookups all fail: every entry skipped.
    skipped = {
        "dependencies": [
            {"name": n, "skip_reason": f"Dependency not found on PyPI: {n}"}
            for n in ("alembic", "anyio")
        ],
        "fixes": [],
    }
    result = check_dependencies(
        StaticVulnerabilitySource(parse_pip_audit_json(json.dumps(skipped)))
    )
    assert result.status is CheckStatus.UNKNOWN
    assert "audited none of 2 distributions" in result.summary


def test_output_that_is_not_pip_audit_json_is_an_error() -> None:
    assert parse_pip_audit_json("Traceback (most recent call last):").error is not None
    assert parse_pip_audit_json('{"something": []}').error is not None


def test_pip_audit_missing_from_the_interpreter_is_unknown_with_the_fix() -> None:
    python = shutil.which("python3", path="/usr/bin")
    if python is None:
        pytest.skip("no system python3 to run without pip-audit")
    probe = subprocess.run([python, "-c", "import pip_audit"], capture_output=True, check=False)
    if probe.returncode == 0:
        pytest.skip("the system python3 has pip-audit")
    source = PipAuditSource(python=python)
    result = check_dependencies(source)
    assert result.status is CheckStatus.UNKNOWN
    assert "pip-audit is not installed" in result.summary


def test_vulnerabilities_keep_their_fix_versions_sorted() -> None:
    report = DependencyAudit(
        distributions=(
            AuditedDistribution(
                "x", "1", vulnerabilities=(Vulnerability("A", ("2.1", "1.9")), Vulnerability("B"))
            ),
        )
    )
    result = check_dependencies(StaticVulnerabilitySource(report))
    assert "(A, B; fixed in 1.9, 2.1)" in result.summary
