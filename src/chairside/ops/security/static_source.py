"""A :class:`~chairside.ops.security.dependencies.VulnerabilitySource` that answers from memory.

For tests and for air-gapped sites that import an audit made elsewhere.
"""

from __future__ import annotations

from chairside.ops.security.dependencies import DependencyAudit


class StaticVulnerabilitySource:
    """Returns the audit it was given."""

    def __init__(self, report: DependencyAudit, *, name: str = "static") -> None:
        self.name = name
        self._report = report

    def audit(self) -> DependencyAudit:
        """The audit given at construction."""
        return self._report
