"""Structured logs: one JSON object per line, with the request id when there is one."""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path

API_LOG = "api.log"  # under $CHAIRSIDE_HOME/log, rotated by `chairside maintenance logs`

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
# What the request learnt about its caller, for the access log: the middleware sets a
# fresh dict per request; a route's thread gets the same dict (contexts are copied by
# reference), so what authentication notes there reaches the log line.
request_facts_var: ContextVar[dict[str, str] | None] = ContextVar("request_facts", default=None)


def note_user(user_id: str) -> None:
    """Remember the authenticated caller of the current request (no-op outside one)."""
    facts = request_facts_var.get()
    if facts is not None:
        facts["user_id"] = user_id


_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message"}


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line; extra fields passed with ``extra=`` are kept."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(
    level: str = "INFO", *, json_lines: bool = True, file: Path | None = None
) -> None:
    """Send Chairside's logs to stderr, as JSON lines or plain text, and to ``file``.

    The file always gets JSON lines (forensics read it with tools), opened for appending:
    ``chairside maintenance logs`` copies and truncates it in place, and every worker's
    next line lands at the new end.
    """
    handler = logging.StreamHandler(sys.stderr)
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handlers: list[logging.Handler] = [handler]
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        to_file = logging.FileHandler(file, mode="a", encoding="utf-8")
        to_file.setFormatter(JsonFormatter())
        handlers.append(to_file)
    root = logging.getLogger("chairside")
    for old in root.handlers:
        if old not in handlers:
            old.close()
    root.handlers[:] = handlers
    root.setLevel(level)
    root.propagate = False
