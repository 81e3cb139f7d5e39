"""Store credit races on DynamoDB Local: a credit is never overspent, an order never over-covered.

Each racer is a refunds-function container applying a credit through the HTTP route.
"""

from collections import Counter

from boxoffice.store import orders as order_records
from tests.support.bus import BusTap, domain_events
from tests.support.containers import Invocation, race
from tests.support.http import ATTENDEE, api_event
from tests.support.refund_fixtures import credit, ledger, make_credit, money, new_order


def apply_call(credit_id: str, order_id: str) -> Invocation:
    body = {"order_id": order_id}
    event = api_event("POST", f"/v1/conferences/demo/credits/{credit_id}/apply", body=body, claims=ATTENDEE)
    return Invocation("refunds", event)


def credit_paid(order_id: str) -> int:
    return sum(int(p.amount) for p in order_records.payments_of("demo", order_id) if p.method == "credit")


def test_one_credit_applied_to_twenty_orders_at_once_is_spent_exactly(demo):
    order_ids = [new_order(5000)["id"] for _ in range(20)]
    make_credit(12000, credit_id="cr_00000000000000a1")
    result = race([apply_call("cr_00000000000000a1", oid) for oid in order_ids])

    assert result.errors() == []
    assert result.statuses() == {201: 3, 409: 17}, [o.result for o in result.outcomes if o.status != 409]
    # A racer that reads after the credit is spent is refused before it writes; the rest by DynamoDB.
    assert result.conflicts >= 1, result.dynamodb
    found = credit("cr_00000000000000a1")
    assert (int(found.remaining_amount), found.status) == (0, "applied")
    entries = ledger("cr_00000000000000a1")
    assert sorted(amount for _, amount in entries) == [2000, 5000, 5000]  # 50 + 50 + the last 20
    for oid in order_ids:
        assert money(oid)["amount_paid"] == credit_paid(oid) == sum(a for o, a in entries if o == oid)
    assert Counter(money(oid)["status"] for oid in order_ids) == {"paid": 2, "pending": 18}


def test_twenty_credits_racing_onto_one_order_cover_it_exactly(demo):
    order = new_order(10000)
    credit_ids = [f"cr_000000000000{n:04d}" for n in range(20)]
    for credit_id in credit_ids:
        make_credit(1500, credit_id=credit_id)
    tap = BusTap(("boxoffice",))
    result = race([apply_call(c, order["id"]) for c in credit_ids])

    assert result.errors() == []
    assert set(result.statuses()) <= {201, 409}, [o.result for o in result.outcomes]
    assert result.conflicts >= 1, result.dynamodb
    spent = {c: sum(a for _, a in ledger(c)) for c in credit_ids}
    assert sum(spent.values()) == 10000  # six credits of 15 and 10 of a seventh, whichever won
    assert sorted(a for a in spent.values() if a) == [1000] + [1500] * 6
    for c in credit_ids:
        assert int(credit(c).remaining_amount) == 1500 - spent[c]
    state = money(order["id"])
    assert (state["status"], state["amount_paid"]) == ("paid", 10000)
    assert credit_paid(order["id"]) == 10000
    assert len(domain_events(tap, "order.paid")) == 1
