"""Disputes end to end: the emulator charges a payment back, its events reach the app in Stripe's
shapes, and the order follows the dispute as Stripe has it now."""

import pytest

from tests.support.books import assert_books_hold
from tests.support.order_fixtures import stored
from tests.support.pipeline import process, sync
from tests.support.refund_fixtures import paid_order, refund, refund_ok, second_order_payment
from tests.support.stripe import emulator_events


@pytest.fixture(autouse=True)
def books_hold(demo, emulator):
    yield
    sync(emulator)
    assert_books_hold(demo)


def test_an_open_dispute_flags_the_order_and_refunds_wait_for_it(demo, emulator):
    order = paid_order(emulator, 10000)
    dispute = emulator.open_dispute(order["payment_intent_id"])
    sync(emulator)
    flagged = stored(order["id"])
    assert flagged.dispute == f"open:{dispute['id']}"
    assert flagged.attention and dispute["id"] in flagged.attention
    reply = refund(order["id"], 1000)
    assert reply.status == 409, reply.text
    reply = refund(order["id"], 1000, destination="store_credit")
    assert reply.status == 409, reply.text


def test_a_lost_dispute_keeps_refunds_refused_the_cardholder_has_the_money(demo, emulator):
    order = paid_order(emulator, 10000)
    dispute = emulator.open_dispute(order["payment_intent_id"])
    emulator.close_dispute(dispute["id"], "lost")
    sync(emulator)
    assert stored(order["id"]).dispute == f"lost:{dispute['id']}"
    assert "lost" in str(stored(order["id"]).attention)
    assert refund(order["id"], 1000, destination="store_credit").status == 409


def test_a_lost_dispute_of_a_second_tabs_payment_leaves_the_orders_store_credit_spendable(demo, emulator):
    from boxoffice.store import credits as credit_records

    order = paid_order(emulator, 10000)
    credit_id = refund_ok(order["id"], 10000, destination="store_credit")["credit"]["id"]
    stray = second_order_payment(emulator, order)
    dispute = emulator.open_dispute(stray)
    emulator.close_dispute(dispute["id"], "lost")  # the second tab's money went back, not the order's own
    sync(emulator)
    credit = credit_records.get("demo", credit_id)
    assert credit is not None and credit.attention is None


def test_a_won_dispute_clears_the_hold_on_refunds(demo, emulator):
    order = paid_order(emulator, 10000)
    dispute = emulator.open_dispute(order["payment_intent_id"])
    emulator.close_dispute(dispute["id"], "won")
    sync(emulator)
    assert stored(order["id"]).dispute is None
    assert "won" in str(stored(order["id"]).attention)
    assert refund_ok(order["id"], 1000)["status"] == "succeeded"


def test_dispute_events_in_reverse_order_end_where_stripe_is(demo, emulator):
    order = paid_order(emulator, 10000)
    before = {e["id"] for e in emulator_events(emulator)}
    dispute = emulator.open_dispute(order["payment_intent_id"])
    emulator.close_dispute(dispute["id"], "lost")
    late = [e for e in emulator_events(emulator) if e["id"] not in before]
    assert {e["type"] for e in late} >= {"charge.dispute.created", "charge.dispute.closed"}
    process(late[::-1])
    assert stored(order["id"]).dispute == f"lost:{dispute['id']}"
