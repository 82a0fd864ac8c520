"""``/docs``: Swagger UI from files the app serves itself, so it works without internet.

FastAPI's default page loads Swagger UI from a CDN: on an operator's laptop behind a
firewall, or during an outage of that CDN, ``/docs`` is blank. The assets are Swagger
UI's own dist files, vendored in ``api/swagger_ui/`` (version 5: FastAPI writes OpenAPI
3.1, which Swagger UI 4 cannot read; see VERSION there); ReDoc (CDN only) is off.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import APIRouter
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, Response

from chairside.errors import NotFoundError

DOCS_URL = "/docs"
OPENAPI_URL = "/openapi.json"
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}

router = APIRouter(include_in_schema=False)


@cache
def _asset(name: str) -> bytes:
    return resources.files("chairside.api").joinpath("swagger_ui", name).read_bytes()


@router.get(DOCS_URL)
async def swagger_ui() -> HTMLResponse:
    """The interactive API documentation, every asset from this app."""
    return get_swagger_ui_html(
        openapi_url=OPENAPI_URL,
        title="Chairside API",
        swagger_js_url=f"{DOCS_URL}/static/swagger-ui-bundle.js",
        swagger_css_url=f"{DOCS_URL}/static/swagger-ui.css",
        swagger_favicon_url=f"{DOCS_URL}/static/favicon-32x32.png",
        oauth2_redirect_url=f"{DOCS_URL}/oauth2-redirect",
    )


@router.get(f"{DOCS_URL}/oauth2-redirect")
async def swagger_ui_redirect() -> HTMLResponse:
    """Swagger UI's OAuth2 redirect page."""
    return get_swagger_ui_oauth2_redirect_html()


@router.get(DOCS_URL + "/static/{name}")
async def swagger_ui_asset(name: str) -> Response:
    """One of Swagger UI's files (a fixed list: no path reaches anything else)."""
    media_type = ASSETS.get(name)
    if media_type is None:
        raise NotFoundError(f"no docs asset {name!r}; there are: {', '.join(ASSETS)}")
    return Response(
        _asset(name), media_type=media_type, headers={"Cache-Control": "public, max-age=86400"}
    )
