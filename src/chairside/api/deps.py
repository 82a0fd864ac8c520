"""Named dependencies for routes: the app context, a database session, the settings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from chairside.api.context import AppContext
from chairside.config import Settings


# Dependencies that do no I/O are ``async def``: FastAPI runs a plain ``def`` dependency
# in the thread pool, a hop that costs more than the dependency itself.
async def get_context(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


ContextDep = Annotated[AppContext, Depends(get_context)]


async def get_settings_dep(context: ContextDep) -> Settings:
    return context.settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


ROLLBACK_ONLY = "rollback_only"


def get_session(context: ContextDep, request: Request) -> Iterator[Session]:
    """A session per request; commits when the route returns, rolls back on error."""
    with context.sessions() as session, session.begin():
        yield session
        # A route class that answers an exception itself (the web app's WebRoute) keeps it
        # from reaching this generator, so it marks the request instead: without this the
        # writes made before a refused form would be committed.
        if getattr(request.state, ROLLBACK_ONLY, False):
            session.rollback()


# scope="function": commit before the response is sent. With the default ("request") the
# commit runs after the client already has its 201, so a client that registers and logs
# in at once over a real socket can be told its new account does not exist.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
