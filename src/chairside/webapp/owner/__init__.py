"""The shop owner's pages (``/owner/...``): shop setup, staff, services, hours, time off,
the day and week calendar with complete / no-show, and its CSV.

Every page parses its form with the API's schema and calls the API's service function
(no second copy of any rule); ``forms.py`` only moves values and errors between the form's
fields and the schemas'. A page of a shop, provider or booking that is not the person's
answers 404 (the services' ``owned_*`` look-ups), a person who is not a shop owner 403.

Every service call that writes runs under a savepoint (``session.begin_nested()``): a
service that wrote part of a change and then refused (a provider inserted, then an
unknown service id) has its writes undone before the form comes back. The request's
session alone does not do it: ``WebRoute`` turns the refusal into a page inside FastAPI's
dependency scope, so the session dependency sees a normal return and commits.
"""

from __future__ import annotations

from fastapi import APIRouter

from chairside.webapp.owner import calendar_pages, shop_pages, team_pages

router = APIRouter(include_in_schema=False)
router.include_router(shop_pages.router)
router.include_router(team_pages.router)
router.include_router(calendar_pages.router)
