"""Alertmanager's API (v2): list alerts, create and expire silences.

A silence is created for a duration from now with matchers in Alertmanager's own syntax
(``name=value``, ``name!=value``, ``name=~regex``, ``name!~regex``), an author and a
comment: the runbook's "silence alerts during maintenance", scriptable and recorded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from chairside import durations
from chairside.config import Settings
from chairside.errors import DependencyDownError, InputError, NotFoundError

_MATCHER = re.compile(r"^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$")
MAX_SILENCE = timedelta(days=30)


@dataclass(frozen=True)
class Matcher:
    """One label matcher of a silence."""

    name: str
    value: str
    is_regex: bool
    is_equal: bool

    def to_api(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "isRegex": self.is_regex,
            "isEqual": self.is_equal,
        }

    def __str__(self) -> str:
        op = {(False, True): "=", (False, False): "!=", (True, True): "=~", (True, False): "!~"}
        return f"{self.name}{op[(self.is_regex, self.is_equal)]}{self.value!r}"


@dataclass(frozen=True)
class Silence:
    """A silence as Alertmanager holds it."""

    id: str
    state: str
    matchers: list[str]
    starts_at: str
    ends_at: str
    created_by: str
    comment: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "state": self.state,
            "matchers": self.matchers,
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "created_by": self.created_by,
            "comment": self.comment,
        }


@dataclass(frozen=True)
class Alert:
    """An alert Alertmanager knows, and whether it is silenced or inhibited."""

    name: str
    state: str
    severity: str
    priority: str
    summary: str
    labels: dict[str, str]
    starts_at: str
    silenced_by: list[str]
    inhibited_by: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state,
            "severity": self.severity,
            "priority": self.priority,
            "summary": self.summary,
            "labels": self.labels,
            "starts_at": self.starts_at,
            "silenced_by": self.silenced_by,
            "inhibited_by": self.inhibited_by,
        }


def parse_matcher(raw: str) -> Matcher:
    """``name=value``, ``name!=value``, ``name=~regex`` or ``name!~regex``."""
    match = _MATCHER.match(raw)
    if match is None or not match.group(3):
        raise InputError(
            f"matcher {raw!r} is not name=value, name!=value, name=~regex or name!~regex",
            field="matcher",
        )
    name, op, value = match.groups()
    value = value.strip("\"'")
    if op in ("=~", "!~"):
        try:
            re.compile(value)
        except re.error as exc:
            raise InputError(
                f"matcher {raw!r}: {value!r} is not a regular expression ({exc})",
                field="matcher",
            ) from None
    return Matcher(name, value, is_regex=op in ("=~", "!~"), is_equal=op in ("=", "=~"))


def parse_duration(raw: str) -> timedelta:
    """A silence's length: ``90s``, ``30m``, ``2h``, ``1d``, ``1h30m``; up to 30 days."""
    return durations.parse_duration(raw, maximum=MAX_SILENCE)


class AlertmanagerClient:
    """A small client of Alertmanager's v2 API."""

    def __init__(self, base_url: str, *, timeout: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url + "/api/v2", timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AlertmanagerClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def create_silence(
        self,
        matchers: list[Matcher],
        *,
        duration: timedelta,
        comment: str,
        created_by: str,
        now: datetime | None = None,
    ) -> str:
        """Silence alerts matching every matcher from now for ``duration``; its id."""
        if not matchers:
            raise InputError("a silence needs at least one --matcher", field="matcher")
        if not comment.strip():
            raise InputError("a silence needs a --comment saying why", field="comment")
        start = now or datetime.now(UTC)
        body = {
            "matchers": [m.to_api() for m in matchers],
            "startsAt": start.isoformat(),
            "endsAt": (start + duration).isoformat(),
            "createdBy": created_by,
            "comment": comment,
        }
        data = self._request("POST", "/silences", json=body)
        return str(data["silenceID"])

    def silences(self, *, include_expired: bool = False) -> list[Silence]:
        """Active and pending silences (and expired ones when asked)."""
        out = []
        for item in self._request("GET", "/silences"):
            state = item["status"]["state"]
            if state == "expired" and not include_expired:
                continue
            out.append(
                Silence(
                    id=item["id"],
                    state=state,
                    matchers=[str(_from_api(m)) for m in item["matchers"]],
                    starts_at=item["startsAt"],
                    ends_at=item["endsAt"],
                    created_by=item.get("createdBy", ""),
                    comment=item.get("comment", ""),
                )
            )
        return out

    def expire_silence(self, silence_id: str) -> None:
        """End a silence now."""
        self._request("DELETE", f"/silence/{silence_id}")

    def alerts(self, *, include_suppressed: bool = True) -> list[Alert]:
        """Alerts Alertmanager holds; silenced and inhibited ones marked as such."""
        params = {"silenced": str(include_suppressed).lower()}
        params["inhibited"] = params["silenced"]
        out = []
        for item in self._request("GET", "/alerts", params=params):
            labels = dict(item.get("labels", {}))
            status = item.get("status", {})
            out.append(
                Alert(
                    name=labels.get("alertname", ""),
                    state=status.get("state", "unknown"),
                    severity=labels.get("severity", ""),
                    priority=labels.get("priority", ""),
                    summary=item.get("annotations", {}).get("summary", ""),
                    labels=labels,
                    starts_at=item.get("startsAt", ""),
                    silenced_by=list(status.get("silencedBy") or []),
                    inhibited_by=list(status.get("inhibitedBy") or []),
                )
            )
        return sorted(out, key=lambda a: (a.priority or "P9", a.name))

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise DependencyDownError(
                f"Alertmanager at {self.base_url} does not answer ({type(exc).__name__}); "
                "set CHAIRSIDE_ALERTMANAGER_URL to where it runs"
            ) from None
        if response.status_code == 404 and method == "DELETE":
            raise NotFoundError(f"no silence {path.rsplit('/', 1)[-1]!r} in Alertmanager")
        if response.status_code >= 400:
            detail = response.text.strip()[:300]
            if response.status_code < 500:
                raise InputError(f"Alertmanager refused the request: {detail}")
            raise DependencyDownError(f"Alertmanager answered {response.status_code}: {detail}")
        return response.json() if response.content else None


def _from_api(item: dict[str, Any]) -> Matcher:
    return Matcher(
        item["name"], item["value"], bool(item.get("isRegex")), bool(item.get("isEqual", True))
    )


def alertmanager(settings: Settings) -> AlertmanagerClient:
    """The client of the configured Alertmanager."""
    return AlertmanagerClient(settings.alertmanager_url)
