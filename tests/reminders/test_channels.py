"""The reminder channel contract, against the in-memory fake and apprise with a real HTTP
receiver: taken, surely refused (retry is safe), or unknown (never retried)."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from chairside.reminders.apprise_channel import AppriseReminderChannel
from chairside.reminders.channel import ChannelConfig, ReminderMessage
from chairside.reminders.memory import MemoryReminderChannel
from chairside.runtime.ports import free_port


def _message() -> ReminderMessage:
    return ReminderMessage(
        reminder_id=uuid.uuid4(),
        channel="email",
        email="ada+test@example.com",
        phone=None,
        title="Reminder: Haircut on Sat 30 Oct at 10:00",
        body="Your booking: Haircut with Alex at Test Cuts, Saturday.",
    )


class Gateway:
    """An HTTP endpoint answering ``status`` (after ``delay`` seconds) and keeping bodies."""

    def __init__(self, status: int = 200, delay: float = 0.0) -> None:
        self.received: list[dict[str, Any]] = []
        self.done = threading.Event()
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                length = int(self.headers.get("content-length", 0))
                gateway.received.append(json.loads(self.rfile.read(length)))
                gateway.done.wait(delay)
                self.send_response(status)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.done.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    box = Gateway()
    yield box
    box.close()


def test_both_channels_deliver_a_reminder_to_the_clients_address(gateway: Gateway) -> None:
    memory = MemoryReminderChannel()
    apprise_channel = AppriseReminderChannel(
        ChannelConfig("email", f"json://127.0.0.1:{gateway.port}/hook?:to={{email}}")
    )
    for channel in (memory, apprise_channel):
        assert channel.deliver(_message()).ok
    assert memory.sent[0].email == "ada+test@example.com"
    [body] = gateway.received
    assert body["to"] == "ada+test@example.com"
    assert body["title"].startswith("Reminder: Haircut")


def test_a_refusal_is_definite_so_a_retry_cannot_make_a_duplicate() -> None:
    refusing = Gateway(status=503)
    try:
        for url in (
            f"json://127.0.0.1:{refusing.port}/hook",  # answered: error=503
            f"json://127.0.0.1:{free_port()}/hook",  # nothing listens: refused
        ):
            result = AppriseReminderChannel(ChannelConfig("sms", url)).deliver(_message())
            assert (result.ok, result.definite) == (False, True), result
            assert result.error and result.error.startswith("sms: ")
        assert not MemoryReminderChannel(fail=True).deliver(_message()).ok
    finally:
        refusing.close()


def test_no_answer_after_the_request_went_out_is_an_unknown_outcome() -> None:
    silent = Gateway(delay=10)
    try:
        channel = AppriseReminderChannel(
            ChannelConfig("email", f"json://127.0.0.1:{silent.port}/hook?rto=0.5")
        )
        result = channel.deliver(_message())
    finally:
        silent.close()
    assert len(silent.received) == 1  # the gateway got it; it just never said so
    assert (result.ok, result.definite) == (False, False), result
    assert result.error and "outcome unknown" in result.error
