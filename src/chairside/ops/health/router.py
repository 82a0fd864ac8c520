"""Health for load balancers and operators.

``/health/live``: the process answers. ``/health``: the database answers too.
``/health/ready``: and this worker has room and is not in maintenance. These three read
the database watch (ops/health/watch.py), never the database, so polling them is free.
``/health/detailed``: every component check, run now, as JSON.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from chairside.api.deps import ContextDep
from chairside.checks import CheckStatus
from chairside.ops.deploy.release import running_release
from chairside.ops.health.report import health_payload
from chairside.ops.health.watch import DatabaseState

router = APIRouter(tags=["operations"])
RETRY_AFTER_SECONDS = 5


@router.get("/health/live")
async def live(context: ContextDep) -> dict[str, str]:
    """The process answers (for restarts by an orchestrator); touches nothing else."""
    return {"status": "ok", "release": running_release(context.settings)}


@router.get("/health")
async def health(context: ContextDep) -> JSONResponse:
    """200 while the database answers, 503 when it does not (a watch at most ~1 s old)."""
    database = context.database.state()
    body = {"status": "ok" if database.reachable else "unavailable", "database": _db(database)}
    if database.reachable:
        return JSONResponse(body)
    return JSONResponse(body, status_code=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


@router.get("/health/ready")
async def ready(context: ContextDep) -> JSONResponse:
    """Whether to send this worker traffic: database up, room to admit, not in maintenance."""
    database = context.database.state()
    modes = context.modes.current()
    admission = context.admission
    reasons = []
    if not database.reachable:
        reasons.append(f"database unreachable: {database.error}")
    elif database.writes_blocked:
        reasons.append("commits wait for a synchronous standby that is not connected")
    if modes.maintenance:
        reasons.append("maintenance mode is on")
    if not admission.has_room():
        reasons.append(
            f"no capacity: {admission.in_use} requests in progress, {admission.waiting} waiting"
        )
    body = {
        "status": "unavailable" if reasons else "ok",
        "reasons": reasons,
        "database": _db(database),
        "capacity": admission.to_dict(),
        "modes": modes.to_dict(),
    }
    if not reasons:
        return JSONResponse(body)
    retry = modes.retry_after if modes.maintenance else RETRY_AFTER_SECONDS
    return JSONResponse(body, status_code=503, headers={"Retry-After": str(retry)})


def _db(state: DatabaseState) -> dict[str, object]:
    return {
        "reachable": state.reachable,
        "checked_seconds_ago": round(state.age_seconds(), 2),
        "latency_ms": state.latency_ms,
        "error": state.error,
        "writes_blocked": state.writes_blocked,
    }


@router.get("/health/detailed")
async def detailed(context: ContextDep) -> JSONResponse:
    """Each component's status and latency, checked now; 503 when anything is critical."""
    # Always fresh: this is what an operator asks while fixing something. The results
    # also refresh the cache /metrics reads.
    snapshot = await run_in_threadpool(context.monitoring.probe.snapshot, max_age=0)
    body = health_payload(snapshot.results, at=snapshot.at)
    body["modes"] = context.modes.current().to_dict()
    body["release"] = running_release(context.settings)
    critical = body["status"] == CheckStatus.CRITICAL.value
    return JSONResponse(body, status_code=503 if critical else 200)
