"""One severity scale, P1-P4, for incidents and alerts (docs/incidents.md).

The beautycort runbook's "Severity Levels" table, which also gives the bookedbarber
runbook's escalation matrix its place: that matrix counts from P0 (Critical, 15 minutes;
High P1, 1 hour; Medium P2, 4 hours; Low P3, next business day), so its Pn is Chairside's
P(n+1), with the stricter of the two response times. Alert rules carry the same
``priority`` label and route by :attr:`SeverityLevel.alert_severity`.

=====  ========  ==========================  =============  ==========================
level  name      impact                      response time  escalation
=====  ========  ==========================  =============  ==========================
P1     CRITICAL  complete service outage     immediate      CTO, Product Manager
P2     HIGH      major feature degradation   15 minutes     Engineering Lead
P3     MEDIUM    minor feature issues        1 hour         On-call engineer
P4     LOW       non-user impacting          4 hours        Next business day
=====  ========  ==========================  =============  ==========================

"Immediate" becomes 5 minutes: the runbook's Initial Response says to acknowledge the
alert within the first 5 minutes. The runbooks give a response-time target only; there
is no time-to-resolve target, and the report says so rather than inventing one.
"""

from __future__ import annotations

from dataclasses import dataclass

from chairside.errors import InputError


@dataclass(frozen=True)
class SeverityLevel:
    """One row of the runbook's severity table."""

    code: str
    name: str
    impact: str
    response: str
    response_target_seconds: int
    escalation: str
    # Runbook step 4 of the initial response: notify stakeholders if HIGH or CRITICAL.
    notify_stakeholders: bool
    # The Alertmanager ``severity`` an alert of this level routes on (pager, chat, ticket).
    alert_severity: str
    # The same level in the bookedbarber runbook's escalation matrix.
    bookedbarber: str

    def to_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "name": self.name,
            "impact": self.impact,
            "response": self.response,
            "response_target_seconds": self.response_target_seconds,
            "escalation": self.escalation,
            "notify_stakeholders": self.notify_stakeholders,
            "alert_severity": self.alert_severity,
            "bookedbarber": self.bookedbarber,
        }


LEVELS: dict[str, SeverityLevel] = {
    level.code: level
    for level in (
        SeverityLevel(
            "P1",
            "CRITICAL",
            "complete service outage",
            "immediate",
            5 * 60,
            "CTO, Product Manager",
            True,
            "critical",
            "Critical (P0): 15 minutes, primary on-call + manager",
        ),
        SeverityLevel(
            "P2",
            "HIGH",
            "major feature degradation",
            "15 minutes",
            15 * 60,
            "Engineering Lead",
            True,
            "critical",
            "High (P1): 1 hour, primary on-call",
        ),
        SeverityLevel(
            "P3",
            "MEDIUM",
            "minor feature issues",
            "1 hour",
            60 * 60,
            "On-call engineer",
            False,
            "warning",
            "Medium (P2): 4 hours, assigned team member",
        ),
        SeverityLevel(
            "P4",
            "LOW",
            "non-user impacting",
            "4 hours",
            4 * 60 * 60,
            "Next business day",
            False,
            "info",
            "Low (P3): next business day, ticket queue",
        ),
    )
}
_BY_NAME = {level.name: level for level in LEVELS.values()}


def parse_severity(raw: str) -> SeverityLevel:
    """The level named by ``raw``: P1-P4 or CRITICAL/HIGH/MEDIUM/LOW, any case."""
    key = raw.strip().upper()
    level = LEVELS.get(key) or _BY_NAME.get(key)
    if level is None:
        allowed = ", ".join(f"{lv.code} ({lv.name})" for lv in LEVELS.values())
        raise InputError(f"severity {raw!r} is not one of {allowed}", field="severity")
    return level


def severity_level(code: str) -> SeverityLevel:
    """The level of a stored severity code."""
    return LEVELS[code]
