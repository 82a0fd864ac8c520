"""``/assets/{name}``: the web app's own stylesheet and scripts (a fixed list, no CDN)."""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import Response

from chairside.errors import NotFoundError
from chairside.webapp.route import WebRoute

ASSET_TYPES = {
    "webapp.css": "text/css; charset=utf-8",
    "webapp.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
router = APIRouter(route_class=WebRoute, include_in_schema=False)


@cache
def _asset(name: str) -> bytes:
    return resources.files("chairside.webapp").joinpath("static", name).read_bytes()


@router.get("/assets/{name}")
async def asset(name: str) -> Response:
    """One of the web app's static files (only those listed: no path reaches others)."""
    media_type = ASSET_TYPES.get(name)
    if media_type is None:
        raise NotFoundError(f"no asset {name!r}; there are: {', '.join(ASSET_TYPES)}")
    return Response(
        _asset(name), media_type=media_type, headers={"Cache-Control": "public, max-age=3600"}
    )
