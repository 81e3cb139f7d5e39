"""Paying orders: the Checkout Session, the emulator's real events, duplicates, mismatches, late money."""

from datetime import timedelta
from typing import Any

import pytest

from boxoffice import orders, store
from boxoffice.store import orders as order_records
from tests.support.bus import BusTap, domain_events
from tests.support.http import OTHER_ATTENDEE, STAFF
from tests.support.order_fixtures import (
    GENERAL,
    WORKSHOP,
    admit_all,
    cancel,
    checkout,
    create_ok,
    get,
    make_voucher,
    paid_by_card,
    payments,
    sessions_for,
    stored,
)
from tests.support.stripe import emulator_events, stripe_client


def completed_session(emulator, session_id: str) -> dict[str, Any]:
    """The session object of the emulator's ``checkout.session.completed`` for ``session_id``."""
    (event,) = [
        e
        for e in emulator_events(emulator, "checkout.session.completed")
        if e["data"]["object"]["id"] == session_id
    ]
    return event["data"]["object"]


def a_second_paid_session(emulator, order: dict[str, Any]) -> dict[str, Any]:
    """A session for ``order`` made straight at Stripe (say by a checkout that crashed), then paid."""
    metadata = {"order_id": order["id"], "conference_id": "demo", "reference": order["reference"]}
    session = stripe_client(emulator).v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "success_url": "https://attendee.example/ok",
            "line_items": [
                {
                    "price_data": {
                        "currency": "usd",
                        "unit_amount": order["total"],
                        "product_data": {"name": "Order"},
                    },
                    "quantity": 1,
                }
            ],
            "metadata": metadata,
            "payment_intent_data": {"metadata": metadata},
        }
    )
    emulator.pay(session.id, "succeed")
    return completed_session(emulator, session.id)


# --- checkout ------------------------------------------------------------------------------------------------------


def test_checkout_creates_a_session_for_the_total_carrying_the_order_ids(demo, emulator):
    make_voucher("TENOFF")
    order = create_ok([GENERAL, WORKSHOP], "TENOFF")
    reply = checkout(order["id"])
    assert reply.status == 200, reply.text
    assert reply.json["checkout_url"].startswith(emulator.url)
    session = stripe_client(emulator).v1.checkout.sessions.retrieve(reply.json["session_id"]).to_dict()
    expected = {"order_id": order["id"], "conference_id": "demo", "reference": order["reference"]}
    assert session["metadata"] == expected
    assert session["amount_total"] == order["total"] == 27000
    assert session["currency"] == "usd"
    assert session["client_reference_id"] == order["id"]
    assert session["status"] == "open"

    emulator.pay(session["id"], "succeed")
    paid = stripe_client(emulator).v1.checkout.sessions.retrieve(session["id"]).to_dict()
    intent = stripe_client(emulator).v1.payment_intents.retrieve(paid["payment_intent"]).to_dict()
    assert intent["metadata"] == expected
    assert intent["amount"] == order["total"]


def test_a_repeated_checkout_while_the_session_is_open_returns_the_same_session(demo, emulator):
    order = create_ok()
    first = checkout(order["id"])
    second = checkout(order["id"])
    assert first.status == second.status == 200
    assert second.json == first.json
    assert len(sessions_for(emulator, order["id"])) == 1


@pytest.mark.parametrize("claims", [OTHER_ATTENDEE, STAFF], ids=["another_attendee", "staff"])
def test_only_the_owner_checks_an_order_out(demo, emulator, claims):
    order = create_ok()
    reply = checkout(order["id"], claims)
    assert reply.status == 404, reply.text
    assert sessions_for(emulator, order["id"]) == []


def test_checkout_of_a_paid_order_is_409(demo, emulator):
    make_voucher("FREE", voucher_type="comp")
    order = create_ok([GENERAL], "FREE")
    reply = checkout(order["id"])
    assert reply.status == 409, reply.text
    assert reply.json["error"]["code"] == "invalid_state"
    assert sessions_for(emulator, order["id"]) == []


def test_checkout_of_a_cancelled_order_is_409(demo, emulator):
    order = create_ok()
    assert cancel(order["id"]).status == 200
    reply = checkout(order["id"])
    assert reply.status == 409, reply.text
    assert sessions_for(emulator, order["id"]) == []


# --- payment ------------------------------------------------------------------------------------------------------


def test_a_paid_session_records_one_stripe_payment_and_pays_the_order(demo, emulator):
    order = create_ok([GENERAL, WORKSHOP])
    tap = BusTap(("boxoffice",))
    session_id = paid_by_card(emulator, order["id"])
    admit_all(emulator_events(emulator))

    paid = get(order["id"]).json
    assert paid["status"] == "paid"
    assert paid["hold_expires_at"] is None
    assert paid["amount_paid"] == paid["total"] == 30000
    assert paid["attention"] is None
    (payment,) = paid["payments"]
    session = stripe_client(emulator).v1.checkout.sessions.retrieve(session_id).to_dict()
    intent = stripe_client(emulator).v1.payment_intents.retrieve(session["payment_intent"]).to_dict()
    assert payment["method"] == "stripe"
    assert payment["status"] == "succeeded"
    assert payment["amount"] == 30000
    assert payment["payment_intent_id"] == intent["id"]
    assert payment["charge_id"] == intent["latest_charge"]
    assert payment["charge_id"].startswith("ch_")
    assert stored(order["id"]).GSI1PK is None  # out of the sweep's list
    (announced,) = domain_events(tap, "order.paid")
    assert announced["order_id"] == order["id"]
    assert announced["reference"] == order["reference"]
    assert (announced["total"], announced["currency"]) == (30000, "usd")


def test_duplicated_and_reordered_completions_give_one_payment_and_one_announcement(demo, emulator):
    order = create_ok()
    tap = BusTap(("boxoffice",))
    session_id = paid_by_card(emulator, order["id"])
    events = emulator_events(emulator)
    completed = next(e for e in events if e["type"] == "checkout.session.completed")
    copy = {**completed, "id": completed["id"] + "_again"}  # the same completion under another event id

    results = admit_all([copy, *reversed(events), completed])
    assert results[-1] == "duplicate"
    orders.on_session_paid("demo", completed["data"]["object"])
    orders.on_session_paid("demo", completed_session(emulator, session_id))
    admit_all([completed])

    assert [(p.method, p.status) for p in payments(order["id"])] == [("stripe", "succeeded")]
    view = get(order["id"]).json
    assert (view["status"], view["amount_paid"]) == ("paid", 25000)
    assert len(domain_events(tap, "order.paid")) == 1


@pytest.mark.parametrize(
    ("change", "what"),
    [({"amount_total": 24999}, "amount"), ({"currency": "eur"}, "currency")],
    ids=["amount", "currency"],
)
def test_a_mismatched_payment_flags_the_order_and_leaves_it_pending(demo, emulator, change, what):
    order = create_ok()
    tap = BusTap(("boxoffice",))
    session_id = paid_by_card(emulator, order["id"])
    session = {**completed_session(emulator, session_id), **change}
    orders.on_session_paid("demo", session)

    flagged = get(order["id"]).json
    assert flagged["status"] == "pending"
    assert flagged["attention"], f"a {what} mismatch must be flagged for staff"
    assert domain_events(tap, "order.paid") == []
    recorded = payments(order["id"])
    assert [(p.method, p.status) for p in recorded] == [("stripe", "succeeded")]  # the money is not lost


def test_a_declined_card_records_a_failed_payment_and_the_order_stays_pending(demo, emulator):
    order = create_ok()
    paid_by_card(emulator, order["id"], "decline")
    events = emulator_events(emulator)
    assert "payment_intent.payment_failed" in [e["type"] for e in events]
    admit_all(events)

    view = get(order["id"]).json
    assert view["status"] == "pending"
    assert view["amount_paid"] == 0
    assert view["hold_expires_at"] is not None
    (failed,) = view["payments"]
    intent = next(e for e in events if e["type"] == "payment_intent.payment_failed")["data"]["object"]
    assert (failed["method"], failed["status"]) == ("stripe", "failed")
    assert failed["payment_intent_id"] == intent["id"]
    assert failed["amount"] == 25000


def test_a_payment_after_cancellation_is_recorded_and_flagged_and_the_order_stays_cancelled(demo, emulator):
    order = create_ok()
    tap = BusTap(("boxoffice",))
    assert cancel(order["id"]).status == 200
    session = a_second_paid_session(emulator, order)
    orders.on_session_paid("demo", session)

    view = get(order["id"]).json
    assert view["status"] == "cancelled"
    assert view["attention"] and "cancelled" in view["attention"]
    assert view["amount_paid"] == 0  # money after cancellation is never the order's payment
    (payment,) = view["payments"]
    assert (payment["method"], payment["status"], payment["amount"]) == ("stripe", "succeeded", 25000)
    assert payment["own"] is False
    assert payment["payment_intent_id"] == session["payment_intent"]
    assert domain_events(tap, "order.paid") == []


def test_cancelling_an_order_whose_session_was_already_paid_keeps_the_payment_and_is_409(demo, emulator):
    make_voucher("CODE1")
    order = create_ok([GENERAL], "CODE1")
    paid_by_card(emulator, order["id"])  # paid at Stripe; the event has not been processed yet
    reply = cancel(order["id"])
    assert reply.status == 409, reply.text
    view = get(order["id"]).json
    assert view["status"] == "paid"
    assert [p["method"] for p in view["payments"]] == ["stripe"]


def test_an_async_payment_that_succeeds_later_pays_the_order_once_it_settles(demo, emulator, slow_bank):
    order = create_ok()
    tap = BusTap(("boxoffice",))
    session_id = paid_by_card(emulator, order["id"], "async_succeed")
    admit_all(emulator_events(emulator))
    assert get(order["id"]).json["status"] == "pending"  # completed, but unpaid yet
    assert payments(order["id"]) == []

    seen = {e["id"] for e in emulator_events(emulator)}
    emulator.complete_async(session_id)
    admit_all([e for e in emulator_events(emulator) if e["id"] not in seen])
    view = get(order["id"]).json
    assert (view["status"], view["amount_paid"]) == ("paid", 25000)
    assert [(p["method"], p["status"]) for p in view["payments"]] == [("stripe", "succeeded")]
    assert len(domain_events(tap, "order.paid")) == 1


def test_an_async_payment_that_fails_later_records_a_failure_and_the_order_stays_pending(
    demo, emulator, slow_bank
):
    order = create_ok()
    session_id = paid_by_card(emulator, order["id"], "async_fail")
    emulator.complete_async(session_id)
    admit_all(emulator_events(emulator))
    view = get(order["id"]).json
    assert (view["status"], view["amount_paid"]) == ("pending", 0)
    assert view["payments"], "the failed attempt is recorded"
    assert {(p["method"], p["status"]) for p in view["payments"]} == {("stripe", "failed")}


def test_a_checkout_retried_seconds_after_a_lost_write_gets_the_same_session(demo, emulator, monkeypatch):
    order = create_ok()
    first = checkout(order["id"])
    assert first.status == 200, first.text
    # A crash between Stripe's answer and our write: the order never learnt of its session.
    stored(order["id"]).update(
        actions=[
            order_records.Order.checkout_session_id.remove(),
            order_records.Order.checkout_url.remove(),
            order_records.Order.checkout_expires_at.remove(),
        ],
        add_version_condition=False,
    )
    later = store.now() + timedelta(seconds=5)
    monkeypatch.setattr(store, "now", lambda: later)  # the user retries a few seconds later
    again = checkout(order["id"])
    assert again.status == 200, again.text
    assert again.json["session_id"] == first.json["session_id"]
    assert len(sessions_for(emulator, order["id"])) == 1


def test_an_order_cancelled_while_its_session_is_being_created_gets_409_and_no_open_session(
    demo, emulator, monkeypatch
):
    from boxoffice import stripe_gateway

    order = create_ok()
    create_session = stripe_gateway.create_checkout_session

    def and_meanwhile_the_owner_cancels(*args, **kwargs):
        session = create_session(*args, **kwargs)
        orders.cancel("demo", order["id"], None)  # a second tab cancels before our write lands
        return session

    monkeypatch.setattr(stripe_gateway, "create_checkout_session", and_meanwhile_the_owner_cancels)
    reply = checkout(order["id"])
    assert reply.status == 409, reply.text
    assert get(order["id"]).json["status"] == "cancelled"
    assert [s["status"] for s in sessions_for(emulator, order["id"])] == ["expired"]
