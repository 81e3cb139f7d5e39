"""Events: Stripe's order and shapes for each outcome, and the `/v1/events` filters."""

from __future__ import annotations

import time
from collections.abc import Callable

import stripe

from local.stripe_emulator import StripeEmulator

from .helpers import event_types, wait_for

SUCCEED = [
    "payment_intent.created",
    "payment_intent.succeeded",
    "charge.succeeded",
    "checkout.session.completed",
]
ASYNC_SUBMITTED = [
    "payment_intent.created",
    "payment_intent.processing",
    "charge.pending",
    "checkout.session.completed",
]


def test_card_success_emits_intent_charge_then_session_completed_paid(
    emulator: StripeEmulator, client: stripe.StripeClient, new_session: Callable[..., stripe.checkout.Session]
) -> None:
    session = new_session()
    emulator.pay(session.id, "succeed")
    assert event_types(client) == SUCCEED
    completed = client.v1.events.list(params={"type": "checkout.session.completed"}).data[0]
    assert completed.data.object.payment_status == "paid"
    assert completed.data.object.id == session.id


def test_decline_emits_payment_failed_and_charge_failed_only(
    emulator: StripeEmulator, client: stripe.StripeClient, new_session: Callable[..., stripe.checkout.Session]
) -> None:
    session = new_session()
    emulator.pay(session.id, "decline")
    assert event_types(client) == ["payment_intent.created", "payment_intent.payment_failed", "charge.failed"]


def test_async_success_emits_completed_unpaid_then_async_payment_succeeded_paid(
    emulator: StripeEmulator, client: stripe.StripeClient, new_session: Callable[..., stripe.checkout.Session]
) -> None:
    session = new_session()
    emulator.pay(session.id, "async_succeed")
    assert event_types(client) == ASYNC_SUBMITTED
    completed = client.v1.events.list(params={"type": "checkout.session.completed"}).data[0]
    assert completed.data.object.payment_status == "unpaid"
    wait_for(lambda: len(event_types(client)) == 7)
    assert event_types(client)[4:] == [
        "payment_intent.succeeded",
        "charge.succeeded",
        "checkout.session.async_payment_succeeded",
    ]
    later = client.v1.events.list(params={"type": "checkout.session.async_payment_succeeded"}).data[0]
    assert later.data.object.payment_status == "paid"


def test_async_failure_emits_completed_unpaid_then_async_payment_failed(
    emulator: StripeEmulator, client: stripe.StripeClient, new_session: Callable[..., stripe.checkout.Session]
) -> None:
    session = new_session()
    emulator.pay(session.id, "async_fail")
    emulator.complete_async(session.id)
    assert event_types(client) == [
        *ASYNC_SUBMITTED,
        "payment_intent.payment_failed",
        "charge.failed",
        "checkout.session.async_payment_failed",
    ]
    failed = client.v1.events.list(params={"type": "checkout.session.async_payment_failed"}).data[0]
    assert failed.data.object.payment_status == "unpaid"


def test_event_data_is_a_snapshot_of_the_object_at_that_time(
    emulator: StripeEmulator, client: stripe.StripeClient, new_session: Callable[..., stripe.checkout.Session]
) -> None:
    session = new_session()
    emulator.pay(session.id, "async_succeed")
    emulator.complete_async(session.id)
    intent_events = client.v1.events.list(params={"type": "payment_intent.*"}).data
    statuses = [e.data.object.status for e in reversed(intent_events)]
    assert statuses == ["requires_payment_method", "processing", "succeeded"]


def test_events_from_an_api_call_record_its_request_and_idempotency_key(
    client: stripe.StripeClient, paid_intent: stripe.PaymentIntent
) -> None:
    refund = client.v1.refunds.create(
        params={"payment_intent": paid_intent.id, "amount": 100}, options={"idempotency_key": "refund-1"}
    )
    event = client.v1.events.list(params={"type": "refund.created"}).data[0]
    assert event.data.object.id == refund.id
    assert event.request.idempotency_key == "refund-1"
    assert event.request.id == refund.last_response.request_id


def test_events_filter_by_type_wildcard_types_and_created(
    emulator: StripeEmulator, client: stripe.StripeClient, new_session: Callable[..., stripe.checkout.Session]
) -> None:
    first = new_session()
    emulator.pay(first.id, "succeed")
    emulator.advance_clock(100)
    second = new_session()
    emulator.pay(second.id, "decline")
    assert event_types(client, type="checkout.session.*") == ["checkout.session.completed"]
    assert event_types(client, type="charge.succeeded") == ["charge.succeeded"]
    assert event_types(client, types=["charge.succeeded", "charge.failed"]) == [
        "charge.succeeded",
        "charge.failed",
    ]
    cutoff = int(time.time()) + 50
    assert event_types(client, created={"gte": cutoff}) == [
        "payment_intent.created",
        "payment_intent.payment_failed",
        "charge.failed",
    ]
    assert event_types(client, created={"lt": cutoff}) == SUCCEED


def test_events_can_be_retrieved_by_id(
    client: stripe.StripeClient, paid_intent: stripe.PaymentIntent
) -> None:
    listed = client.v1.events.list(params={"limit": 1}).data[0]
    fetched = client.v1.events.retrieve(listed.id)
    assert fetched.to_dict() == listed.to_dict()
