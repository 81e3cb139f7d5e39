"""The money promise in the ordinary situations that broke it (issue "Seen broken").

Each test is one situation found by an adversarial read: events in another order, a refund made in
the dashboard, a second tab, a bank debit still settling, one Idempotency-Key from two staff.
"""

import pytest

from boxoffice import orders
from boxoffice.store import credits as credit_records
from tests.support.books import assert_books_hold
from tests.support.bus import BusTap, domain_events
from tests.support.functions import checkout_fn
from tests.support.http import ATTENDEE, ATTENDEE_URLS, ORDERS, STAFF, call
from tests.support.order_fixtures import (
    GENERAL,
    create_ok,
    make_voucher,
    move_hold_into_past,
    stored,
    times_used,
)
from tests.support.pipeline import process, process_one, sync
from tests.support.refund_fixtures import (
    all_credit_items,
    apply_credit,
    dashboard_refund,
    make_credit,
    money,
    new_order,
    paid_order,
    refund,
    refund_ok,
    stripe_refunds,
)
from tests.support.stripe import emulator_events, stripe_client


@pytest.fixture(autouse=True)
def books_hold_after_each_story(demo, emulator):
    """The audit is the oracle: once each story settles, no break is silent."""
    yield
    sync(emulator)  # every event delivered, late or not
    assert_books_hold(demo)


OTHER_STAFF_MEMBER = {**STAFF, "sub": "user-staff-2", "email": "second@boxoffice.example"}


def checkout_session(order_id: str) -> str:
    reply = call(checkout_fn(), "POST", f"{ORDERS}/{order_id}/checkout", body=ATTENDEE_URLS, claims=ATTENDEE)
    assert reply.status == 200, reply.text
    return reply.json["session_id"]


def test_a_payments_events_after_its_refunds_leave_the_order_refunded_and_unannounced(demo, emulator):
    order = new_order(10000)
    session_id = checkout_session(order["id"])
    emulator.pay(session_id, "succeed")
    intent = stripe_client(emulator).v1.checkout.sessions.retrieve(session_id).to_dict()["payment_intent"]
    dashboard_refund(emulator, intent)
    tap = BusTap(("boxoffice",))
    process(emulator_events(emulator)[::-1])  # every event, newest first: the refund's before the payment's

    state = money(order["id"])
    assert (state["status"], state["amount_paid"], state["amount_refunded"]) == ("refunded", 10000, 10000)
    assert min(int(stored(order["id"]).refundable), int(stored(order["id"]).refundable_total)) == 0
    assert domain_events(tap, "order.paid") == []
    assert int(stored(order["id"]).unmatched_refunds) == 0


def test_a_partial_dashboard_refund_before_the_payment_event_leaves_the_order_partially_refunded(
    demo, emulator
):
    order = new_order(10000)
    session_id = checkout_session(order["id"])
    emulator.pay(session_id, "succeed")
    intent = stripe_client(emulator).v1.checkout.sessions.retrieve(session_id).to_dict()["payment_intent"]
    dashboard_refund(emulator, intent, 3000)
    process(emulator_events(emulator)[::-1])
    state = money(order["id"])
    assert (state["status"], state["amount_refunded"], state["refundable"]) == (
        "partially_refunded",
        3000,
        7000,
    )
    assert refund_ok(order["id"], 7000)["status"] == "succeeded"
    assert money(order["id"])["status"] == "refunded"


def test_store_credit_for_money_already_refunded_on_the_card_is_refused(demo, emulator):
    """A dashboard refund whose events are late, then a staff refund to store credit of the same amount."""
    order = paid_order(emulator, 10000)
    dashboard_refund(emulator, order["payment_intent_id"])  # its events are not processed
    reply = refund(order["id"], 10000, destination="store_credit")
    assert reply.status in (409, 422), reply.text
    assert all_credit_items() == []
    state = money(order["id"])
    assert (state["status"], state["amount_refunded"]) == ("refunded", 10000)
    sync(emulator)  # the late events change nothing more
    assert money(order["id"])["amount_refunded"] == 10000


def test_a_card_refund_after_store_credit_for_the_same_money_freezes_the_credit(demo, emulator):
    order = paid_order(emulator, 10000)
    issued = refund_ok(order["id"], 10000, destination="store_credit")
    dashboard_refund(emulator, order["payment_intent_id"])
    sync(emulator)
    credit = credit_records.get("demo", issued["credit"]["id"])
    assert credit is not None and credit.attention
    assert stored(order["id"]).attention
    second = new_order(5000)
    reply = apply_credit(credit.credit_id, second["id"])
    assert reply.status in (409, 422), reply.text
    assert stored(second["id"]).status == "pending"


def test_two_staff_members_with_one_idempotency_key_get_their_own_refunds(demo, emulator):
    order = paid_order(emulator, 10000)
    first = refund_ok(order["id"], 3000, key="refund-1")
    second = refund(order["id"], 2000, key="refund-1", claims=OTHER_STAFF_MEMBER)
    assert second.status == 201, second.text
    assert second.json["id"] != first["id"]
    assert (second.json["amount"], second.json["created_by"]) == (2000, OTHER_STAFF_MEMBER["sub"])
    assert sorted(r["amount"] for r in stripe_refunds(emulator, order["payment_intent_id"])) == [2000, 3000]
    assert money(order["id"])["amount_refunded"] == 5000


def test_one_staff_member_reusing_a_key_with_another_amount_is_a_conflict(demo, emulator, monkeypatch):
    from boxoffice.api import idempotency

    order = paid_order(emulator, 10000)
    assert refund(order["id"], 3000, key="refund-1").status == 201
    # Even where the route's own record of the key is gone (it expired, or the first answer failed),
    # the refund remembers the request it was made for.
    monkeypatch.setattr(
        idempotency,
        "_run_once",
        lambda call, run: {**dict(zip(("status", "body"), run(), strict=True)), "replayed": False},
    )
    reply = refund(order["id"], 4000, key="refund-1")
    assert reply.status == 409, reply.text
    assert reply.json["error"]["code"] == "idempotency_conflict"
    assert money(order["id"])["amount_refunded"] == 3000


def test_an_order_whose_bank_debit_is_settling_is_not_cancelled_at_the_end_of_its_hold(
    demo, emulator, slow_bank
):
    make_voucher("SOLO", voucher_type="percentage", discount_value=10, max_uses=1)
    order = create_ok([GENERAL], "SOLO")
    session_id = checkout_session(order["id"])
    emulator.pay(session_id, "async_succeed")
    sync(emulator)  # checkout.session.completed with payment_status unpaid
    move_hold_into_past(order["id"])
    assert orders.sweep_expired_holds("demo") == 0
    assert stored(order["id"]).status == "pending"
    assert times_used("SOLO") == 1
    emulator.complete_async(session_id)
    sync(emulator)
    assert stored(order["id"]).status == "paid"
    assert times_used("SOLO") == 1


def test_a_settling_debit_whose_event_is_late_still_stops_the_cancel(demo, emulator, slow_bank):
    order = new_order(10000)
    session_id = checkout_session(order["id"])
    emulator.pay(session_id, "async_succeed")  # its completed event is not processed
    move_hold_into_past(order["id"])
    assert orders.sweep_expired_holds("demo") == 0
    assert stored(order["id"]).status == "pending"
    assert stored(order["id"]).settling == session_id


def test_a_failed_bank_debit_lets_the_sweep_cancel_the_order(demo, emulator, slow_bank):
    order = new_order(10000)
    session_id = checkout_session(order["id"])
    emulator.pay(session_id, "async_fail")
    sync(emulator)
    move_hold_into_past(order["id"])
    emulator.complete_async(session_id)
    sync(emulator)
    assert stored(order["id"]).settling is None
    assert orders.sweep_expired_holds("demo") == 1
    assert stored(order["id"]).status == "cancelled"


def test_credit_for_a_cancelled_order_is_returned_and_no_longer_counts_as_paid(demo, emulator):
    order = new_order(10000)
    make_credit(4000)
    assert apply_credit("cr_00000000000000a1", order["id"]).status == 201
    assert call(checkout_fn(), "POST", f"{ORDERS}/{order['id']}/cancel", claims=ATTENDEE).status == 200
    assert money(order["id"])["amount_paid"] == 0
    credit = credit_records.get("demo", "cr_00000000000000a1")
    assert credit is not None and int(credit.remaining_amount) == 4000


def test_refunding_a_second_tabs_payment_in_the_dashboard_never_touches_the_kept_one(demo, emulator):
    """Two tabs, two paid sessions: refunding the duplicate leaves the purchase paid and its codes alive."""
    from tests.support import bulk_fixtures as bulk

    purchase, _ = bulk.paid(emulator)
    duplicate = bulk.second_paid_session(emulator, purchase)
    sync(emulator)
    assert bulk.stored(purchase["id"]).attention
    dashboard_refund(emulator, duplicate)
    for event in emulator_events(emulator):
        if event["type"].startswith(("charge.refund", "refund.")):
            process_one(event)

    kept = bulk.stored(purchase["id"])
    assert (kept.status, int(kept.amount_refunded)) == ("paid", 0)
    assert all(v.is_active for v in bulk.stored_vouchers())
