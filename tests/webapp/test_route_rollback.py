"""A page that writes and then refuses writes nothing: the web app's route class answers
the refusal itself, so it must tell the request's database session to roll back."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response
from fastapi.testclient import TestClient
from sqlalchemy import text

from chairside.api.app import create_app
from chairside.api.deps import SessionDep
from chairside.config import Settings
from chairside.errors import InputError
from chairside.webapp.route import WebRoute
from tests.booking.world import sql


def _table_exists(settings: Settings, name: str) -> bool:
    assert settings.database_url is not None
    (row,) = sql(settings.database_url.get_secret_value(), f"SELECT to_regclass('{name}')")
    return row[0] is not None


def test_a_page_that_writes_then_refuses_leaves_the_database_as_it_was(
    web_settings: Settings,
) -> None:
    refused, accepted = f"probe_{uuid.uuid4().hex[:8]}", f"probe_{uuid.uuid4().hex[:8]}"
    pages = APIRouter(route_class=WebRoute)

    @pages.post("/probe/refuse")
    def write_then_refuse(session: SessionDep) -> Response:
        session.execute(text(f"CREATE TABLE {refused} (id int)"))  # DDL is transactional
        raise InputError("probe refused", field="name")

    @pages.post("/probe/accept")
    def write_and_return(session: SessionDep) -> Response:
        session.execute(text(f"CREATE TABLE {accepted} (id int)"))
        return Response(status_code=204)

    app = create_app(web_settings)
    app.include_router(pages)
    with TestClient(app) as client:
        assert client.post("/probe/refuse").status_code == 422
        assert client.post("/probe/accept").status_code == 204

    assert not _table_exists(web_settings, refused)
    assert _table_exists(web_settings, accepted)
