"""Rendering pages: the Jinja2 environment, the base layout, and forms with marked errors.

``page(request, "name.html", ...)`` renders a template with what every page needs
(``person``, ``csrf_token``, the page ``title``). A form that fails is rendered again with
each bad field marked: ``reject(...)`` raises :class:`Rejected`, which carries the page
(status 422 by default) out through the request's database session, so the session
rolls back and nothing the route did is written; ``WebRoute`` answers with the page.
``FormErrors`` maps a Pydantic ``ValidationError`` or a ``ChairsideError`` (its
``field``) onto form fields; the ``field()`` macro of ``_form.html`` shows the message
next to the field (``aria-invalid``, ``aria-describedby``).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from pydantic import ValidationError

from chairside.errors import ChairsideError, InputError
from chairside.webapp import csrf

MAX_ECHO = 300  # a rejected value longer than this is not echoed back into the form


@cache
def environment() -> Environment:
    """The web app's Jinja2 environment (templates in ``chairside/webapp/templates``)."""
    env = Environment(
        loader=PackageLoader("chairside.webapp", "templates"),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


def page(
    request: Request,
    template: str,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    **values: Any,
) -> HTMLResponse:
    """An HTML page from ``template`` with the common values every page gets."""
    context = request.app.state.context
    common: dict[str, Any] = {
        "person": getattr(request.state, "person", None),
        "csrf_token": csrf.token_for(request, context.settings.effective_jwt_secret()),
        "path": request.url.path,
        "errors": FormErrors(),
        "values": {},
    }
    common.update(values)
    body = environment().get_template(template).render(common)
    return HTMLResponse(body, status_code=status, headers=dict(headers or {}))


class FormErrors:
    """Messages per form field (``""`` for the form as a whole), in the order found."""

    def __init__(self, messages: Mapping[str, str] | None = None) -> None:
        self.messages: dict[str, str] = dict(messages or {})

    def __bool__(self) -> bool:
        return bool(self.messages)

    def __contains__(self, field: str) -> bool:
        return field in self.messages

    def get(self, field: str) -> str | None:
        return self.messages.get(field)

    def add(self, field: str, message: str) -> None:
        self.messages.setdefault(field, message)

    @property
    def general(self) -> str | None:
        return self.messages.get("")

    @classmethod
    def from_validation(
        cls, error: ValidationError, *, labels: Mapping[str, str] | None = None
    ) -> FormErrors:
        """One message per bad field of a Pydantic model, in words a person can act on."""
        found = cls()
        for item in error.errors():
            location = [str(part) for part in item.get("loc", ())]
            field = location[0] if location else ""
            found.add(field, _human(item, (labels or {}).get(field, field.replace("_", " "))))
        return found

    @classmethod
    def from_error(cls, error: ChairsideError, *, field: str = "") -> FormErrors:
        """The service's message on the field it names (or ``field``, or the whole form)."""
        named = error.field if isinstance(error, InputError) and error.field else field
        return cls({named: error.message})


def _human(item: Mapping[str, Any], label: str) -> str:
    kind = str(item.get("type", ""))
    context = item.get("ctx") or {}
    if kind == "missing" or (kind == "string_too_short" and context.get("min_length") == 1):
        return f"Enter the {label}."
    if kind == "string_too_long":
        return f"The {label} can be at most {context.get('max_length')} characters long."
    if kind == "string_too_short":
        return f"The {label} must be at least {context.get('min_length')} characters long."
    message = str(item.get("msg", "invalid"))
    message = message.removeprefix("Value error, ").rstrip(".")
    return f"{label[:1].upper()}{label[1:]}: {message}."


class Rejected(Exception):  # noqa: N818 (a page carried out, not an error)
    """A form rendered again with its errors; raised so the request writes nothing."""

    def __init__(self, response: HTMLResponse) -> None:
        super().__init__("form rejected")
        self.response = response


def echo(values: Mapping[str, Any]) -> dict[str, str]:
    """Submitted values safe to put back in the form: strings, not too long, no NUL."""
    kept: dict[str, str] = {}
    for name, value in values.items():
        if name == csrf.CSRF_FIELD or "password" in name or not isinstance(value, str):
            continue
        if len(value) <= MAX_ECHO:
            kept[name] = value.replace("\x00", "")
    return kept


def reject(
    request: Request,
    template: str,
    *,
    errors: FormErrors,
    values: Mapping[str, Any],
    status: int = 422,
    **extra: Any,
) -> Rejected:
    """The form page again with ``errors`` marked and ``values`` refilled; raise it."""
    return Rejected(
        page(request, template, status=status, errors=errors, values=echo(values), **extra)
    )
