"""A stand-in for api.stripe.com on loopback: the network edge the stripe SDK talks to.

It answers the few endpoints the adapter uses (PaymentIntents, Refunds, Checkout Sessions:
create, expire, retrieve) the way Stripe's
test mode does for its documented test PaymentMethods, records every request, and signs
webhook events the way Stripe does (``Stripe-Signature: t=…,v1=…``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from chairside.runtime.ports import free_port

PM_SUCCEEDS = "pm_card_visa"
PM_DECLINED = "pm_card_chargeDeclined"
PM_PROCESSING = "pm_card_processing"  # stands in for a method that settles asynchronously


@dataclass
class FakeStripe:
    base_url: str
    webhook_secret: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    checkouts: dict[str, dict[str, Any]] = field(default_factory=dict)

    def signed_event(self, event_type: str, intent_id: str) -> tuple[bytes, dict[str, str]]:
        """A webhook body and headers as Stripe would send them."""
        intent = dict(self.intents[intent_id])
        intent["status"] = {"payment_intent.succeeded": "succeeded"}.get(
            event_type, intent["status"]
        )
        return self.sign(event_type, intent)

    def complete_checkout(self, checkout_id: str) -> tuple[bytes, dict[str, str]]:
        """The client paid on the hosted page: its PaymentIntent, and the signed event."""
        checkout = self.checkouts[checkout_id]
        intent = {
            "id": "pi_" + secrets.token_hex(12),
            "object": "payment_intent",
            "amount": checkout["amount_total"],
            "amount_received": checkout["amount_total"],
            "currency": checkout["currency"],
            "status": "succeeded",
            "refunded": 0,
            "metadata": checkout["metadata"],
        }
        self.intents[intent["id"]] = intent
        checkout.update(status="complete", payment_status="paid", payment_intent=intent["id"])
        return self.sign("checkout.session.completed", dict(checkout))

    def sign(self, event_type: str, obj: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        """An event about ``obj``, signed with the webhook secret like Stripe's."""
        body = json.dumps(
            {
                "id": "evt_" + secrets.token_hex(12),
                "object": "event",
                "type": event_type,
                "created": int(time.time()),
                "data": {"object": obj},
            }
        )
        timestamp = int(time.time())
        mac = hmac.new(
            self.webhook_secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256
        ).hexdigest()
        return body.encode(), {"stripe-signature": f"t={timestamp},v1={mac}"}


def _handler(state: FakeStripe) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
            return

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Request-Id", "req_" + secrets.token_hex(6))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
            form = {k: v[0] for k, v in parse_qs(raw).items()}
            state.requests.append(
                {
                    "path": self.path,
                    "form": form,
                    "idempotency_key": self.headers.get("Idempotency-Key"),
                    "authorization": self.headers.get("Authorization"),
                }
            )
            if self.path == "/v1/payment_intents":
                self._payment_intent(form)
            elif self.path == "/v1/refunds":
                self._refund(form)
            elif self.path == "/v1/checkout/sessions":
                self._checkout(form)
            elif self.path.startswith("/v1/checkout/sessions/") and self.path.endswith("/expire"):
                self._expire(self.path.split("/")[4])
            else:
                self._reply(404, {"error": {"type": "invalid_request_error", "message": "no"}})

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            found = state.checkouts.get(self.path.removeprefix("/v1/checkout/sessions/"))
            if found is None:
                self._reply(404, {"error": {"type": "invalid_request_error", "message": "no"}})
            else:
                self._reply(200, found)

        def _checkout(self, form: dict[str, str]) -> None:
            checkout_id = "cs_test_" + secrets.token_hex(12)
            checkout = {
                "id": checkout_id,
                "object": "checkout.session",
                "mode": form["mode"],
                "amount_total": int(form["line_items[0][price_data][unit_amount]"]),
                "currency": form["line_items[0][price_data][currency]"],
                "metadata": {
                    k.removeprefix("metadata[").removesuffix("]"): v
                    for k, v in form.items()
                    if k.startswith("metadata[")
                },
                "payment_intent": None,
                "payment_status": "unpaid",
                "status": "open",
                "success_url": form["success_url"],
                "cancel_url": form["cancel_url"],
                "url": f"{state.base_url}/c/pay/{checkout_id}",
            }
            state.checkouts[checkout_id] = checkout
            self._reply(200, checkout)

        def _expire(self, checkout_id: str) -> None:
            checkout = state.checkouts.get(checkout_id)
            if checkout is None or checkout["status"] != "open":
                message = "Only Checkout Sessions with a status of open can be expired."
                self._reply(400, {"error": {"type": "invalid_request_error", "message": message}})
                return
            checkout["status"] = "expired"
            self._reply(200, checkout)

        def _payment_intent(self, form: dict[str, str]) -> None:
            intent = {
                "id": "pi_" + secrets.token_hex(12),
                "object": "payment_intent",
                "amount": int(form["amount"]),
                "amount_received": 0,
                "currency": form["currency"],
                "payment_method": form.get("payment_method"),
                "status": "succeeded",
                "refunded": 0,
            }
            method = form.get("payment_method")
            if method == PM_DECLINED:
                intent["status"] = "requires_payment_method"
                state.intents[intent["id"]] = intent
                self._reply(
                    402,
                    {
                        "error": {
                            "type": "card_error",
                            "code": "card_declined",
                            "decline_code": "generic_decline",
                            "message": "Your card was declined.",
                            "payment_intent": intent,
                        }
                    },
                )
                return
            if method == PM_PROCESSING:
                intent["status"] = "processing"
            elif method != PM_SUCCEEDS:
                self._reply(
                    400,
                    {
                        "error": {
                            "type": "invalid_request_error",
                            "code": "resource_missing",
                            "message": f"No such PaymentMethod: '{method}'",
                        }
                    },
                )
                return
            state.intents[intent["id"]] = intent
            self._reply(200, intent)

        def _refund(self, form: dict[str, str]) -> None:
            intent = state.intents.get(form.get("payment_intent", ""))
            amount = int(form.get("amount", "0"))
            if intent is None or amount > intent["amount"] - intent["refunded"]:
                self._reply(
                    400,
                    {"error": {"type": "invalid_request_error", "message": "Refund is too large."}},
                )
                return
            intent["refunded"] += amount
            self._reply(
                200,
                {
                    "id": "re_" + secrets.token_hex(12),
                    "object": "refund",
                    "amount": amount,
                    "payment_intent": intent["id"],
                    "status": "succeeded",
                },
            )

    return Handler


@contextmanager
def fake_stripe() -> Iterator[FakeStripe]:
    """Serve the stand-in on a free loopback port."""
    port = free_port()
    state = FakeStripe(
        base_url=f"http://127.0.0.1:{port}", webhook_secret="whsec_" + secrets.token_hex(16)
    )
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
