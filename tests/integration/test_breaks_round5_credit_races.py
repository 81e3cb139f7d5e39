"""Round 5: store credit given back by a cancel while the same credit is being spent, on DynamoDB Local.

Each racer is a container of the function that would serve it: cancels of the order the credit
partly paid, and applications of that credit to the same order and to another one. However they
interleave, the credit's books hold: remaining = amount - applications + returns, never below 0,
and nothing is spent twice.
"""

from boxoffice.store import orders as order_records
from tests.support.books import assert_books_hold
from tests.support.containers import Invocation, race
from tests.support.http import ATTENDEE, ORDERS, api_event
from tests.support.refund_fixtures import apply_credit, credit, ledger, make_credit, money, new_order

CREDIT = "cr_00000000000000a1"


def apply_call(order_id: str) -> Invocation:
    body = {"order_id": order_id}
    event = api_event("POST", f"/v1/conferences/demo/credits/{CREDIT}/apply", body=body, claims=ATTENDEE)
    return Invocation("refunds", event)


def cancel_call(order_id: str) -> Invocation:
    return Invocation("checkout", api_event("POST", f"{ORDERS}/{order_id}/cancel", claims=ATTENDEE))


def credit_payments(order_id: str) -> list[order_records.Payment]:
    return [p for p in order_records.payments_of("demo", order_id) if p.method == "credit"]


def test_a_cancel_giving_credit_back_while_the_credit_is_spent_again_keeps_the_credits_books(demo):
    make_credit(12000, credit_id=CREDIT)
    first = new_order(15000)
    other = new_order(10000)
    assert apply_credit(CREDIT, first["id"]).status == 201  # all 12000 on the first order, 3000 still due
    racers = [cancel_call(first["id"]) for _ in range(5)]
    racers += [apply_call(other["id"]) for _ in range(8)]
    racers += [apply_call(first["id"]) for _ in range(3)]
    result = race(racers)

    assert result.errors() == []
    found = credit(CREDIT)
    applied = sum(amount for _, amount in ledger(CREDIT))
    returned = sum(int(p.amount) for p in credit_payments(first["id"]) if p.status == "refunded")
    assert money(first["id"])["status"] == "cancelled"
    assert returned == 12000
    assert int(found.remaining_amount) == 12000 - applied + returned >= 0, (found.remaining_amount, applied)
    for order_id in (first["id"], other["id"]):
        kept = sum(int(p.amount) for p in credit_payments(order_id) if p.status == "succeeded")
        assert money(order_id)["amount_paid"] == kept
    assert_books_hold("demo", with_stripe=False)
