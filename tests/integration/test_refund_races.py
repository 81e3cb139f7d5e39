"""Refund races on DynamoDB Local: however many staff refund at once, never more than was paid.

Each racer is a refunds-function container (``tests.support.containers``); the order is paid by
card through the real handlers and the in-process Stripe emulator.
"""

from collections import Counter

from tests.support.books import assert_books_hold
from tests.support.containers import Invocation, race
from tests.support.functions import checkout_fn
from tests.support.http import ATTENDEE, ORDERS, STAFF, api_event, call, reply_of
from tests.support.order_fixtures import stored
from tests.support.pipeline import sync
from tests.support.refund_fixtures import (
    all_credit_items,
    money,
    new_order,
    paid_order,
    second_order_payment,
    stored_payment,
    stored_refunds,
    stray_payment_id,
    stripe_refunds,
)


def refund_call(
    order_id: str,
    amount: int,
    destination: str = "card",
    key: str | None = None,
    payment_id: str | None = None,
) -> Invocation:
    """Staff's POST of a refund, as API Gateway hands it to the refunds function."""
    body: dict[str, object] = {
        "amount": amount,
        "reason": "requested_by_customer",
        "destination": destination,
    }
    if payment_id is not None:
        body["payment_id"] = payment_id
    headers = {"Idempotency-Key": key} if key else None
    event = api_event("POST", f"{ORDERS}/{order_id}/refunds", body=body, claims=STAFF, headers=headers)
    return Invocation("refunds", event)


def test_twenty_concurrent_card_refunds_of_30_on_a_100_order_refund_exactly_90(demo, emulator):
    order = paid_order(emulator, 10000)
    result = race([refund_call(order["id"], 3000) for _ in range(20)])

    assert result.errors() == []
    assert set(result.statuses()) <= {201, 409, 422}, [o.result for o in result.outcomes]
    won = [reply_of(o.result).json for o in result.outcomes if o.status == 201]
    assert len(won) == 3  # the balance holds three refunds of 30; the fourth finds 10 left
    assert all(body["status"] == "succeeded" for body in won)
    assert len([o for o in result.outcomes if o.status in (409, 422)]) == 17
    # Refunds read Stripe first, which spreads the racers out: some losers see the spent balance
    # before they write, the rest are refused by DynamoDB's condition. Both must have happened.
    assert result.conflicts >= 1, result.dynamodb
    at_stripe = stripe_refunds(emulator, order["payment_intent_id"])
    assert sorted(r["id"] for r in at_stripe) == sorted(i for body in won for i in body["stripe_refund_ids"])
    assert sum(r["amount"] for r in at_stripe) == 9000
    state = money(order["id"])
    assert (state["amount_refunded"], state["refundable"], state["refund_reserved"]) == (9000, 1000, 0)
    assert Counter(r.status for r in stored_refunds(order["id"])) == {"succeeded": 3}


def test_card_and_store_credit_refunds_racing_on_one_order_never_exceed_its_balance(demo, emulator):
    order = paid_order(emulator, 10000)
    destinations = ["card", "store_credit"] * 10
    result = race([refund_call(order["id"], 1500, d) for d in destinations])

    assert result.errors() == []
    assert set(result.statuses()) <= {201, 409, 422}, [o.result for o in result.outcomes]
    won = [
        (d, reply_of(o.result).json)
        for d, o in zip(destinations, result.outcomes, strict=True)
        if o.status == 201
    ]
    assert len(won) == 6  # six refunds of 15 fit in 100; the seventh finds 10 left
    assert len([o for o in result.outcomes if o.status in (409, 422)]) == 14
    assert result.conflicts >= 1, result.dynamodb  # some losers were refused by DynamoDB itself
    card = sum(body["amount"] for d, body in won if d == "card")
    credit = sum(body["amount"] for d, body in won if d == "store_credit")
    at_stripe = stripe_refunds(emulator, order["payment_intent_id"])
    assert sum(r["amount"] for r in at_stripe) == card
    credits = all_credit_items()
    assert sum(int(c.amount) for c in credits) == credit
    assert {c.user_id for c in credits} <= {"user-attendee"}
    state = money(order["id"])
    assert state["amount_refunded"] == card + credit == 9000
    assert (state["refundable"], state["refund_reserved"]) == (1000, 0)
    assert state["status"] == "partially_refunded"
    assert Counter(r.status for r in stored_refunds(order["id"])) == {"succeeded": 6}


def test_twenty_concurrent_refunds_with_one_idempotency_key_refund_once(demo, emulator):
    order = paid_order(emulator, 10000)
    result = race([refund_call(order["id"], 3000, key="one-key") for _ in range(20)])

    assert result.errors() == []
    assert set(result.statuses()) <= {201, 409}, [o.result for o in result.outcomes]
    replies = [reply_of(o.result) for o in result.outcomes]
    won = {r.json["id"] for r in replies if r.status == 201}
    assert len(won) == 1
    assert {r.json["error"]["code"] for r in replies if r.status == 409} <= {"idempotency_conflict"}
    assert result.dynamodb["ConditionalCheckFailedException"] >= 1, result.dynamodb  # the key's record
    (at_stripe,) = stripe_refunds(emulator, order["payment_intent_id"])
    assert at_stripe["amount"] == 3000
    assert [r.refund_id for r in stored_refunds(order["id"])] == list(won)
    assert money(order["id"])["refundable"] == 7000


def test_ten_concurrent_refunds_of_30_of_a_stray_payment_of_100_refund_exactly_90(demo, emulator):
    """Money paid after the order was cancelled: the guard is the payment's own reservation."""
    order = new_order(10000)
    assert call(checkout_fn(), "POST", f"{ORDERS}/{order['id']}/cancel", claims=ATTENDEE).status == 200
    intent = second_order_payment(emulator, order)
    sync(emulator)
    payment_id = stray_payment_id(order["id"], intent)
    before = money(order["id"])
    result = race([refund_call(order["id"], 3000, payment_id=payment_id) for _ in range(10)])

    assert result.errors() == []
    assert set(result.statuses()) <= {201, 409, 422}, [o.result for o in result.outcomes]
    won = [reply_of(o.result).json for o in result.outcomes if o.status == 201]
    assert len(won) == 3  # the payment holds three refunds of 30; the fourth finds 10 left
    assert result.conflicts >= 1, result.dynamodb  # some losers were refused by DynamoDB itself
    at_stripe = stripe_refunds(emulator, intent)
    assert sorted(r["id"] for r in at_stripe) == sorted(i for body in won for i in body["stripe_refund_ids"])
    assert sum(r["amount"] for r in at_stripe) == 9000
    payment = stored_payment(order["id"], payment_id)
    assert (int(payment.amount_refunded), int(payment.refund_reserved or 0)) == (9000, 0)
    assert money(order["id"]) == before
    assert stored(order["id"]).status == "cancelled"
    assert Counter(r.status for r in stored_refunds(order["id"])) == {"succeeded": 3}
    sync(emulator)
    assert_books_hold("demo")
