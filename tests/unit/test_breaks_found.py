"""Breaks of the money promise found by an adversarial review, one minimal story each.

Each test names the behaviour that should hold and is marked ``xfail(strict=True)`` until the
service keeps it: when a fix lands the test passes, the strict mark fails it, and the mark goes.
The oracle is the audit (``assert_books_hold``) or an explicit assertion on the amounts.
"""

from typing import Any

import pytest

from tests.support import bulk_fixtures as bf
from tests.support.books import assert_books_hold
from tests.support.http import STAFF, call
from tests.support.refund_fixtures import sync


def bulk_refund(purchase_id: str, amount: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"reason": "requested_by_customer"}
    if amount is not None:
        body["amount"] = amount
    reply = call(
        bf.load_function("refunds").handler,
        "POST",
        f"{bf.BASE}/{purchase_id}/refund",
        body=body,
        claims=STAFF,
    )
    assert reply.status == 201, reply.text
    return reply.json


# --- bulk purchases -----------------------------------------------------------------------------------------------


@pytest.mark.xfail(
    strict=True,
    reason="a bulk purchase stays refunded with every code off after its only refund failed at the bank",
)
def test_a_bulk_refund_that_fails_at_the_bank_gives_the_sponsor_back_its_paid_codes(demo, emulator):
    purchase, _ = bf.paid(emulator)
    done = bulk_refund(purchase["id"])
    sync(emulator)
    assert bf.stored(purchase["id"]).status == "refunded"
    (re_id,) = done["stripe_refund_ids"]
    emulator.fail_refund(re_id, "lost_or_stolen_card")  # the money never left: the sponsor still paid
    sync(emulator)
    record = bf.stored(purchase["id"])
    assert (int(record.amount_refunded), record.status) == (0, "paid")
    assert all(v.is_active for v in bf.stored_vouchers())
    assert_books_hold("demo")
