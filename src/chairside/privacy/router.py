"""HTTP routes of data rights: /api/v1/me/data (download) and /api/v1/me/delete."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from chairside.accounts.deps import ClientAddress, CurrentUser
from chairside.api.deps import ContextDep, SessionDep
from chairside.api.problems import documented
from chairside.privacy import schemas, service

router = APIRouter(prefix="/api/v1", tags=["privacy"])


@router.get("/me/data", responses=documented(401))
def my_data(user: CurrentUser, session: SessionDep) -> JSONResponse:
    """Everything Chairside holds about the calling account, as a JSON download."""
    data = service.export_client(session=session, user_id=user.id)
    name = f"chairside-data-{datetime.now(UTC):%Y%m%d}.json"
    return JSONResponse(
        data,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


@router.post(
    "/me/delete", response_model=schemas.AccountDeletedOut, responses=documented(401, 403, 409, 429)
)
def delete_me(
    body: schemas.DeleteAccountIn,
    user: CurrentUser,
    session: SessionDep,
    context: ContextDep,
    address: ClientAddress,
) -> object:
    """Delete the calling account (password asked again): personal data goes, the shops'
    bookings stay anonymised, every token is refused from now on."""
    report = service.delete_own_account(
        session=session,
        cache=context.redis,
        fallback=context.engine,
        settings=context.settings,
        address=address,
        principal=user,
        password=body.password,
    )
    return schemas.AccountDeletedOut(
        user_id=report.user_id,
        anonymised_at=report.anonymised_at,
        already_anonymised=report.already_anonymised,
        bookings_kept=report.bookings,
        reviews_kept=report.reviews,
    )
