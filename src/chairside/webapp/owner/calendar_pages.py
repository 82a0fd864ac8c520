"""A shop's day and week calendar, complete / no-show, and the same data as CSV.

The page and the CSV both render :func:`chairside.booking.calendar.shop_calendar`, the
function behind ``GET /api/v1/shops/{id}/calendar[.csv]``; the actions call
``booking.service.finish_booking``, the function behind ``POST /api/v1/bookings/{id}/
complete|no-show``. A booking shows its buttons only when that function would accept them
(``transitions.may_finish``: confirmed and started).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Annotated
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from chairside.api.deps import SessionDep
from chairside.booking import calendar
from chairside.booking import service as bookings
from chairside.bounds import LocalDate
from chairside.errors import NotFoundError
from chairside.shops import service as shops
from chairside.webapp.csrf import CheckedForm
from chairside.webapp.owner import forms
from chairside.webapp.render import page
from chairside.webapp.route import WebRoute
from chairside.webapp.session import OwnerPerson

router = APIRouter(prefix="/owner", route_class=WebRoute, include_in_schema=False)

DayParam = Annotated[LocalDate | None, Query(alias="date")]
SpanParam = Annotated[calendar.Span, Query()]
OUTCOMES = {"complete": "completed", "no-show": "no_show"}
STATUS_LABELS = {
    "pending_payment": "awaiting payment",
    "confirmed": "confirmed",
    "completed": "completed",
    "no_show": "no-show",
    "cancelled": "cancelled",
}


def calendar_url(shop_id: uuid.UUID, day: date, span: str, *, csv: bool = False) -> str:
    """The calendar page (or its CSV) of a shop for a day and span."""
    path = f"/owner/shops/{shop_id}/calendar" + (".csv" if csv else "")
    return f"{path}?{urlencode({'date': day.isoformat(), 'span': span})}"


@router.get("/shops/{shop_id}/calendar")
def calendar_page(
    request: Request,
    shop_id: uuid.UUID,
    person: OwnerPerson,
    session: SessionDep,
    day: DayParam = None,
    span: SpanParam = "day",
) -> Response:
    """The bookings of a day or an ISO week, in the shop's time zone (today by default)."""
    shop = shops.owned_shop(session=session, actor=person, shop_id=shop_id)
    today = datetime.now(UTC).astimezone(ZoneInfo(shop.timezone)).date()
    shown = calendar.shop_calendar(
        session=session, actor=person, shop_id=shop.id, day=day or today, span=span
    )
    step = timedelta(days=1 if span == "day" else 7)
    anchor = day or today
    here = calendar_url(shop.id, anchor, span)
    days = [(d, [_entry(e) for e in entries]) for d, entries in shown.days()]
    return page(
        request,
        "owner/calendar.html",
        title=f"Calendar of {shop.name}",
        shop=shop,
        tab="calendar",
        calendar=shown,
        days=days,
        count=len(shown.entries),
        anchor=anchor,
        span=span,
        here=here,
        today=today,
        previous_url=calendar_url(shop.id, anchor - step, span),
        next_url=calendar_url(shop.id, anchor + step, span),
        today_url=calendar_url(shop.id, today, span),
        other_span_url=calendar_url(shop.id, anchor, "week" if span == "day" else "day"),
        csv_url=calendar_url(shop.id, anchor, span, csv=True),
        values={"date": anchor.isoformat(), "span": span},
    )


@router.get("/shops/{shop_id}/calendar.csv")
def calendar_csv(
    shop_id: uuid.UUID,
    person: OwnerPerson,
    session: SessionDep,
    day: DayParam = None,
    span: SpanParam = "day",
) -> Response:
    """The same rows as the calendar page, as a CSV download."""
    shop = shops.owned_shop(session=session, actor=person, shop_id=shop_id)
    today = datetime.now(UTC).astimezone(ZoneInfo(shop.timezone)).date()
    shown = calendar.shop_calendar(
        session=session, actor=person, shop_id=shop.id, day=day or today, span=span
    )
    return Response(
        calendar.calendar_csv(shown),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{calendar.csv_filename(shown)}"'},
    )


@router.post("/bookings/{booking_id}/{action}")
def finish_booking(
    booking_id: uuid.UUID,
    action: str,
    form: CheckedForm,
    person: OwnerPerson,
    session: SessionDep,
) -> Response:
    """Mark a started booking completed or a no-show (booking.service.finish_booking)."""
    outcome = OUTCOMES.get(action)
    if outcome is None:
        raise NotFoundError(f"no action {action!r}; there are: {', '.join(OUTCOMES)}")
    with session.begin_nested():  # a refusal undoes its writes (package doc)
        booking = bookings.finish_booking(
            session=session, actor=person, booking_id=booking_id, outcome=outcome
        )
    back = form.get("back")
    target = back if isinstance(back, str) and _is_own_calendar(back, booking.shop_id) else None
    return RedirectResponse(target or f"/owner/shops/{booking.shop_id}/calendar", status_code=303)


def _is_own_calendar(url: str, shop_id: uuid.UUID) -> bool:
    # Only back to this shop's calendar: a form value never sends the browser elsewhere.
    return (
        url.startswith(f"/owner/shops/{shop_id}/calendar") and "//" not in url and "\\" not in url
    )


def _entry(entry: calendar.CalendarEntry) -> dict[str, object]:
    return {
        "id": entry.booking_id,
        "time": f"{entry.starts_at:%H:%M}–{entry.ends_at:%H:%M}",
        "provider": entry.provider_name,
        "client": entry.client_name,
        "service": entry.service_name,
        "status": entry.status,
        "status_label": STATUS_LABELS.get(entry.status, entry.status),
        "price": forms.money(entry.price_minor, entry.currency),
        "note": entry.note,
        "finishable": entry.finishable,
    }
