"""``/login``, ``/logout``, ``/register``: the account service's flows as pages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from chairside.accounts import ratelimit, schemas, service
from chairside.accounts.deps import ClientAddress, NoticesDep
from chairside.api.deps import ContextDep, SessionDep
from chairside.errors import AuthError, InputError
from chairside.webapp import csrf
from chairside.webapp.csrf import CheckedForm
from chairside.webapp.render import FormErrors, page, reject
from chairside.webapp.route import WebRoute
from chairside.webapp.session import REFRESH_COOKIE, MaybePerson, safe_next

router = APIRouter(route_class=WebRoute, include_in_schema=False)
HOME_OF_ROLE = {"owner": "/owner", "client": "/find"}  # after login; others: "/"
NextParam = Annotated[str | None, Query(alias="next", max_length=2000)]


def home_of(role: str) -> str:
    """The first page of a role's part of the web app."""
    return HOME_OF_ROLE.get(role, "/")


@router.get("/login")
def login_page(request: Request, person: MaybePerson, next_url: NextParam = None) -> Response:
    """The login form (a logged-in person goes straight on)."""
    if person is not None:
        return RedirectResponse(safe_next(next_url) if next_url else home_of(person.role), 303)
    # No ?next=: leave the field empty, so the person lands on their role's home page.
    return page(
        request, "login.html", title="Log in", next_url=safe_next(next_url) if next_url else ""
    )


@router.post("/login")
def login(
    request: Request,
    form: CheckedForm,
    session: SessionDep,
    context: ContextDep,
    address: ClientAddress,
) -> Response:
    """Check the password; on success the session cookies are set and the person goes on."""
    values = dict(form)
    next_url = safe_next(str(values.get("next") or "")) if values.get("next") else ""
    try:
        body = schemas.LoginIn.model_validate(
            {"email": values.get("email", ""), "password": values.get("password", "")}
        )
    except ValidationError as exc:
        errors = FormErrors.from_validation(exc, labels={"email": "e-mail address"})
        raise reject(
            request, "login.html", errors=errors, values=values, title="Log in", next_url=next_url
        ) from None
    s = context.settings
    ratelimit.hit(
        context.redis,
        bucket="login",
        identity=f"{address}|{body.email.strip().lower()}",
        limit=s.rate_limit_login,
        window_seconds=s.rate_limit_window_seconds,
        fallback=context.engine,
    )
    try:
        pair = service.login(
            session=session,
            cache=context.redis,
            fallback=context.engine,
            settings=s,
            address=address,
            email=body.email,
            password=body.password,
        )
    except AuthError as exc:
        errors = FormErrors({"": f"{exc.message.capitalize()}. Check both and try again."})
        raise reject(
            request,
            "login.html",
            errors=errors,
            values=values,
            status=401,
            title="Log in",
            next_url=next_url,
        ) from None
    request.state.new_session = pair
    csrf.renew_seed(request)
    return RedirectResponse(next_url or home_of(pair.user.role), status_code=303)


@router.post("/logout")
def logout(
    request: Request,
    form: CheckedForm,
    person: MaybePerson,
    session: SessionDep,
    context: ContextDep,
) -> Response:
    """Revoke this session's tokens (access, refresh and its family) and forget them."""
    if person is not None:
        try:
            service.logout(
                session=session,
                cache=context.redis,
                settings=context.settings,
                principal=person,
                refresh_token=request.cookies.get(REFRESH_COOKIE),
            )
        except (AuthError, InputError):
            # A refresh cookie that is not this person's or no longer valid: the access
            # token is revoked all the same.
            service.logout(
                session=session, cache=context.redis, settings=context.settings, principal=person
            )
    request.state.new_session = None
    request.state.clear_session = True
    csrf.renew_seed(request)
    return RedirectResponse("/login?out=1", status_code=303)


@router.get("/register")
def register_page(request: Request, person: MaybePerson) -> Response:
    """The registration form: a client or a shop owner."""
    return page(request, "register.html", title="Create an account", values={"role": "client"})


@router.post("/register")
def register(
    request: Request,
    form: CheckedForm,
    session: SessionDep,
    context: ContextDep,
    address: ClientAddress,
    notices: NoticesDep,
) -> Response:
    """Create the account; the same answer whether or not the address had one (as the API)."""
    values = dict(form)
    try:
        body = schemas.RegisterIn.model_validate(
            {
                "email": values.get("email", ""),
                "password": values.get("password", ""),
                "full_name": values.get("full_name", ""),
                "role": values.get("role", "client"),
            }
        )
        service.register_from(
            session=session,
            settings=context.settings,
            notices=notices,
            cache=context.redis,
            fallback=context.engine,
            address=address,
            email=body.email,
            password=body.password,
            full_name=body.full_name,
            role=body.role,
        )
    except ValidationError as exc:
        errors = FormErrors.from_validation(
            exc, labels={"email": "e-mail address", "full_name": "name"}
        )
        raise reject(
            request, "register.html", errors=errors, values=values, title="Create an account"
        ) from None
    except InputError as exc:
        raise reject(
            request,
            "register.html",
            errors=FormErrors.from_error(exc),
            values=values,
            title="Create an account",
        ) from None
    return page(request, "registered.html", title="Check your e-mail", email=body.email)
