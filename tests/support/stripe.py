"""Stripe-side helpers for tests: events in Stripe's shape and signed webhook deliveries."""

import base64
import time
from typing import Any

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
