"""The books: a healthy conference audits clean, and each invariant's break is reported by name."""

from typing import Any

from boxoffice import books
from tests.support.http import ATTENDEE, STAFF, call
from tests.unit import bulk_fixtures as bulk
from tests.unit import refund_fixtures as rf


def invariants(breaks: list[books.Break]) -> set[str]:
    return {b.invariant for b in breaks}


def healthy(emulator) -> dict[str, Any]:
    """Paid, refunded (card and credit), cancelled, credit-paid, comp and voucher orders, and two purchases."""
    card = rf.paid_order(emulator, 10000)
    rf.refund_ok(card["id"], 3000)
    credited = rf.paid_order(emulator, 10000)
    refund = rf.refund_ok(credited["id"], 10000, destination="store_credit")
    credit_id = refund["credit"]["id"]
    by_credit = rf.new_order(5000)
    assert rf.apply_credit(credit_id, by_credit["id"]).status == 201
    returned = rf.new_order(10000)
    assert rf.apply_credit(credit_id, returned["id"]).status == 201
    assert (
        call(rf.checkout_fn(), "POST", f"{rf.ORDERS}/{returned['id']}/cancel", claims=ATTENDEE).status == 200
    )
    cancelled = rf.new_order(5000)
    assert (
        call(rf.checkout_fn(), "POST", f"{rf.ORDERS}/{cancelled['id']}/cancel", claims=ATTENDEE).status == 200
    )
    code = rf.comp_voucher()
    body = {"lines": [{"addon_id": "workshop", "quantity": 1}], "voucher_code": code}
    comp = call(rf.checkout_fn(), "POST", rf.ORDERS, body=body, claims=ATTENDEE)
    assert comp.status == 201, comp.text
    bulk.comp_fulfilled(3)
    purchase, _ = bulk.paid(emulator, bulk.staff_body(quantity=2))
    reply = call(
        rf.refunds_fn(), "POST", f"{bulk.BASE}/{purchase['id']}/refund",
        body={"amount": 1000, "reason": "requested_by_customer"}, claims=STAFF,
    )  # fmt: skip
    assert reply.status == 201, reply.text
    rf.sync(emulator)
    return {"card": card, "credited": credited, "credit_id": credit_id, "purchase": purchase, "code": code}


def test_a_healthy_conference_audits_clean(demo, emulator):
    healthy(emulator)
    assert books.audit_all("demo") == []
