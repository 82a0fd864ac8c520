"""Notify on changes of state, once: scheduled jobs that fail, health checks that turn bad.

Each thing watched has a key (``job:backup-full``, ``health:disk``) and a last known
state, kept in ``$CHAIRSIDE_HOME/notify/state.json``. A message goes out when a key turns
bad (or worse), and a recovery notice when a key people were told about is ok again;
the same state twice in a row sends nothing, so a check failing every 15 minutes pages
once, not every 15 minutes.

A message is held back, and the key remembered as "not yet told", while:

- maintenance mode is on: the operator is working on the service (a deployment, a
  restore) and expects checks to be red;
- an active Alertmanager silence matches its labels (``alertname`` = ``ChairsideJobFailed``
  or ``ChairsideHealthCheck``, ``job`` or ``check``, ``severity``): the same
  ``chairside alerts silence`` that quiets Prometheus' alerts quiets these.

A key still bad once the hold ends is told then. Each message sent (or held back) is an
ops event, ``notify.sent`` (``notify.held``), naming its keys.
"""

from __future__ import annotations

import fcntl
import json
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chairside.config import Settings
from chairside.errors import ChairsideError
from chairside.ops.deploy.modes import ModeSwitch
from chairside.ops.notify.base import Notification, Notifier, Severity
from chairside.ops.notify.service import notifier_from_settings
from chairside.ops.timeline.store import open_ops_store

RANK = {"ok": 0, "warning": 1, "unknown": 2, "failed": 3, "critical": 3}
_LOCK = threading.Lock()  # the scheduler runs jobs in threads of one process


@dataclass(frozen=True)
class Change:
    """One watched thing's state now, with the labels silences match on."""

    key: str
    state: str  # ok, warning, unknown, critical, failed
    line: str  # one line for the message
    labels: Mapping[str, str]


def state_file(settings: Settings) -> Path:
    return settings.home / "notify" / "state.json"


def notify_changes(
    settings: Settings,
    changes: Sequence[Change],
    *,
    title: str,
    notifier: Notifier | None = None,
) -> dict[str, Any] | None:
    """Send what changed among ``changes`` (one problem message, one recovery message at
    most); None when nothing was to be told. Never raises for a delivery failure."""
    if notifier is None and settings.notify_urls is None:
        return None
    with _locked(settings):
        known = _read(settings)
        problems, recoveries = _decide(known, changes)
        if not problems and not recoveries:
            _write(settings, known)
            return None
        held = _hold_reason(settings, problems)
        result: dict[str, Any] = {"held": held, "sent": []}
        now = datetime.now(UTC).isoformat(timespec="seconds")
        for change in changes:
            entry = known.setdefault(change.key, {"state": "ok", "told": False})
            entry["state"] = change.state
            entry["at"] = now
        if held is None and problems:
            result["sent"].append(_send(settings, notifier, title, problems, recovered=False))
            for change in problems:
                known[change.key]["told"] = True
                known[change.key]["told_state"] = change.state
        if recoveries:
            result["sent"].append(_send(settings, notifier, title, recoveries, recovered=True))
            for change in recoveries:
                known[change.key]["told"] = False
                known[change.key].pop("told_state", None)
        if held is not None and problems:
            open_ops_store(settings).record(
                "notify.held",
                f"not told ({held}): " + "; ".join(c.line for c in problems)[:300],
                details={"keys": [c.key for c in problems], "reason": held},
            )
        _write(settings, known)
        return result


def _decide(
    known: dict[str, dict[str, Any]], changes: Sequence[Change]
) -> tuple[list[Change], list[Change]]:
    problems, recoveries = [], []
    for change in changes:
        entry = known.get(change.key, {"state": "ok", "told": False})
        told = bool(entry.get("told"))
        if change.state == "ok":
            if told:
                recoveries.append(change)
            continue
        told_rank = RANK.get(str(entry.get("told_state", "ok")), 0) if told else 0
        # New, worse than what people were told, or never told (held back before).
        if RANK.get(change.state, 3) > told_rank:
            problems.append(change)
    return problems, recoveries


def _hold_reason(settings: Settings, problems: Sequence[Change]) -> str | None:
    if not problems:
        return None
    modes = ModeSwitch(settings).current()
    if modes.maintenance:
        return "maintenance mode is on" + (f" ({modes.reason})" if modes.reason else "")
    silence = _matching_silence(settings, problems)
    if silence is not None:
        return f"silenced by {silence}"
    return None


def _matching_silence(settings: Settings, problems: Sequence[Change]) -> str | None:
    """An active Alertmanager silence matching every problem's labels, if one answers."""
    from chairside.ops.monitoring.alerts import AlertmanagerClient, parse_matcher

    try:
        with AlertmanagerClient(settings.alertmanager_url, timeout=1.0) as client:
            silences = [s for s in client.silences() if s.state == "active"]
    except (ChairsideError, OSError):
        return None  # no Alertmanager here: nothing is silenced
    for silence in silences:
        try:
            matchers = [parse_matcher(m) for m in silence.matchers]
        except ChairsideError:
            continue
        if all(all(_matches(m, c.labels) for m in matchers) for c in problems):
            return silence.id
    return None


def _matches(matcher: Any, labels: Mapping[str, str]) -> bool:
    value = labels.get(matcher.name, "")
    if matcher.is_regex:
        hit = re.fullmatch(matcher.value, value) is not None
    else:
        hit = value == matcher.value
    return hit if matcher.is_equal else not hit


def _send(
    settings: Settings,
    notifier: Notifier | None,
    title: str,
    changes: Sequence[Change],
    *,
    recovered: bool,
) -> dict[str, Any]:
    worst = max(changes, key=lambda c: RANK.get(c.state, 3)).state
    severity = (
        Severity.OK
        if recovered
        else (Severity.WARNING if worst in ("warning", "unknown") else Severity.CRITICAL)
    )
    heading = f"{title}: " + (
        "recovered"
        if recovered
        else ", ".join(f"{c.key.split(':', 1)[-1]} {c.state}" for c in changes)
    )
    message = Notification(
        title=heading, body="\n".join(c.line for c in changes), severity=severity
    )
    try:
        report = (notifier or notifier_from_settings(settings)).send(message).to_dict()
    except ChairsideError as exc:
        report = {"ok": False, "error": exc.message}
    open_ops_store(settings).record(
        "notify.sent",
        heading[:200],
        status="ok" if report.get("ok") else "failed",
        details={
            "keys": [c.key for c in changes],
            "recovered": recovered,
            "title": heading,
            "delivery": report,
        },
    )
    return {"title": heading, "keys": [c.key for c in changes], **report}


@contextmanager
def _locked(settings: Settings) -> Iterator[None]:
    """One writer of the state at a time: the scheduler's threads and the health job."""
    path = state_file(settings).with_suffix(".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    with _LOCK, path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read(settings: Settings) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(state_file(settings).read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(settings: Settings, known: dict[str, dict[str, Any]]) -> None:
    path = state_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(known, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
