"""``/account/data`` and ``/account/delete``: a person's data rights as pages.

The same service functions as ``GET /api/v1/me/data`` and ``POST /api/v1/me/delete``
(privacy/service.py): the download is the same JSON document; deleting asks for the
password again, counts a wrong one as a failed login, and ends the session.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import ValidationError

from chairside.accounts.deps import ClientAddress
from chairside.api.deps import ContextDep, SessionDep
from chairside.errors import GuardRefusedError, PermissionDeniedError
from chairside.privacy import schemas, service
from chairside.webapp import csrf
from chairside.webapp.csrf import CheckedForm
from chairside.webapp.render import FormErrors, page, reject
from chairside.webapp.route import WebRoute
from chairside.webapp.session import MaybePerson, Person

router = APIRouter(route_class=WebRoute, include_in_schema=False)
DELETE_TITLE = "Delete my account"


@router.get("/account/data")
def my_data_page(request: Request, person: Person, session: SessionDep) -> Response:
    """What Chairside holds about me, and a link to download all of it."""
    data = service.export_client(session=session, user_id=person.id)
    payments = sum(len(booking["payments"]) for booking in data["bookings"])
    return page(request, "my_data.html", title="My data", data=data, payments=payments)


@router.get("/account/data.json")
def my_data_download(person: Person, session: SessionDep) -> Response:
    """Everything held about me as a JSON file (the API's document)."""
    data = service.export_client(session=session, user_id=person.id)
    name = f"chairside-data-{datetime.now(UTC):%Y%m%d}.json"
    return JSONResponse(
        data,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/account/delete")
def delete_page(request: Request, person: Person) -> Response:
    """What deleting keeps and removes, and the password to confirm it."""
    return page(request, "delete_account.html", title=DELETE_TITLE, kept=schemas.KEPT)


@router.post("/account/delete")
def delete_account(
    request: Request,
    form: CheckedForm,
    person: Person,
    session: SessionDep,
    context: ContextDep,
    address: ClientAddress,
) -> Response:
    """Delete (anonymise) the account after the password; the session ends with it."""
    values = dict(form)

    def again(errors: FormErrors, status: int) -> Exception:
        return reject(
            request,
            "delete_account.html",
            errors=errors,
            values=values,
            status=status,
            title=DELETE_TITLE,
            kept=schemas.KEPT,
        )

    try:
        body = schemas.DeleteAccountIn.model_validate({"password": values.get("password", "")})
    except ValidationError as exc:
        raise again(FormErrors.from_validation(exc), 422) from None
    try:
        service.delete_own_account(
            session=session,
            cache=context.redis,
            fallback=context.engine,
            settings=context.settings,
            address=address,
            principal=person,
            password=body.password,
        )
    except PermissionDeniedError:
        errors = FormErrors(
            {"password": "That is not your password. Nothing was deleted; try again."}
        )
        raise again(errors, 403) from None
    except GuardRefusedError as exc:
        raise again(FormErrors({"": exc.message}), 409) from None
    request.state.new_session = None
    request.state.clear_session = True
    csrf.renew_seed(request)
    return RedirectResponse("/account/deleted", status_code=303)


@router.get("/account/deleted")
def deleted_page(request: Request, person: MaybePerson) -> Response:
    """The goodbye page after a deletion (no session any more)."""
    return page(request, "account_deleted.html", title="Account deleted", kept=schemas.KEPT)
