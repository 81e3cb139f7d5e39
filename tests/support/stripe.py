"""Stripe-side helpers for tests: events in Stripe's shape, signed webhook deliveries, an SDK client
on the emulator and what it holds (events, sessions), and the emulator's dispute knobs over HTTP
(for tests that only know the emulator's URL).

Imported as a module where ``stripe`` (the SDK) is imported too:
``from tests.support import stripe as stripe_support``.
"""

import base64
import time
from typing import Any

import requests

from local.apigw import http_api_event
from local.lambda_runtime import LambdaContext
from local.stripe_emulator.objects import event
from tests.support.functions import load_function
from tests.support.http import DEMO_CONFERENCE, Reply

WEBHOOK_SECRET = DEMO_CONFERENCE["stripe"]["webhook_secret"]
"""The demo conference's webhook signing secret: what a genuine delivery is signed with."""


def client_at(url: str, secret_key: str) -> Any:
    """An SDK client (``stripe.StripeClient``) of ``secret_key``'s account at the emulator at ``url``."""
    import stripe

    stripe.enable_telemetry = False
    return stripe.StripeClient(secret_key, base_addresses={"api": url}, max_network_retries=0)


def stripe_client(emulator: Any) -> Any:
    """An SDK client of the demo conference's Stripe account at the in-process ``emulator``."""
    return client_at(emulator.url, DEMO_CONFERENCE["stripe"]["secret_key"])


def emulator_events(emulator: Any, event_type: str | None = None, **match: Any) -> list[dict[str, Any]]:
    """The emulator's events (of ``event_type``), oldest first, whose object matches ``match``."""
    params: dict[str, Any] = {"limit": 100}
    if event_type is not None:
        params["type"] = event_type
    page = stripe_client(emulator).v1.events.list(params=params)
    events = [e.to_dict() for e in page.auto_paging_iter()][::-1]  # Stripe lists newest first
    return [e for e in events if all(e["data"]["object"].get(k) == v for k, v in match.items())]


def one_event(emulator: Any, event_type: str, **match: Any) -> dict[str, Any]:
    """The one event of ``event_type`` whose object matches ``match`` (fails if there are more or none)."""
    found = emulator_events(emulator, event_type, **match)
    assert len(found) == 1, [e["type"] for e in found]
    return found[0]


def variant(
    event: dict[str, Any], event_id: str, event_type: str | None = None, **obj: Any
) -> dict[str, Any]:
    """A copy of a real emulator event with a new id, and optionally a new type or object fields."""
    return {
        **event,
        "id": event_id,
        "type": event_type or event["type"],
        "data": {**event["data"], "object": {**event["data"]["object"], **obj}},
    }


def session_intent(emulator: Any, session_id: str) -> str:
    """The payment intent a paid Checkout Session made."""
    return stripe_client(emulator).v1.checkout.sessions.retrieve(session_id).to_dict()["payment_intent"]


def sessions_of(client: Any, order_id: str) -> list[dict[str, Any]]:
    """Every Checkout Session ``client``'s account holds for the order ``order_id`` (by its metadata)."""
    page = client.v1.checkout.sessions.list(params={"limit": 100})
    found = [s.to_dict() for s in page.auto_paging_iter()]
    return [s for s in found if (s.get("metadata") or {}).get("order_id") == order_id]


def stripe_event(
    event_id: str = "evt_1",
    event_type: str = "checkout.session.completed",
    obj: dict[str, Any] | None = None,
    **metadata: str,
) -> dict[str, Any]:
    """A Stripe event envelope (``object: event``, as the emulator builds one) around ``obj`` or a
    minimal checkout session."""
    return event(
        event_id=event_id,
        created=int(time.time()),
        type_=event_type,
        data_object=obj or {"id": "cs_test_1", "object": "checkout.session", "metadata": metadata},
        previous_attributes=None,
        pending_webhooks=1,
        request_id=None,
        idempotency_key=None,
    )


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
