"""The emulator's objects carry every top-level field of Stripe's own, and parse into SDK types."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import stripe

from local.stripe_emulator import API_VERSION, StripeEmulator

from .helpers import Receiver, wait_for

FIXTURES = Path(__file__).with_name("stripe_fixtures.json")
# Where the project keeps Stripe's full fixture file, relative to the repository (docs/architecture.md "Running it offline").
SHARED_FIXTURES = Path(
    os.environ.get("STRIPE_FIXTURES", Path(__file__).resolve().parents[4] / "shared/stripe/fixtures3.json")
)


def fixture(name: str) -> dict[str, Any]:
    return json.loads(FIXTURES.read_text())["resources"][name]


def assert_has_stripe_fields(obj: stripe.StripeObject, name: str) -> None:
    expected = fixture(name)
    got = obj.to_dict()
    missing = sorted(set(expected) - set(got))
    assert missing == [], f"{name} lacks Stripe fields {missing}"
    assert got["object"] == expected["object"]


@pytest.mark.skipif(not SHARED_FIXTURES.exists(), reason="the shared Stripe fixture file is not here")
def test_bundled_fixtures_match_the_shared_stripe_fixture_file() -> None:
    shared = json.loads(SHARED_FIXTURES.read_text())["resources"]
    bundled = json.loads(FIXTURES.read_text())["resources"]
    for name, obj in bundled.items():
        assert obj == shared[name], name


def test_every_resource_has_all_of_stripes_top_level_fields(
    emulator: StripeEmulator,
    client: stripe.StripeClient,
    new_session: Callable[..., stripe.checkout.Session],
    endpoint: stripe.WebhookEndpoint,
    receiver: Receiver,
) -> None:
    session = new_session()
    assert_has_stripe_fields(session, "checkout.session")
    assert_has_stripe_fields(client.v1.checkout.sessions.line_items.list(session.id).data[0], "item")
    emulator.pay(session.id, "succeed")
    session = client.v1.checkout.sessions.retrieve(session.id)
    assert_has_stripe_fields(session, "checkout.session")
    intent = client.v1.payment_intents.retrieve(session.payment_intent)
    assert_has_stripe_fields(intent, "payment_intent")
    charge = client.v1.charges.retrieve(intent.latest_charge)
    assert_has_stripe_fields(charge, "charge")
    refund = client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 500})
    assert_has_stripe_fields(refund, "refund")
    event = client.v1.events.list().data[0]
    assert_has_stripe_fields(event, "event")
    assert_has_stripe_fields(endpoint, "webhook_endpoint")
    assert_has_stripe_fields(client.v1.webhook_endpoints.retrieve(endpoint.id), "webhook_endpoint")
    delivered = receiver.wait_for_count(1)[0].event
    assert set(fixture("event")) <= set(delivered)
    dispute = emulator.open_dispute(intent.id)
    assert_has_stripe_fields(client.v1.disputes.retrieve(dispute["id"]), "dispute")
    withdrawal = client.v1.disputes.retrieve(dispute["id"]).balance_transactions[0]
    assert_has_stripe_fields(withdrawal, "balance_transaction")
    declined = new_session()
    emulator.pay(declined.id, "decline")
    error = client.v1.payment_intents.retrieve(
        client.v1.checkout.sessions.retrieve(declined.id).payment_intent
    ).last_payment_error
    assert_has_stripe_fields(error.payment_method, "payment_method")


def test_sdk_parses_every_response_into_its_typed_object(
    emulator: StripeEmulator,
    client: stripe.StripeClient,
    new_session: Callable[..., stripe.checkout.Session],
    endpoint: stripe.WebhookEndpoint,
) -> None:
    session = new_session()
    assert isinstance(session, stripe.checkout.Session)
    emulator.pay(session.id, "succeed")
    session = client.v1.checkout.sessions.retrieve(
        session.id, params={"expand": ["payment_intent.latest_charge"]}
    )
    assert isinstance(session.payment_intent, stripe.PaymentIntent)
    assert isinstance(session.payment_intent.latest_charge, stripe.Charge)
    refund = client.v1.refunds.create(params={"payment_intent": session.payment_intent.id})
    assert isinstance(refund, stripe.Refund)
    assert isinstance(client.v1.events.list().data[0], stripe.Event)
    assert isinstance(endpoint, stripe.WebhookEndpoint)
    assert isinstance(client.v1.checkout.sessions.list(), stripe.ListObject)
    assert isinstance(client.v1.checkout.sessions.line_items.list(session.id).data[0], stripe.LineItem)


def test_events_carry_the_pinned_api_version_and_test_mode(
    emulator: StripeEmulator, client: stripe.StripeClient, new_session: Callable[..., stripe.checkout.Session]
) -> None:
    session = new_session()
    emulator.pay(session.id, "succeed")
    event = wait_for(lambda: client.v1.events.list(params={"type": "checkout.session.completed"}).data)[0]
    assert event.api_version == API_VERSION == stripe.api_version
    assert event.livemode is False
    assert event.id.startswith("evt_")
    assert event.data.object.id == session.id
    assert event.request.to_dict() == {"id": None, "idempotency_key": None}


def test_ids_look_like_stripes(
    emulator: StripeEmulator,
    client: stripe.StripeClient,
    paid_intent: stripe.PaymentIntent,
    endpoint: stripe.WebhookEndpoint,
) -> None:
    refund = client.v1.refunds.create(params={"payment_intent": paid_intent.id, "amount": 100})
    assert paid_intent.id.startswith("pi_")
    assert paid_intent.latest_charge.startswith("ch_")
    assert refund.id.startswith("re_")
    assert endpoint.id.startswith("we_")
    assert endpoint.secret.startswith("whsec_")
    assert client.v1.checkout.sessions.list().data[0].id.startswith("cs_test_")


def test_a_refund_omits_what_stripe_does_not_know_yet(
    emulator: StripeEmulator, client: stripe.StripeClient, paid_intent: stripe.PaymentIntent
) -> None:
    refund = client.v1.refunds.create(params={"payment_intent": paid_intent.id, "amount": 700}).to_dict()
    assert "failure_reason" not in refund and "failure_balance_transaction" not in refund
    created = client.v1.events.list(params={"type": "refund.created"}).data[0].data.object.to_dict()
    assert created["destination_details"]["card"] == {
        "reference_status": "pending",
        "reference_type": "acquirer_reference_number",
        "type": "refund",
    }
    assert refund["destination_details"]["card"]["reference"]  # available once refund.updated said so
    failed = emulator.fail_refund(refund["id"], "expired_or_canceled_card")
    assert failed["failure_reason"] == "expired_or_canceled_card"
    assert failed["failure_balance_transaction"].startswith("txn_")
    charge = client.v1.charges.retrieve(paid_intent.latest_charge).to_dict()
    assert set(charge["refunds"]) == {"object", "data", "has_more", "url"}  # total_count only on request


def test_a_bank_debit_names_its_mandate_and_is_refunded_by_bank_transfer(
    emulator: StripeEmulator, client: stripe.StripeClient, new_session: Callable[..., stripe.checkout.Session]
) -> None:
    session = new_session()
    emulator.pay(session.id, "async_succeed")
    emulator.complete_async(session.id)
    intent = client.v1.payment_intents.retrieve(
        client.v1.checkout.sessions.retrieve(session.id).payment_intent, params={"expand": ["latest_charge"]}
    )
    assert intent.latest_charge.payment_method_details.us_bank_account.mandate.startswith("mandate_")
    refund = client.v1.refunds.create(params={"payment_intent": intent.id})
    assert refund.destination_details.type == "us_bank_transfer"
    assert refund.destination_details.us_bank_transfer.reference_status == "available"


def test_a_declined_payments_error_carries_the_whole_payment_method(
    emulator: StripeEmulator, client: stripe.StripeClient, new_session: Callable[..., stripe.checkout.Session]
) -> None:
    session = new_session(customer_email="payer@example.com")
    emulator.pay(session.id, "decline")
    intent = client.v1.payment_intents.retrieve(
        client.v1.checkout.sessions.retrieve(session.id).payment_intent
    )
    method = intent.last_payment_error.payment_method
    assert isinstance(method, stripe.PaymentMethod)
    assert (method.id, method.type, method.livemode) == (intent.payment_method, "card", False)
    assert method.created >= intent.created
    assert (method.billing_details.email, method.card.last4) == ("payer@example.com", "0002")
