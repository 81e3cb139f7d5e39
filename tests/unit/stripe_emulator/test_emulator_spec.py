"""Every response the emulator serves and every event it emits matches Stripe's published OpenAPI spec.

One scenario drives every `/v1` route through the official SDK (recording each HTTP answer) and
every kind of event; each answer is checked against its operation's schema (200 or error), each
event's envelope and `data.object` against theirs, and each webhook body as delivered.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import stripe

from local.stripe_emulator import StripeEmulator, api

from .helpers import SECRET_KEY, Receiver, session_params
from .openapi import NEWER_FIELDS, StripeSpec

EMULATOR_SOURCE = Path(api.__file__).parent


@dataclass(frozen=True)
class Answer:
    """One HTTP exchange the SDK made."""

    method: str
    path: str
    status: int
    body: Any


class RecordingClient(stripe.RequestsClient):
    """The SDK's own HTTP client, keeping a copy of every answer."""

    def __init__(self) -> None:
        super().__init__()
        self.answers: list[Answer] = []

    def request(self, method: str, url: str, headers: Any, post_data: Any = None, **kwargs: Any) -> Any:
        """Send as usual, and record the answer."""
        content, status, response_headers = super().request(method, url, headers, post_data, **kwargs)
        self.answers.append(Answer(method.upper(), urlsplit(url).path, status, json.loads(content)))
        return content, status, response_headers


def _emitted_types() -> set[str]:
    """Every event type the emulator's source can emit (`store.emit(ctx, "<type>", ...)`)."""
    pattern = re.compile(r'\.emit\(\s*\w+,\s*"([a-z_.]+)"')
    return {t for path in EMULATOR_SOURCE.glob("*.py") for t in pattern.findall(path.read_text())}


def _drive_every_route(emulator: StripeEmulator, client: stripe.StripeClient, receiver: Receiver) -> None:
    """Call each `/v1` route at least once, and cause each kind of event, errors included."""
    sessions = client.v1.checkout.sessions
    endpoint = client.v1.webhook_endpoints.create(params={"url": receiver.url, "enabled_events": ["*"]})
    client.v1.webhook_endpoints.update(endpoint.id, params={"metadata": {"k": "v"}})
    client.v1.webhook_endpoints.retrieve(endpoint.id)
    client.v1.webhook_endpoints.list()
    card = sessions.create(params=session_params())
    sessions.update(card.id, params={"metadata": {"note": "x"}})
    emulator.pay(card.id, "decline")
    emulator.pay(card.id, "succeed")
    card = sessions.retrieve(card.id, params={"expand": ["payment_intent.latest_charge", "line_items"]})
    sessions.line_items.list(card.id)
    sessions.list(params={"expand": ["data.payment_intent"]})
    sessions.expire(sessions.create(params=session_params()).id)
    declined = sessions.create(params=session_params())
    emulator.pay(declined.id, "decline")
    sessions.expire(declined.id)  # cancels the declined attempt's intent
    for outcome in ("async_succeed", "async_fail"):
        bank = sessions.create(params=session_params())
        emulator.pay(bank.id, outcome)
        emulator.complete_async(bank.id)
    bank_intent = client.v1.payment_intents.retrieve(
        sessions.list(params={"limit": 2}).data[1].payment_intent
    )
    intent = card.payment_intent
    client.v1.payment_intents.list(params={"expand": ["data.latest_charge"]})
    client.v1.charges.retrieve(intent.latest_charge.id, params={"expand": ["payment_intent"]})
    client.v1.charges.list(params={"payment_intent": intent.id})
    refund = client.v1.refunds.create(
        params={"payment_intent": intent.id, "amount": 1013, "metadata": {"a": "b"}}
    )
    client.v1.refunds.update(refund.id, params={"metadata": {"c": "d"}})
    client.v1.refunds.retrieve(refund.id, params={"expand": ["charge"]})
    emulator.fail_refund(refund.id)
    client.v1.refunds.create(params={"payment_intent": bank_intent.id})
    client.v1.refunds.list(params={"limit": 100})
    client.raw_request("get", f"/v1/charges/{intent.latest_charge.id}/refunds")
    dispute = emulator.open_dispute(intent.id)
    client.v1.disputes.retrieve(dispute["id"], params={"expand": ["charge", "payment_intent"]})
    emulator.close_dispute(dispute["id"], "won")
    client.v1.disputes.list(params={"charge": intent.latest_charge.id})
    client.v1.events.retrieve(client.v1.events.list(params={"limit": 1}).data[0].id)
    for call in (
        lambda: client.v1.refunds.create(params={"payment_intent": declined.payment_intent}),
        lambda: client.v1.disputes.retrieve("dp_missing"),
        lambda: sessions.create(params=session_params(line_items=[])),
    ):
        with pytest.raises(stripe.InvalidRequestError):
            call()
    assert emulator.wait_for_deliveries()
    client.v1.events.list(params={"limit": 100})
    client.v1.webhook_endpoints.delete(endpoint.id)


def test_every_response_and_event_matches_stripes_openapi_spec(
    emulator: StripeEmulator, receiver: Receiver, stripe_spec: StripeSpec
) -> None:
    recorder = RecordingClient()
    client = stripe.StripeClient(
        SECRET_KEY, base_addresses={"api": emulator.url}, max_network_retries=0, http_client=recorder
    )
    _drive_every_route(emulator, client, receiver)

    served = {api.match(a.method, a.path)[0].pattern.pattern for a in recorder.answers}  # type: ignore[index]
    assert served == {route.pattern.pattern for route in api.ROUTES}, "a /v1 route is not exercised"
    assert {a.status for a in recorder.answers} >= {200, 400, 404}
    departures = [
        f"{a.method} {a.path} → {a.status}: {error}"
        for a in recorder.answers
        for error in stripe_spec.response_errors(a.method, a.path, a.status, a.body)
    ]
    events = [e.to_dict() for e in client.v1.events.list(params={"limit": 100}).auto_paging_iter()]
    assert {e["type"] for e in events} == _emitted_types(), "an event type is not exercised"
    departures += [f"event {e['type']}: {error}" for e in events for error in stripe_spec.event_errors(e)]
    delivered = receiver.events()
    assert len(delivered) >= len(events)
    departures += [
        f"webhook {e['type']}: {error}" for e in delivered for error in stripe_spec.event_errors(e)
    ]
    assert departures == []


def test_the_spec_check_catches_what_stripe_omits_and_keys_it_does_not_have(
    client: stripe.StripeClient, paid_intent: stripe.PaymentIntent, stripe_spec: StripeSpec
) -> None:
    refund = client.v1.refunds.create(params={"payment_intent": paid_intent.id, "amount": 100}).to_dict()
    assert stripe_spec.object_errors(refund) == []
    null_reason = stripe_spec.object_errors({**refund, "failure_reason": None})
    assert null_reason and all(e.startswith("['failure_reason']: None") for e in null_reason)
    [unknown] = stripe_spec.object_errors({**refund, "refunded_by": "me"})
    assert "'refunded_by' was unexpected" in unknown
    assert stripe_spec.object_errors({**refund, "charge": None}) == []  # nullable and expandable
    [expanded] = stripe_spec.object_errors({**refund, "charge": {"id": "ch_1", "object": "charge"}})
    assert "['charge']" in expanded
    assert stripe_spec.response_errors("GET", "/v1/disputes/dp_1", 404, {"error": {"message": "x"}}) == [
        "['error']: 'type' is a required property"
    ]


def test_fields_allowed_beyond_the_2024_spec_are_declared_by_the_pinned_sdk() -> None:
    undeclared = {
        name: sorted(fields - set(sdk_class.__annotations__))
        for name, (sdk_class, fields) in NEWER_FIELDS.items()
        if fields - set(sdk_class.__annotations__)
    }
    assert undeclared == {}


def test_the_source_scan_finds_the_emitted_event_types() -> None:
    assert {
        "checkout.session.completed",
        "charge.dispute.created",
        "charge.dispute.funds_reinstated",
        "refund.failed",
    } <= _emitted_types()


def test_operation_lookup_prefers_the_exact_path(stripe_spec: StripeSpec) -> None:
    assert stripe_spec.operation("POST", "/v1/checkout/sessions/cs_1/expire").template.endswith("/expire")
    with pytest.raises(KeyError):
        stripe_spec.operation("GET", "/v1/nothing")
