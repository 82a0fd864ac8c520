"""``GET /metrics`` in the Prometheus text format."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool

from chairside.api.deps import ContextDep
from chairside.ops.metrics.exposition import CONTENT_TYPE

router = APIRouter(tags=["operations"])


@router.get("/metrics", include_in_schema=False)
async def metrics(context: ContextDep) -> Response:
    """Every metric of the service, in the Prometheus text format."""
    # Scrape-time collectors touch the database and the disk: keep them off the loop.
    body = await run_in_threadpool(context.monitoring.exposition.render)
    return Response(body, media_type=CONTENT_TYPE)
