"""Disputes: the open/close knobs, Stripe's events and shapes, and `/v1/disputes` through the SDK."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests
import stripe

from local.stripe_emulator import StripeEmulator
from tests.support.stripe import close_dispute, open_dispute

from .helpers import Receiver, event_types, wait_for

DISPUTE_EVENTS = ["charge.dispute.created", "charge.dispute.funds_withdrawn"]


def _verified(receiver: Receiver, endpoint: stripe.WebhookEndpoint, types: list[str]) -> list[stripe.Event]:
    """The signed deliveries of `types`, in arrival order, once all have arrived."""

    def arrived() -> list[stripe.Event]:
        with receiver.lock:
            deliveries = list(receiver.deliveries)
        events = [
            stripe.Webhook.construct_event(d.body, d.headers["Stripe-Signature"], endpoint.secret)
            for d in deliveries
        ]
        wanted = [e for e in events if e.type in types]
        return wanted if len(wanted) >= len(types) else []

    return wait_for(arrived)


def test_opening_a_dispute_emits_created_then_funds_withdrawn_signed_and_in_stripes_shape(
    emulator: StripeEmulator,
    client: stripe.StripeClient,
    endpoint: stripe.WebhookEndpoint,
    receiver: Receiver,
    paid_intent: stripe.PaymentIntent,
) -> None:
    opened = emulator.open_dispute(paid_intent.latest_charge)
    created, withdrawn = _verified(receiver, endpoint, DISPUTE_EVENTS)
    assert [created.type, withdrawn.type] == DISPUTE_EVENTS
    dispute = created.data.object
    assert isinstance(dispute, stripe.Dispute)
    assert dispute.id == opened["id"] and dispute.id.startswith("dp_")
    assert (dispute.amount, dispute.currency) == (paid_intent.amount, "usd")
    assert (dispute.charge, dispute.payment_intent) == (paid_intent.latest_charge, paid_intent.id)
    assert (dispute.reason, dispute.status, dispute.is_charge_refundable) == (
        "fraudulent",
        "needs_response",
        False,
    )
    assert paid_intent.metadata.to_dict() != {} and dispute.metadata.to_dict() == {}  # nothing is copied
    assert dispute.evidence_details.has_evidence is False
    assert dispute.evidence_details.due_by > dispute.created
    assert dispute.evidence.uncategorized_text is None
    assert dispute.payment_method_details.card.to_dict() == {
        "brand": "visa",
        "case_type": "chargeback",
        "network": "visa",
        "network_reason_code": "10.4",
    }
    assert dispute.balance_transactions == []
    [withdrawal] = withdrawn.data.object.balance_transactions
    assert (withdrawal.amount, withdrawal.fee, withdrawal.net) == (-5000, 1500, -6500)
    assert (withdrawal.source, withdrawal.reporting_category, withdrawal.type) == (
        dispute.id,
        "dispute",
        "adjustment",
    )
    assert client.v1.charges.retrieve(paid_intent.latest_charge).disputed is True


def test_a_won_dispute_is_closed_then_reinstated_and_the_charge_can_be_refunded_again(
    emulator: StripeEmulator,
    client: stripe.StripeClient,
    endpoint: stripe.WebhookEndpoint,
    receiver: Receiver,
    paid_intent: stripe.PaymentIntent,
) -> None:
    dispute = emulator.open_dispute(paid_intent.id, amount=1200, reason="product_not_received")
    assert dispute["amount"] == 1200 and dispute["charge"] == paid_intent.latest_charge
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.refunds.create(params={"payment_intent": paid_intent.id})
    assert refused.value.code == "charge_disputed"
    emulator.close_dispute(dispute["id"], "won")
    events = _verified(
        receiver, endpoint, [*DISPUTE_EVENTS, "charge.dispute.closed", "charge.dispute.funds_reinstated"]
    )
    assert [e.type for e in events][2:] == ["charge.dispute.closed", "charge.dispute.funds_reinstated"]
    assert events[2].data.object.status == "won"
    withdrawal, reinstated = events[3].data.object.balance_transactions
    assert (withdrawal.amount, reinstated.amount, reinstated.fee) == (-1200, 1200, 0)
    assert reinstated.reporting_category == "dispute_reversal"
    assert client.v1.disputes.retrieve(dispute["id"]).is_charge_refundable is True
    assert client.v1.refunds.create(params={"payment_intent": paid_intent.id}).status == "succeeded"


def test_a_lost_dispute_emits_only_closed_and_keeps_the_charge_unrefundable(
    emulator: StripeEmulator, client: stripe.StripeClient, paid_intent: stripe.PaymentIntent
) -> None:
    dispute = emulator.open_dispute(paid_intent.latest_charge)
    closed = emulator.close_dispute(dispute["id"], "lost")
    assert (closed["status"], len(closed["balance_transactions"])) == ("lost", 1)
    assert event_types(client, type="charge.dispute.*") == [*DISPUTE_EVENTS, "charge.dispute.closed"]
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.refunds.create(params={"charge": paid_intent.latest_charge, "amount": 100})
    assert refused.value.code == "charge_disputed"


def test_disputes_are_retrieved_and_listed_through_the_sdk_per_account(
    emulator: StripeEmulator,
    client: stripe.StripeClient,
    make_client: Callable[[str], stripe.StripeClient],
    new_session: Callable[..., stripe.checkout.Session],
    paid_intent: stripe.PaymentIntent,
) -> None:
    first = emulator.open_dispute(paid_intent.id)
    other = new_session()
    emulator.pay(other.id, "succeed")
    other_intent = client.v1.checkout.sessions.retrieve(other.id).payment_intent
    second = emulator.open_dispute(other_intent, reason="duplicate")
    fetched = client.v1.disputes.retrieve(first["id"], params={"expand": ["charge", "payment_intent"]})
    assert isinstance(fetched.charge, stripe.Charge) and fetched.charge.disputed is True
    assert isinstance(fetched.payment_intent, stripe.PaymentIntent)
    assert [d.id for d in client.v1.disputes.list().data] == [second["id"], first["id"]]
    assert [d.id for d in client.v1.disputes.list(params={"payment_intent": other_intent}).data] == [
        second["id"]
    ]
    by_charge = client.v1.disputes.list(params={"charge": paid_intent.latest_charge})
    assert [d.id for d in by_charge.data] == [first["id"]]
    assert client.v1.disputes.list(params={"limit": 1}).has_more is True
    with pytest.raises(stripe.InvalidRequestError) as missing:
        make_client("sk_test_another_account").v1.disputes.retrieve(first["id"])
    assert missing.value.code == "resource_missing"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"reason": "bored"}, "Invalid reason"),
        ({"amount": 5001}, "between 1 and the charge's amount"),
        ({"amount": 0}, "between 1 and the charge's amount"),
        ({"amount": "lots"}, "amount must be an integer"),
    ],
)
def test_opening_a_dispute_refuses_bad_input_with_a_clear_error(
    emulator: StripeEmulator, paid_intent: stripe.PaymentIntent, body: dict[str, Any], message: str
) -> None:
    reply = requests.post(f"{emulator.url}/_emulator/charges/{paid_intent.id}/dispute", json=body, timeout=5)
    assert reply.status_code == 400
    assert message in reply.json()["error"]["message"]
    assert emulator.store.accounts[next(iter(emulator.store.accounts))].objects["dispute"] == {}


def test_a_charge_is_disputed_once_and_a_dispute_is_closed_once(
    emulator: StripeEmulator, paid_intent: stripe.PaymentIntent
) -> None:
    dispute = open_dispute(emulator.url, paid_intent.latest_charge)
    with pytest.raises(AssertionError, match="already has a dispute"):
        open_dispute(emulator.url, paid_intent.id)
    assert close_dispute(emulator.url, dispute["id"], "lost")["status"] == "lost"
    with pytest.raises(AssertionError, match="already closed"):
        close_dispute(emulator.url, dispute["id"], "won")
    with pytest.raises(AssertionError, match="Invalid status"):
        close_dispute(emulator.url, dispute["id"], "draw")
    with pytest.raises(AssertionError, match=r"\(404\): No such dispute"):
        close_dispute(emulator.url, "dp_missing", "won")
    with pytest.raises(AssertionError, match=r"\(404\): No such charge"):
        open_dispute(emulator.url, "ch_missing")


def test_only_succeeded_card_payments_can_be_disputed(
    emulator: StripeEmulator, client: stripe.StripeClient, new_session: Callable[..., stripe.checkout.Session]
) -> None:
    declined = new_session()
    emulator.pay(declined.id, "decline")
    declined_intent = client.v1.checkout.sessions.retrieve(declined.id).payment_intent
    with pytest.raises(AssertionError, match="status of failed"):
        open_dispute(emulator.url, declined_intent)
    bank = new_session()
    emulator.pay(bank.id, "async_succeed")
    emulator.complete_async(bank.id)
    with pytest.raises(AssertionError, match="paid by us_bank_account"):
        open_dispute(emulator.url, client.v1.checkout.sessions.retrieve(bank.id).payment_intent)


def test_dispute_events_go_through_the_hold_and_duplicate_network_knobs(
    emulator: StripeEmulator,
    endpoint: stripe.WebhookEndpoint,
    receiver: Receiver,
    paid_intent: stripe.PaymentIntent,
) -> None:
    assert emulator.wait_for_deliveries()
    already = len(receiver.deliveries)
    emulator.hold_events()
    emulator.duplicate_next_delivery()
    dispute = emulator.open_dispute(paid_intent.id)
    emulator.close_dispute(dispute["id"], "won")
    assert emulator.wait_for_deliveries() and len(receiver.deliveries) == already
    assert emulator.release_events(reverse=True) == 5
    got = receiver.wait_for_count(already + 5)[already:]
    types = [d.event["type"] for d in got]
    assert types == [
        "charge.dispute.funds_reinstated",
        "charge.dispute.closed",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.created",
        "charge.dispute.created",
    ]
    assert got[-1].event["id"] == got[-2].event["id"]
