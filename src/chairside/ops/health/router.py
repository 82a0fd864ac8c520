"""``/health`` (liveness, no I/O) and ``/health/detailed`` (component checks as JSON)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from chairside.api.deps import ContextDep
from chairside.checks import CheckStatus
from chairside.ops.health.report import health_payload

router = APIRouter(tags=["operations"])


@router.get("/health")
def liveness() -> dict[str, str]:
    """The process is up and serving; touches nothing else so it stays fast."""
    return {"status": "ok"}


@router.get("/health/detailed")
async def detailed(context: ContextDep) -> JSONResponse:
    """Each component's status and latency, checked now; 503 when anything is critical."""
    # Always fresh: this is what an operator asks while fixing something. The results
    # also refresh the cache /metrics reads.
    snapshot = await run_in_threadpool(context.monitoring.probe.snapshot, max_age=0)
    body = health_payload(snapshot.results, at=snapshot.at)
    body["modes"] = context.modes.current().to_dict()
    critical = body["status"] == CheckStatus.CRITICAL.value
    return JSONResponse(body, status_code=503 if critical else 200)
