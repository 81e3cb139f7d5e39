"""Breaks of the money promise found by the sixth adversarial round (disputes of orders' and
bulk purchases' payments, and the refunds they hold), one minimal story each.

A test marked ``xfail(strict=True)`` documents a break that is still there; the others pin a
sequence no earlier test covered. The oracle is the audit (``assert_books_hold``) or an explicit
assertion: the audit reads the dispute marks, so a mark that went missing hides a break from it.
"""

from typing import Any

import pytest

from tests.support import bulk_fixtures as bf
from tests.support import refund_fixtures as rf
from tests.support.books import assert_books_hold
from tests.support.functions import refunds_fn
from tests.support.http import STAFF, call
from tests.support.order_fixtures import checkout_session, stored
from tests.support.pipeline import process, rerun, sync
from tests.support.stripe import emulator_events, stripe_client


def _outage_then_disputes_first(emulator: Any) -> None:
    """A webhook outage ends: every event arrives at once, the disputes' before the payments'."""
    events = emulator_events(emulator)
    disputes = [e for e in events if e["type"].startswith("charge.dispute.")]
    process(disputes + [e for e in events if e not in disputes])


def _paid_twice_unsynced(emulator: Any) -> tuple[dict[str, Any], str, str]:
    """An order paid on its page and again in a second tab, no event processed yet."""
    order = rf.new_order(10000)
    session_id = checkout_session(order["id"])
    emulator.pay(session_id, "succeed")
    intent = stripe_client(emulator).v1.checkout.sessions.retrieve(session_id).to_dict()["payment_intent"]
    stray = rf.second_order_payment(emulator, order)
    return order, intent, stray


def test_a_charged_back_own_payment_still_stops_store_credit_when_a_second_tabs_early_dispute_held_the_mark(
    demo, emulator
):
    """A webhook outage, then every event at once, the disputes first. Both payments were charged
    back: the second tab's (seen first, its payment not recorded yet, so it holds the order's mark)
    and the order's own (its lost mark cannot take the place of a lost one). Staff refund as store
    credit: the recheck moves the second tab's mark to its payment, and the order's own charge-back
    must still stop the refund: the cardholder already has that money back through the bank."""
    order, own, stray = _paid_twice_unsynced(emulator)
    for intent in (stray, own):
        dispute = emulator.open_dispute(intent)
        emulator.close_dispute(dispute["id"], "lost")
    _outage_then_disputes_first(emulator)
    reply = rf.refund(order["id"], 10000, destination="store_credit")
    assert reply.status == 409, reply.text
    assert str(stored(order["id"]).dispute).startswith("lost:")
    assert rf.refund(order["id"], 10000).status in (409, 502)
    assert rf.stripe_refunds(emulator, own) == []
    assert_books_hold("demo")


def _crash_before_completing(monkeypatch: Any) -> None:
    """``phases.complete`` dies once: the refund is reserved and left pending."""
    from boxoffice.refunds import phases

    real, crashes = phases.complete, [RuntimeError("the function died before completing")]

    def crashing(*args: Any, **kwargs: Any) -> Any:
        if crashes:
            raise crashes.pop()
        return real(*args, **kwargs)

    monkeypatch.setattr(phases, "complete", crashing)


@pytest.mark.parametrize("finish", ["sweep", "retry"])
def test_a_store_credit_refund_left_pending_is_not_issued_after_the_payment_was_charged_back(
    demo, emulator, monkeypatch, finish
):
    """Staff refund the order as store credit; the function dies after the reservation. Meanwhile
    the cardholder's bank charges the order's payment back, and the dispute is lost. Whatever
    finishes the pending refund (the sweep, or staff's retry with the same key) must not issue the
    credit: the cardholder already has that money back."""
    from boxoffice import refunds

    order = rf.paid_order(emulator, 10000)
    _crash_before_completing(monkeypatch)
    assert rf.refund(order["id"], 10000, destination="store_credit", key="k1").status == 500
    dispute = emulator.open_dispute(order["payment_intent_id"])
    emulator.close_dispute(dispute["id"], "lost")
    sync(emulator)
    (pending,) = rf.stored_refunds(order["id"])
    if finish == "sweep":
        rf.make_stale(order["id"], pending.refund_id)
        refunds.finish_stale_pending("demo")
    else:
        reply = rf.refund(order["id"], 10000, destination="store_credit", key="k1")
        assert (reply.status, reply.json.get("status")) == (201, "failed"), reply.text
    done = rf.stored_refund(order["id"], pending.refund_id)
    assert done.status == "failed", done.status
    assert rf.money(order["id"])["refund_reserved"] == 0
    assert_books_hold("demo")


def _dispute_events(emulator: Any, seen: set[str]) -> list[dict[str, Any]]:
    """The dispute events not processed yet (the second tab's payment events stay held back)."""
    new = [
        e
        for e in emulator_events(emulator)
        if e["type"].startswith("charge.dispute.") and e["id"] not in seen
    ]
    seen.update(e["id"] for e in new)
    return new


def test_an_open_dispute_of_the_orders_own_payment_still_stops_store_credit_when_an_early_one_held_the_mark_and_was_won(
    demo, emulator
):
    """The order is paid and recorded; a second tab's payment events are late. That payment is
    disputed (its payment not recorded yet, so it holds the order's mark), then the order's own
    payment is disputed too (kept out by the mark), then the second tab's dispute is won and its end
    clears the mark. The order's own payment is still disputed: store credit must wait for it."""
    order = rf.paid_order(emulator, 10000)
    stray = rf.second_order_payment(emulator, order)  # its events are late: not processed yet
    seen: set[str] = set()
    stray_dispute = emulator.open_dispute(stray)
    process(_dispute_events(emulator, seen))
    own = emulator.open_dispute(order["payment_intent_id"])
    process(_dispute_events(emulator, seen))
    emulator.close_dispute(stray_dispute["id"], "won")
    process(_dispute_events(emulator, seen))
    assert stored(order["id"]).dispute == f"open:{own['id']}"
    assert rf.refund(order["id"], 10000, destination="store_credit").status == 409
    sync(emulator)
    assert_books_hold("demo")


@pytest.mark.parametrize("outcome", ["won", "lost"])
def test_store_credit_issued_before_a_dispute_of_the_orders_payment_is_not_spent_while_it_is_open(
    demo, emulator, outcome
):
    """Staff refunded the order as store credit; then the cardholder's bank disputes the order's
    card payment. While the dispute is open the bank may give that same money back: the credit must
    not be spent meanwhile (lost, the customer would have it twice). Won, it is spendable again."""
    order = rf.paid_order(emulator, 10000)
    credit = rf.refund_ok(order["id"], 10000, destination="store_credit")["credit"]
    dispute = emulator.open_dispute(order["payment_intent_id"])
    sync(emulator)
    other = rf.new_order(10000)
    assert rf.apply_credit(credit["id"], other["id"]).status in (409, 422)
    emulator.close_dispute(dispute["id"], outcome)
    sync(emulator)
    reply = rf.apply_credit(credit["id"], other["id"])
    assert reply.status in ((201,) if outcome == "won" else (409, 422)), reply.text
    assert_books_hold("demo")


def test_the_undisputed_rest_of_a_partly_charged_back_payment_can_still_go_back_as_store_credit(
    demo, emulator
):
    """The cardholder's bank charged back 3000 of the order's 10000 and the dispute was lost. The
    other 7000 is still ours and the attendee's: staff must be able to give it back somehow (the
    card refuses a charge with a lost dispute, so store credit), never the 3000 again."""
    order = rf.paid_order(emulator, 10000)
    dispute = emulator.open_dispute(order["payment_intent_id"], amount=3000)
    emulator.close_dispute(dispute["id"], "lost")
    sync(emulator)
    assert rf.refund(order["id"], 10000, destination="store_credit").status in (409, 422)
    assert rf.refund(order["id"], 7000, destination="store_credit").status == 201
    assert_books_hold("demo")


def test_two_partial_lost_disputes_of_an_orders_payments_leave_only_what_is_left_after_both(demo, emulator):
    """Both card payments of the order are charged back in part (2000 and 5000) and both disputes
    are lost, each event delivered twice. Store credit gives back what is left after both, never more."""
    from boxoffice.refunds import stripe_events

    order_id, older, newer = rf.split_order(emulator)
    for intent, amount in ((older, 2000), (newer, 5000)):
        dispute = emulator.open_dispute(intent, amount=amount)
        emulator.close_dispute(dispute["id"], "lost")
        for _ in range(2):  # the intents carry no metadata of ours: delivered as the recheck does
            stripe_events.on_dispute("demo", {"id": dispute["id"], "metadata": {"order_id": order_id}})
    assert stored(order_id).charged_back == 7000
    assert rf.refund(order_id, 23001, destination="store_credit").status in (409, 422)
    assert rf.refund(order_id, 23000, destination="store_credit").status == 201
    assert rf.refund(order_id, 100, destination="store_credit").status in (409, 422)
    assert rf.refund(order_id, 100).status == 409  # the card: Stripe refuses a disputed charge
    sync(emulator)
    assert_books_hold("demo")


def test_store_credit_of_more_than_a_partial_chargeback_left_is_refused_and_changes_nothing(demo, emulator):
    """3000 of the order's 10000 charged back and lost: a store credit of 7001 is refused, and no
    amount, refund or credit moved; 7000 then goes through."""
    order = rf.paid_order(emulator, 10000)
    dispute = emulator.open_dispute(order["payment_intent_id"], amount=3000)
    emulator.close_dispute(dispute["id"], "lost")
    sync(emulator)
    before = rf.money(order["id"])
    assert rf.refund(order["id"], 7001, destination="store_credit").status in (409, 422)
    assert rf.money(order["id"]) == before
    assert rf.stored_refunds(order["id"]) == [] and rf.all_credit_items() == []
    assert rf.refund(order["id"], 7000, destination="store_credit").status == 201
    assert_books_hold("demo")


def test_a_lost_dispute_event_delivered_twice_counts_its_chargeback_once(demo, emulator):
    """The lost dispute's events run twice (a Lambda retry): 3000 charged back is counted once, so
    the 7000 left still goes back as store credit."""
    order = rf.paid_order(emulator, 10000)
    dispute = emulator.open_dispute(order["payment_intent_id"], amount=3000)
    emulator.close_dispute(dispute["id"], "lost")
    sync(emulator)
    for event in emulator_events(emulator):
        if event["type"].startswith("charge.dispute."):
            rerun(event)
    assert (stored(order["id"]).charged_back, stored(order["id"]).chargebacks) == (3000, {dispute["id"]})
    assert rf.refund(order["id"], 7000, destination="store_credit").status == 201
    assert_books_hold("demo")


def test_an_open_dispute_of_another_payment_still_stops_store_credit_after_a_partial_one_was_lost(
    demo, emulator
):
    """One card payment of the order is charged back in part and lost; then the other is disputed
    and the dispute is still open: its outcome is unknown, so store credit waits for it."""
    from boxoffice.refunds import stripe_events

    order_id, older, newer = rf.split_order(emulator)
    lost = emulator.open_dispute(older, amount=2000)
    emulator.close_dispute(lost["id"], "lost")
    stripe_events.on_dispute("demo", {"id": lost["id"], "metadata": {"order_id": order_id}})
    opened = emulator.open_dispute(newer, amount=5000)
    stripe_events.on_dispute("demo", {"id": opened["id"], "metadata": {"order_id": order_id}})
    assert stored(order_id).dispute == f"open:{opened['id']}"
    assert rf.refund(order_id, 1000, destination="store_credit").status == 409
    emulator.close_dispute(opened["id"], "won")
    stripe_events.on_dispute("demo", {"id": opened["id"], "metadata": {"order_id": order_id}})
    assert stored(order_id).dispute == f"lost:{lost['id']}"
    assert rf.refund(order_id, 28000, destination="store_credit").status == 201
    sync(emulator)
    assert_books_hold("demo")


def test_a_second_tabs_payment_whose_dispute_came_before_it_while_another_held_the_mark_is_not_refunded(
    demo, emulator
):
    """The order's own payment is disputed (it holds the mark). A second tab's payment, its events
    late, is charged back and lost before its payment is recorded: its dispute can mark neither the
    order (held) nor a payment (none yet). Staff refund that payment by its id: the cardholder has
    it back already, so no money leaves (Stripe refuses a charged-back charge; our books stay)."""
    order = rf.paid_order(emulator, 10000)
    emulator.open_dispute(order["payment_intent_id"])
    sync(emulator)
    stray = rf.second_order_payment(emulator, order)
    seen = {e["id"] for e in emulator_events(emulator) if e["type"].startswith("charge.dispute.")}
    lost = emulator.open_dispute(stray)
    emulator.close_dispute(lost["id"], "lost")
    process(_dispute_events(emulator, seen))
    sync(emulator)
    reply = rf.refund(order["id"], 10000, payment_id=rf.stray_payment_id(order["id"], stray))
    assert reply.status in (409, 502), reply.text
    assert rf.stripe_refunds(emulator, stray) == []
    payment = rf.stored_payment(order["id"], rf.stray_payment_id(order["id"], stray))
    assert (payment.refund_reserved or 0, payment.amount_refunded or 0) == (0, 0)
    assert_books_hold("demo")


@pytest.mark.parametrize("outcome", ["open", "lost"])
def test_store_credit_is_refused_for_a_payment_stripe_has_disputed_while_its_webhooks_are_down(
    demo, emulator, outcome
):
    """A webhook outage: the bank disputes the order's payment (and the dispute is lost) and none of
    it has reached us. Staff refund the order as store credit. Before money leaves in any form the
    books are the ones Stripe would confirm now: the cardholder has (or may get) that money back."""
    order = rf.paid_order(emulator, 10000)
    dispute = emulator.open_dispute(order["payment_intent_id"])
    if outcome == "lost":
        emulator.close_dispute(dispute["id"], "lost")
    reply = rf.refund(order["id"], 10000, destination="store_credit")
    assert reply.status == 409, reply.text
    sync(emulator)
    assert_books_hold("demo")


def test_a_second_tabs_early_lost_dispute_never_freezes_the_credit_of_the_orders_own_payment(demo, emulator):
    """Staff refunded the paid order as store credit. A second tab's payment, its events late, is
    charged back and the dispute lost before its payment is recorded. That gave back the second
    tab's money, not the money the credit stands for: once everything arrived the credit is
    spendable (nothing lets staff unfreeze a credit, so a wrong freeze would hold it for ever)."""
    order = rf.paid_order(emulator, 10000)
    credit = rf.refund_ok(order["id"], 10000, destination="store_credit")["credit"]
    stray = rf.second_order_payment(emulator, order)  # its events are late
    seen: set[str] = set()
    dispute = emulator.open_dispute(stray)
    emulator.close_dispute(dispute["id"], "lost")
    process(_dispute_events(emulator, seen))
    sync(emulator)
    other = rf.new_order(10000)
    reply = rf.apply_credit(credit["id"], other["id"])
    assert reply.status == 201, reply.text
    assert_books_hold("demo")


def test_two_disputes_on_two_payments_of_an_order_end_the_same_whatever_order_their_events_come_in(
    demo, emulator
):
    """The order's own payment is disputed and won; a second tab's is disputed and lost. A webhook
    outage, then every dispute event at once, newest first and each twice: the order's own refunds
    go on, the second tab's money stays refused (the cardholder has it back)."""
    order = rf.paid_order(emulator, 10000)
    stray = rf.second_order_payment(emulator, order)
    sync(emulator)
    seen = {e["id"] for e in emulator_events(emulator)}
    own = emulator.open_dispute(order["payment_intent_id"])
    other = emulator.open_dispute(stray)
    emulator.close_dispute(own["id"], "won")
    emulator.close_dispute(other["id"], "lost")
    events = _dispute_events(emulator, seen)[::-1]
    process(events)
    for event in events:
        rerun(event)
    assert stored(order["id"]).dispute is None
    payment_id = rf.stray_payment_id(order["id"], stray)
    assert rf.stored_payment(order["id"], payment_id).dispute == f"lost:{other['id']}"
    assert rf.refund(order["id"], 10000, payment_id=payment_id).status == 409
    assert rf.refund(order["id"], 4000).status == 201
    assert rf.refund(order["id"], 6000, destination="store_credit").status == 201
    sync(emulator)
    assert_books_hold("demo")


@pytest.mark.parametrize("own_outcome", ["won", "lost"])
def test_a_bulk_purchase_paid_twice_with_both_payments_disputed_during_an_outage_follows_its_own_dispute(
    demo, emulator, own_outcome
):
    """The sponsor paid twice; the second tab's payment was charged back (lost) and the purchase's
    own payment disputed too, all during a webhook outage. Every event arrives at once, the
    disputes' first. The purchase's refund follows its own payment's dispute alone: won, staff
    refund it; lost, it is refused (the sponsor has that money back)."""
    purchase, session_id = bf.checked_out(emulator)
    emulator.pay(session_id, "succeed")
    own = stripe_client(emulator).v1.checkout.sessions.retrieve(session_id).to_dict()["payment_intent"]
    stray = bf.second_paid_session(emulator, purchase)
    lost = emulator.open_dispute(stray)
    emulator.close_dispute(lost["id"], "lost")
    disputed = emulator.open_dispute(own)
    emulator.close_dispute(disputed["id"], own_outcome)
    _outage_then_disputes_first(emulator)
    assert bf.stored(purchase["id"]).payment_intent_id == own
    reply = call(
        refunds_fn(), "POST", f"{bf.BASE}/{purchase['id']}/refund", body={"reason": "requested_by_customer"},
        claims=STAFF,
    )  # fmt: skip
    assert reply.status == (201 if own_outcome == "won" else 409), reply.text
    sync(emulator)
    assert_books_hold("demo")


def test_a_dispute_opened_while_a_card_refund_is_in_flight_sends_nothing_and_gives_the_reservation_back(
    demo, emulator, monkeypatch
):
    """Staff's card refund was reserved; before it reaches Stripe the bank disputes the payment and
    the event is processed. Stripe refuses a disputed charge: the refund fails, its reservation is
    refundable again once the dispute is won, and nothing went to the card."""
    from boxoffice.refunds import phases

    order = rf.paid_order(emulator, 10000)
    real, opened = phases._call_stripe, []

    def dispute_first(*args: Any, **kwargs: Any) -> Any:
        opened.append(emulator.open_dispute(order["payment_intent_id"]))
        sync(emulator)
        return real(*args, **kwargs)

    monkeypatch.setattr(phases, "_call_stripe", dispute_first)
    reply = rf.refund(order["id"], 4000)
    monkeypatch.undo()
    assert reply.status in (409, 502), reply.text
    assert rf.stripe_refunds(emulator, order["payment_intent_id"]) == []
    assert rf.money(order["id"])["refund_reserved"] == 0
    emulator.close_dispute(opened[0]["id"], "won")
    sync(emulator)
    assert rf.refund(order["id"], 4000).status == 201
    sync(emulator)
    assert_books_hold("demo")


def test_a_credit_passed_on_through_another_order_waits_for_a_dispute_of_the_first_orders_payment(
    demo, emulator
):
    """Order A was refunded as store credit, the credit paid order B, and B was refunded as store
    credit in turn: the same money, passed on. The bank then disputes A's card payment. While the
    dispute is open, B's credit must not be spent either (lost, the customer has that money twice)."""
    first = rf.paid_order(emulator, 10000)
    credit = rf.refund_ok(first["id"], 10000, destination="store_credit")["credit"]
    second = rf.new_order(10000)
    assert rf.apply_credit(credit["id"], second["id"]).status == 201
    passed_on = rf.refund_ok(second["id"], 10000, destination="store_credit")["credit"]
    dispute = emulator.open_dispute(first["payment_intent_id"])
    sync(emulator)
    third = rf.new_order(10000)
    assert rf.apply_credit(passed_on["id"], third["id"]).status in (409, 422)
    emulator.close_dispute(dispute["id"], "lost")
    sync(emulator)
    assert_books_hold("demo")
