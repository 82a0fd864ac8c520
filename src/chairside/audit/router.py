"""HTTP route of the audit log: admins read it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from chairside.accounts.deps import CurrentUser
from chairside.api.deps import SessionDep
from chairside.audit import schemas, service
from chairside.bounds import CleanStr, Instant, RowId
from chairside.errors import PermissionDeniedError

router = APIRouter(prefix="/api/v1", tags=["audit"])


@router.get("/admin/audit", response_model=list[schemas.AuditEntryOut])
def read_audit_log(
    user: CurrentUser,
    session: SessionDep,
    entity: Annotated[CleanStr | None, Query(max_length=100)] = None,
    entity_id: Annotated[CleanStr | None, Query(max_length=200)] = None,
    since: Annotated[Instant | None, Query()] = None,
    before_id: Annotated[RowId | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> object:
    """Audit rows, newest first (admins only)."""
    if not user.is_admin:
        raise PermissionDeniedError(f"the audit log is for admins; your role is {user.role!r}")
    return service.list_entries(
        session=session,
        entity=entity,
        entity_id=entity_id,
        since=since,
        limit=limit,
        before_id=before_id,
    )
