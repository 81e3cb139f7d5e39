"""Checkout Sessions: creation, the hosted page, payment outcomes, expiry."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import requests
import stripe

from local.stripe_emulator import PaymentRefused, StripeEmulator

from .helpers import event_types, line_item, session_params, wait_for


def test_session_is_created_open_with_totals_and_a_hosted_url(
    emulator: StripeEmulator, new_session: Callable[..., stripe.checkout.Session]
) -> None:
    session = new_session()
    assert session.status == "open"
    assert session.payment_status == "unpaid"
    assert session.mode == "payment"
    assert session.amount_total == session.amount_subtotal == 5000
    assert session.currency == "usd"
    assert session.url == f"{emulator.url}/checkout/{session.id}"
    assert session.payment_intent is None
    assert session.client_reference_id == "bp_123"
    assert session.metadata.to_dict() == {"bulk_purchase_id": "bp_123", "conference_id": "demo"}
    assert session.success_url.endswith("{CHECKOUT_SESSION_ID}")
    assert session.cancel_url == "https://boxoffice.test/cancel"
    assert abs(session.expires_at - (session.created + 24 * 3600)) <= 1


def test_line_items_are_listed_and_expandable(
    client: stripe.StripeClient, new_session: Callable[..., stripe.checkout.Session]
) -> None:
    session = new_session(line_items=[line_item("eur", 1000, "A"), line_item("eur", 250, "B", 4)])
    assert session.amount_total == 2000
    items = client.v1.checkout.sessions.line_items.list(session.id)
    rows = [(i.description, i.quantity, i.amount_total) for i in items.data]
    assert rows == [("A", 1, 1000), ("B", 4, 1000)]
    assert items.data[1].price.unit_amount == 250
    expanded = client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["line_items"]})
    assert [i.description for i in expanded.line_items.data] == ["A", "B"]


def test_expires_at_outside_30_minutes_to_24_hours_is_refused(
    new_session: Callable[..., stripe.checkout.Session],
) -> None:
    now = int(time.time())
    for expires_at in (now + 29 * 60, now + 25 * 3600):
        with pytest.raises(stripe.InvalidRequestError) as error:
            new_session(expires_at=expires_at)
        assert error.value.param == "expires_at"
    assert new_session(expires_at=now + 31 * 60).expires_at == now + 31 * 60


def test_paying_succeed_completes_the_session_and_copies_intent_metadata(
    emulator: StripeEmulator, client: stripe.StripeClient, new_session: Callable[..., stripe.checkout.Session]
) -> None:
    session = new_session()
    redirect = emulator.pay(session.id, "succeed")
    assert redirect == f"https://boxoffice.test/done?session_id={session.id}"
    expand = {"expand": ["payment_intent.latest_charge"]}
    session = client.v1.checkout.sessions.retrieve(session.id, params=expand)
    assert (session.status, session.payment_status, session.url) == ("complete", "paid", None)
    intent = session.payment_intent
    assert (intent.status, intent.amount, intent.amount_received) == ("succeeded", 5000, 5000)
    metadata = {"bulk_purchase_id": "bp_123", "conference_id": "demo"}
    assert intent.metadata.to_dict() == metadata
    charge = intent.latest_charge
    assert (charge.status, charge.paid, charge.amount) == ("succeeded", True, 5000)
    assert charge.payment_intent == intent.id
    assert charge.metadata.to_dict() == metadata


def test_declined_card_leaves_the_session_open_and_a_later_payment_reuses_the_intent(
    emulator: StripeEmulator, client: stripe.StripeClient, new_session: Callable[..., stripe.checkout.Session]
) -> None:
    session = new_session()
    assert emulator.pay(session.id, "decline") is None
    after = client.v1.checkout.sessions.retrieve(session.id)
    assert (after.status, after.payment_status) == ("open", "unpaid")
    intent = client.v1.payment_intents.retrieve(after.payment_intent)
    assert intent.status == "requires_payment_method"
    assert intent.last_payment_error.code == "card_declined"
    assert client.v1.charges.retrieve(intent.latest_charge).status == "failed"
    emulator.pay(session.id, "succeed")
    paid = client.v1.checkout.sessions.retrieve(session.id)
    assert paid.payment_intent == intent.id
    assert client.v1.payment_intents.retrieve(intent.id).status == "succeeded"


def test_paying_a_complete_or_expired_session_is_refused(
    emulator: StripeEmulator, client: stripe.StripeClient, new_session: Callable[..., stripe.checkout.Session]
) -> None:
    complete = new_session()
    emulator.pay(complete.id, "succeed")
    with pytest.raises(PaymentRefused):
        emulator.pay(complete.id, "succeed")
    expired = new_session()
    client.v1.checkout.sessions.expire(expired.id)
    with pytest.raises(PaymentRefused):
        emulator.pay(expired.id, "succeed")
    response = requests.post(f"{emulator.url}/checkout/{expired.id}", data={"outcome": "succeed"}, timeout=5)
    assert response.status_code == 409


def test_async_success_completes_unpaid_then_becomes_paid_after_the_delay(
    emulator: StripeEmulator, client: stripe.StripeClient, new_session: Callable[..., stripe.checkout.Session]
) -> None:
    session = new_session()
    emulator.pay(session.id, "async_succeed")
    pending = client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["payment_intent"]})
    assert (pending.status, pending.payment_status) == ("complete", "unpaid")
    assert pending.payment_intent.status == "processing"
    wait_for(lambda: client.v1.checkout.sessions.retrieve(session.id).payment_status == "paid")
    assert client.v1.payment_intents.retrieve(pending.payment_intent.id).status == "succeeded"


def test_async_failure_leaves_the_session_unpaid(
    emulator: StripeEmulator, client: stripe.StripeClient, new_session: Callable[..., stripe.checkout.Session]
) -> None:
    session = new_session()
    emulator.pay(session.id, "async_fail")
    emulator.complete_async(session.id)
    after = client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["payment_intent"]})
    assert (after.status, after.payment_status) == ("complete", "unpaid")
    assert after.payment_intent.status == "requires_payment_method"
    assert "checkout.session.async_payment_failed" in event_types(client)


def test_session_expires_when_the_emulator_clock_passes_expires_at(
    emulator: StripeEmulator, client: stripe.StripeClient, new_session: Callable[..., stripe.checkout.Session]
) -> None:
    session = new_session(expires_at=int(time.time()) + 3600)
    emulator.advance_clock(1800)
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"
    emulator.advance_clock(1801)
    expired = client.v1.checkout.sessions.retrieve(session.id)
    assert (expired.status, expired.url) == ("expired", None)
    assert event_types(client) == ["checkout.session.expired"]


def test_expire_endpoint_expires_an_open_session_once(
    client: stripe.StripeClient, new_session: Callable[..., stripe.checkout.Session]
) -> None:
    session = new_session()
    expired = client.v1.checkout.sessions.expire(session.id)
    assert expired.status == "expired"
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.checkout.sessions.expire(session.id)
    assert error.value.http_status == 400
    assert "status of `expired`" in error.value.user_message


def test_expiring_a_complete_session_is_refused(
    emulator: StripeEmulator, client: stripe.StripeClient, new_session: Callable[..., stripe.checkout.Session]
) -> None:
    session = new_session()
    emulator.pay(session.id, "succeed")
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.checkout.sessions.expire(session.id)
    assert error.value.http_status == 400
    assert "status of `complete`" in error.value.user_message
    assert client.v1.checkout.sessions.retrieve(session.id).status == "complete"


def test_expiring_a_session_after_a_decline_cancels_its_intent(
    emulator: StripeEmulator, client: stripe.StripeClient, new_session: Callable[..., stripe.checkout.Session]
) -> None:
    session = new_session()
    emulator.pay(session.id, "decline")
    client.v1.checkout.sessions.expire(session.id)
    intent_id = client.v1.checkout.sessions.retrieve(session.id).payment_intent
    intent = client.v1.payment_intents.retrieve(intent_id)
    assert intent.status == "canceled"
    assert event_types(client)[-2:] == ["payment_intent.canceled", "checkout.session.expired"]


def test_session_metadata_can_be_updated(
    client: stripe.StripeClient, new_session: Callable[..., stripe.checkout.Session]
) -> None:
    session = new_session()
    updated = client.v1.checkout.sessions.update(session.id, params={"metadata": {"extra": "1"}})
    assert updated.metadata.to_dict() == {"bulk_purchase_id": "bp_123", "conference_id": "demo", "extra": "1"}


def test_hosted_page_shows_line_items_total_and_the_four_outcomes(
    emulator: StripeEmulator, new_session: Callable[..., stripe.checkout.Session]
) -> None:
    session = new_session()
    page = requests.get(session.url, timeout=5)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "Conference ticket" in page.text
    assert "$25.00" in page.text
    assert "$50.00" in page.text
    for outcome in ("succeed", "decline", "async_succeed", "async_fail"):
        assert f"value='{outcome}'" in page.text


def test_hosted_page_shows_zero_decimal_currencies_without_decimals(
    new_session: Callable[..., stripe.checkout.Session],
) -> None:
    session = new_session(line_items=[line_item("jpy", 5000, "Pass", 3)])
    page = requests.get(session.url, timeout=5).text
    assert "¥15,000" in page
    assert "15,000." not in page


def test_hosted_page_post_redirects_303_to_the_success_url(
    client: stripe.StripeClient, new_session: Callable[..., stripe.checkout.Session]
) -> None:
    session = new_session()
    response = requests.post(session.url, data={"outcome": "succeed"}, allow_redirects=False, timeout=5)
    assert response.status_code == 303
    assert response.headers["Location"] == f"https://boxoffice.test/done?session_id={session.id}"
    assert client.v1.checkout.sessions.retrieve(session.id).payment_status == "paid"


def test_hosted_page_decline_rerenders_with_the_message_and_emits_payment_failed(
    client: stripe.StripeClient, new_session: Callable[..., stripe.checkout.Session]
) -> None:
    session = new_session()
    response = requests.post(session.url, data={"outcome": "decline"}, allow_redirects=False, timeout=5)
    assert response.status_code == 402
    assert "Your card was declined." in response.text
    assert "value='succeed'" in response.text
    assert "payment_intent.payment_failed" in event_types(client)


def test_hosted_page_rejects_an_unknown_outcome_and_unknown_sessions(
    emulator: StripeEmulator, new_session: Callable[..., stripe.checkout.Session]
) -> None:
    session = new_session()
    assert requests.post(session.url, data={"outcome": "maybe"}, timeout=5).status_code == 400
    assert requests.get(f"{emulator.url}/checkout/cs_test_nope", timeout=5).status_code == 404


def test_session_list_filters_by_status_and_payment_intent(
    emulator: StripeEmulator, client: stripe.StripeClient, new_session: Callable[..., stripe.checkout.Session]
) -> None:
    open_session = new_session()
    paid = new_session()
    emulator.pay(paid.id, "succeed")
    intent_id = client.v1.checkout.sessions.retrieve(paid.id).payment_intent
    open_sessions = client.v1.checkout.sessions.list(params={"status": "open"})
    assert [s.id for s in open_sessions.data] == [open_session.id]
    by_intent = client.v1.checkout.sessions.list(params={"payment_intent": intent_id})
    assert [s.id for s in by_intent.data] == [paid.id]


def test_create_with_explicit_currency_must_match_line_items(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.checkout.sessions.create(params=session_params(currency="eur"))
    assert error.value.param == "currency"
