"""The web app's router: every page module's router, behind the CSRF check.

A page module (``account_pages.py``, ``client_pages.py``, ...) makes its own
``APIRouter(route_class=WebRoute, include_in_schema=False)``; it is added here, and
``api/app.py`` includes this one router. Every non-GET route therefore checks the CSRF
token before it runs (csrf.check_csrf).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from chairside.webapp import account_pages, assets, privacy_pages
from chairside.webapp.csrf import check_csrf
from chairside.webapp.render import page
from chairside.webapp.route import WebRoute
from chairside.webapp.session import MaybePerson

router = APIRouter(dependencies=[Depends(check_csrf)], include_in_schema=False)
home = APIRouter(route_class=WebRoute, include_in_schema=False)


@home.get("/")
def home_page(request: Request, person: MaybePerson) -> Response:
    """The front page: what Chairside is, and where to start."""
    return page(request, "home.html", title="Book your next cut")


router.include_router(assets.router)
router.include_router(account_pages.router)
router.include_router(privacy_pages.router)
router.include_router(home)
