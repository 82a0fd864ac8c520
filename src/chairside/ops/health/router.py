"""``/health`` (liveness, no I/O) and ``/health/detailed`` (component checks as JSON)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from chairside.api.deps import ContextDep
from chairside.checks import CheckStatus, worst
from chairside.ops.health import components

router = APIRouter(tags=["operations"])


@router.get("/health")
def liveness() -> dict[str, str]:
    """The process is up and serving; touches nothing else so it stays fast."""
    return {"status": "ok"}


@router.get("/health/detailed")
def detailed(context: ContextDep) -> JSONResponse:
    """Each component's status and latency; 503 when anything is critical."""
    results = [
        components.check_database(context.engine),
        components.check_redis(context.redis),
    ]
    modes = context.modes.current()
    overall = worst(r.status for r in results)
    body = {
        "status": overall.value,
        "checks": [r.to_dict() for r in results],
        "modes": modes.to_dict(),
    }
    return JSONResponse(body, status_code=503 if overall is CheckStatus.CRITICAL else 200)
