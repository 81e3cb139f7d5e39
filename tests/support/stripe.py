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


def deliver_webhook(
    payload: str, signature: str | None, cid: str = "demo", *, base64_body: bool = False
) -> Reply:
    """POST ``payload`` to the webhook function exactly as API Gateway would."""
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
