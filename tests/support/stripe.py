"""Stripe-side helpers for tests: events in Stripe's shape, signed webhook deliveries, and the
Stripe emulator's dispute knobs over HTTP (for tests that only know the emulator's URL)."""

import base64
import time
from typing import Any

import requests

from local.apigw import http_api_event
from local.lambda_runtime import LambdaContext
from tests.support.functions import load_function
from tests.support.http import Reply


def stripe_event(
    event_id: str = "evt_1",
    event_type: str = "checkout.session.completed",
    obj: dict[str, Any] | None = None,
    **metadata: str,
) -> dict[str, Any]:
    """A Stripe event envelope (``object: event``) around ``obj`` or a minimal checkout session."""
    return {
        "id": event_id,
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
        "data": {"object": obj or {"id": "cs_test_1", "object": "checkout.session", "metadata": metadata}},
    }


def webhook_event(
    payload: str, signature: str | None, cid: str = "demo", *, base64_body: bool = False
) -> dict[str, Any]:
    """The event API Gateway sends the webhook function for Stripe's POST of ``payload``."""
    headers = {"content-type": "application/json; charset=utf-8"}
    if signature is not None:
        headers["stripe-signature"] = signature
    event = http_api_event(
        "POST",
        f"/v1/webhooks/stripe/{cid}",
        route_key="POST /v1/webhooks/stripe/{cid}",
        path_parameters={"cid": cid},
        headers=headers,
        body=payload,
    )
    if base64_body:
        event["body"] = base64.b64encode(payload.encode()).decode()
        event["isBase64Encoded"] = True
    return event


def deliver_webhook(
    payload: str, signature: str | None, cid: str = "demo", *, base64_body: bool = False
) -> Reply:
    """POST ``payload`` to the webhook function exactly as API Gateway would."""
    event = webhook_event(payload, signature, cid, base64_body=base64_body)
    result = load_function("webhook").handler(event, LambdaContext())
    return Reply(result["statusCode"], result.get("headers") or {}, result["body"])


def _emulator_knob(stripe_url: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST one `/_emulator/...` knob; a refusal raises with the emulator's message."""
    reply = requests.post(f"{stripe_url}/_emulator/{path}", json=body, timeout=10)
    payload: dict[str, Any] = reply.json()
    if reply.status_code != 200:
        raise AssertionError(f"emulator refused {path} ({reply.status_code}): {payload['error']['message']}")
    return payload


def open_dispute(
    stripe_url: str, charge: str, *, amount: int | None = None, reason: str = "fraudulent"
) -> dict[str, Any]:
    """Charge back a card payment (`charge` is a charge or PaymentIntent id); returns the dispute.

    The emulator emits `charge.dispute.created` and `charge.dispute.funds_withdrawn`.
    """
    body: dict[str, Any] = {"reason": reason}
    if amount is not None:
        body["amount"] = amount
    return _emulator_knob(stripe_url, f"charges/{charge}/dispute", body)


def close_dispute(stripe_url: str, dispute_id: str, status: str) -> dict[str, Any]:
    """Close a dispute `won` (funds reinstated) or `lost`; returns the dispute."""
    return _emulator_knob(stripe_url, f"disputes/{dispute_id}/close", {"status": status})


def another_paid_session(
    client: Any, emulator: Any, metadata: dict[str, str], amount: int, currency: str = "usd"
) -> str:
    """Another paid Checkout Session carrying ``metadata`` (a second tab, or a page opened before a
    cancel and paid after it), made and paid at Stripe; returns its payment intent."""
    session = client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "success_url": "https://attendee.example/ok",
            "line_items": [
                {
                    "price_data": {
                        "currency": currency,
                        "unit_amount": amount,
                        "product_data": {"name": "Tab"},
                    },
                    "quantity": 1,
                }
            ],
            "metadata": metadata,
            "payment_intent_data": {"metadata": metadata},
        }
    )
    emulator.pay(session.id, "succeed")
    return str(client.v1.checkout.sessions.retrieve(session.id).to_dict()["payment_intent"])
