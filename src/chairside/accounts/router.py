"""HTTP routes of accounts: /api/v1/auth/* and /api/v1/me."""

from __future__ import annotations

from fastapi import APIRouter, status

from chairside.accounts import ratelimit, schemas, service
from chairside.accounts.deps import ClientAddress, CurrentUser, NoticesDep
from chairside.accounts.refresh import Reused, TokenPair
from chairside.api.deps import ContextDep, SessionDep
from chairside.api.problems import documented, problem_response

router = APIRouter(prefix="/api/v1", tags=["accounts"])


@router.post(
    "/auth/register",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=schemas.RegisteredOut,
    responses=documented(429),
)
def register(
    body: schemas.RegisterIn,
    session: SessionDep,
    context: ContextDep,
    address: ClientAddress,
    notices: NoticesDep,
) -> object:
    """Register a client, provider or shop-owner account.

    The answer is the same whether or not the address already has an account (whose
    owner is told by e-mail instead): log in with the password you chose.
    """
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
    return schemas.RegisteredOut(email=body.email, role=body.role)


@router.post("/auth/login", response_model=schemas.TokensOut, responses=documented(401, 429))
def login(
    body: schemas.LoginIn, session: SessionDep, context: ContextDep, address: ClientAddress
) -> object:
    """Exchange e-mail and password for an access and a refresh token."""
    s = context.settings
    ratelimit.hit(
        context.redis,
        bucket="login",
        identity=f"{address}|{body.email.strip().lower()}",
        limit=s.rate_limit_login,
        window_seconds=s.rate_limit_window_seconds,
        fallback=context.engine,
    )
    pair = service.login(
        session=session,
        cache=context.redis,
        fallback=context.engine,
        settings=s,
        address=address,
        email=body.email,
        password=body.password,
    )
    return _tokens(pair)


@router.post("/auth/refresh", response_model=schemas.TokensOut, responses=documented(401))
def refresh(body: schemas.RefreshIn, session: SessionDep, context: ContextDep) -> object:
    """A new token pair for a refresh token; the old refresh token stops working."""
    pair = service.refresh(
        session=session,
        cache=context.redis,
        settings=context.settings,
        refresh_token=body.refresh_token,
    )
    if isinstance(pair, Reused):
        # Answered, not raised: the family's revocation must commit with this request.
        return problem_response(401, pair.message, headers={"WWW-Authenticate": "Bearer"})
    return _tokens(pair)


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(
    user: CurrentUser,
    session: SessionDep,
    context: ContextDep,
    body: schemas.LogoutIn | None = None,
) -> None:
    """Revoke this access token (and the refresh token, when sent)."""
    service.logout(
        session=session,
        cache=context.redis,
        settings=context.settings,
        principal=user,
        refresh_token=body.refresh_token if body else None,
    )


@router.post("/auth/logout-all", response_model=schemas.LoggedOutEverywhereOut)
def logout_all(user: CurrentUser, session: SessionDep) -> object:
    """Revoke every token of this account issued up to now, on every device."""
    moment = service.logout_everywhere(session=session, principal=user)
    return {"tokens_valid_after": moment}


@router.get("/me", response_model=schemas.UserOut)
def me(user: CurrentUser, session: SessionDep) -> object:
    """The calling account."""
    return service.get_user(session=session, user_id=user.id)


@router.patch("/me", response_model=schemas.UserOut)
def update_me(body: schemas.ContactPatch, user: CurrentUser, session: SessionDep) -> object:
    """Set where reminders reach you: time zone (quiet hours) and phone (SMS)."""
    return service.update_contact(
        session=session, principal=user, patch=body.model_dump(exclude_unset=True)
    )


def _tokens(pair: TokenPair) -> schemas.TokensOut:
    return schemas.TokensOut(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        expires_in=pair.expires_in,
        user=schemas.UserOut.model_validate(pair.user),
    )
