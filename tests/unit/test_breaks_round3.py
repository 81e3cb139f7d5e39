"""Breaks of the money promise found by the third adversarial review, one minimal story each.

Each test names the behaviour that should hold; it failed before its fix. The oracle is the audit
(``assert_books_hold``) or an explicit assertion.
"""

import sys
from typing import Any

from tests.support import bulk_fixtures as bf
from tests.support import order_fixtures
from tests.support import refund_fixtures as rf
from tests.support.books import assert_books_hold
from tests.support.functions import checkout_fn
from tests.support.http import ATTENDEE, ATTENDEE_URLS, ORDERS, call
from tests.support.pipeline import process
from tests.support.stripe import emulator_events, stripe_client


def _stale_refund_reads(monkeypatch, meanwhile):
    """The first read of a dashboard refund by a failure event (the first try of
    ``_record_failure``'s write) returns what it was before ``meanwhile`` ran: the failure's Lambda
    read, then the payment's transaction committed. Every later read sees what is there now, so
    the retry (``store.retry_on_conflict``) decides on fresh state."""
    from boxoffice.store import refunds as refund_store

    real = refund_store.get_refund
    stale: dict[tuple[str, str], Any] = {}

    def get_refund(pk: str, refund_id: str):
        from_failure = sys._getframe(1).f_code.co_qualname == "_record_failure.<locals>.attempt"
        if not refund_id.startswith("rf_ext_") or not from_failure or (pk, refund_id) in stale:
            return real(pk, refund_id)
        stale[(pk, refund_id)] = before = real(pk, refund_id)
        if len(stale) == 1:
            meanwhile()
        return before

    monkeypatch.setattr(refund_store, "get_refund", get_refund)
    return stale


def _failure_events(emulator, before: set[str]) -> list[dict[str, Any]]:
    return [e for e in emulator_events(emulator) if e["id"] not in before]


def test_a_bulk_dashboard_refund_that_fails_at_the_bank_while_its_payment_lands_gives_the_codes_back(
    demo, emulator, monkeypatch
):
    """Was: refunded, amount_refunded=total, codes off, no attention, though the money never left."""
    purchase, session_id = bf.checked_out(emulator)
    emulator.pay(session_id, "succeed")
    intent = stripe_client(emulator).v1.checkout.sessions.retrieve(session_id).to_dict()["payment_intent"]
    re = rf.dashboard_refund(emulator, intent)
    events = emulator_events(emulator)
    completed = [e for e in events if e["type"] == "checkout.session.completed"]
    process(
        [e for e in events if e["type"].startswith(("charge.refund", "refund."))]
    )  # seen first: unmatched
    before = {e["id"] for e in emulator_events(emulator)}
    emulator.fail_refund(re["id"], "lost_or_stolen_card")  # the money never left
    failures = _failure_events(emulator, before)
    stale = _stale_refund_reads(monkeypatch, lambda: process(completed))
    process(failures)
    assert stale, "no failure event read the refund: the race was not staged"
    monkeypatch.undo()
    record = bf.stored(purchase["id"])
    assert (record.status, int(record.amount_refunded)) == ("paid", 0)
    assert all(v.is_active for v in bf.stored_vouchers())
    assert_books_hold("demo")


def test_an_order_dashboard_refund_that_fails_at_the_bank_while_its_payment_lands_leaves_the_order_paid(
    demo, emulator, monkeypatch
):
    """Was: the order ended refunded (units released) though its refund failed and we kept the money."""
    order = rf.new_order(10000)

    reply = call(
        checkout_fn(), "POST", f"{ORDERS}/{order['id']}/checkout", body=ATTENDEE_URLS, claims=ATTENDEE
    )
    session_id = reply.json["session_id"]
    emulator.pay(session_id, "succeed")
    intent = stripe_client(emulator).v1.checkout.sessions.retrieve(session_id).to_dict()["payment_intent"]
    re = rf.dashboard_refund(emulator, intent)
    events = emulator_events(emulator)
    refund_events = [e for e in events if e["type"].startswith(("charge.refund", "refund."))]
    process(refund_events)  # seen before the payment: unmatched
    before = {e["id"] for e in emulator_events(emulator)}
    emulator.fail_refund(re["id"], "lost_or_stolen_card")
    failures = _failure_events(emulator, before)
    rest = [e for e in events if e not in refund_events]
    stale = _stale_refund_reads(monkeypatch, lambda: process(rest))
    process(failures)
    assert stale, "no failure event read the refund: the race was not staged"
    monkeypatch.undo()
    stored = order_fixtures.stored(order["id"])
    assert (stored.status, int(stored.amount_paid), int(stored.amount_refunded)) == ("paid", 10000, 0)
    assert_books_hold("demo")
