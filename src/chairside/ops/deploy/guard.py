"""``deploy guard``: may a deployment start now? The runbooks' pre-deployment checks.

- the service's own health (the same checks as ``chairside health``, without the smoke
  test: the deployment's verification runs that);
- no open P1/P2 incident (deploying into one muddles both), P3/P4 a warning;
- no other deployment in progress.
"""

from __future__ import annotations

from chairside.checks import CheckResult, CheckStatus
from chairside.config import Settings
from chairside.ops.deploy.record import read_record
from chairside.ops.health.service import HealthKind, run_health
from chairside.ops.incidents import service as incidents

# A deployment while these are open is refused; the others only warn.
BLOCKING_SEVERITIES = ("P1", "P2")


def pre_deploy_checks(settings: Settings) -> list[CheckResult]:
    """Health, incidents and deployments in progress, as check results."""
    health = run_health(settings, kind=HealthKind.HEALTH)
    return [*health.results, _incidents(settings), _in_progress(settings)]


def _incidents(settings: Settings) -> CheckResult:
    open_ones = incidents.list_incidents(settings, open_only=True)
    if not open_ones:
        return CheckResult("incidents", CheckStatus.OK, "no open incident")
    names = ", ".join(f"#{i.id} {i.severity.code} {i.title!r}" for i in open_ones)
    blocking = [i for i in open_ones if i.severity.code in BLOCKING_SEVERITIES]
    if blocking:
        return CheckResult(
            "incidents",
            CheckStatus.CRITICAL,
            f"open incident(s) {names}: resolve them first, or deploy the fix with --force",
        )
    return CheckResult("incidents", CheckStatus.WARNING, f"open incident(s) {names}")


def _in_progress(settings: Settings) -> CheckResult:
    current = read_record(settings, "current")
    if current is None:
        return CheckResult("deploy_in_progress", CheckStatus.OK, "no deployment in progress")
    return CheckResult(
        "deploy_in_progress",
        CheckStatus.CRITICAL,
        f"deployment {current.id} of {current.version} started {current.started_at} by"
        f" {current.started_by} is not finished: `chairside deploy finish` or"
        " `chairside deploy rollback`",
    )
