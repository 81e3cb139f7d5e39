"""Breaks of the money promise found by the sixth adversarial round: the swap of which of two paid
tabs is the order's own (``orders.own_payment``), one minimal story each.

A test marked ``xfail(strict=True)`` documents a break that is still there; the others pin a
sequence that holds. The oracle is the audit (``assert_books_hold``) or an explicit assertion.
"""

from typing import Any

import pytest

from boxoffice.store import capacity as counters
from tests.support import capacity
from tests.support import refund_fixtures as rf
from tests.support.books import assert_books_hold
from tests.support.bus import BusTap, domain_events
from tests.support.order_fixtures import checkout_session, stored
from tests.support.pipeline import process, rerun, sync
from tests.support.stripe import emulator_events, session_intent

WORKSHOPS = counters.addon_scope("workshop")


def _two_tabs(emulator: Any, workshops: int = 10) -> tuple[dict[str, Any], str, str, dict[str, dict]]:
    """An order paid in two tabs at Stripe, no event processed yet: the order, the first tab's
    intent, the second's, and each tab's ``checkout.session.completed`` by intent."""
    capacity.limit_workshop(workshops)
    order = rf.new_order(10000)
    session = checkout_session(order["id"])
    emulator.pay(session, "succeed")
    first = session_intent(emulator, session)
    second = rf.second_order_payment(emulator, order)
    completed = {
        e["data"]["object"]["payment_intent"]: e
        for e in emulator_events(emulator)
        if e["type"] == "checkout.session.completed"
    }
    return order, first, second, completed


def _refund_events(emulator: Any) -> list[dict[str, Any]]:
    return [e for e in emulator_events(emulator) if e["type"].startswith(("charge.", "refund."))]


def _own(order_id: str, intent: str) -> bool:
    return rf.stored_payment(order_id, f"pay_{intent}").is_own


def _state(order_id: str) -> tuple[str, int, int]:
    final = rf.money(order_id)
    return final["status"], final["amount_paid"], final["amount_refunded"]


def test_the_kept_payments_event_retried_after_the_swap_committed_announces_the_order_once(
    demo, emulator, monkeypatch
):
    """The first tab was refunded in full in the dashboard and its events came before its payment's:
    the order was recorded refunded, never announced, its seats back. The second tab's event makes
    it the order's own, and the Lambda dies right after the swap committed, before ``order.paid``
    was due. The retry finds the payment recorded and the order paid: it must still announce, once,
    with the seats held."""
    from boxoffice.orders import payments

    order, first, second, completed = _two_tabs(emulator)
    tap = BusTap(("boxoffice",))
    rf.dashboard_refund(emulator, first)
    process([*_refund_events(emulator), completed[first]])
    assert _state(order["id"]) == ("refunded", 10000, 10000)
    assert capacity.held(WORKSHOPS) == 0

    def crash(*args: Any) -> None:
        raise RuntimeError("the Lambda died after the swap committed")

    monkeypatch.setattr(payments, "paid_again", crash)
    with pytest.raises(RuntimeError):
        process([completed[second]])
    assert _own(order["id"], second)
    monkeypatch.undo()
    rerun(completed[second])
    rerun(completed[second])  # a staff replay changes nothing
    sync(emulator)
    assert _state(order["id"]) == ("paid", 10000, 0)
    assert capacity.held(WORKSHOPS) == 2
    assert [e["order_id"] for e in domain_events(tap, "order.paid")] == [order["id"]]
    assert_books_hold("demo")


def test_seats_sold_to_someone_else_after_the_refund_are_not_taken_back_by_the_swap(demo, emulator):
    """Two workshop seats in all. The first tab is refunded in full in the dashboard before the
    second tab's event arrives: the order is refunded and its seats go back, and another attendee
    buys them. The second tab's payment then arrives: taking it as the order's own would hold four
    seats of two. It stays money beside the refunded order, to give back."""
    order, first, second, completed = _two_tabs(emulator, workshops=2)
    process([completed[first]])
    rf.dashboard_refund(emulator, first)
    process(_refund_events(emulator))
    assert capacity.held(WORKSHOPS) == 0
    other = rf.paid_order(emulator, 10000)
    assert stored(other["id"]).status == "paid"
    assert capacity.held(WORKSHOPS) == 2
    process([completed[second]])
    sync(emulator)
    assert capacity.held(WORKSHOPS) <= 2
    assert _state(order["id"]) == ("refunded", 10000, 10000)
    assert not _own(order["id"], second)
    assert stored(order["id"]).attention
    assert_books_hold("demo")


def test_both_tabs_refunded_in_the_dashboard_leave_the_order_refunded_with_its_seats_back(demo, emulator):
    """The first tab refunded (the second becomes the order's own), then the second refunded too:
    the order ends refunded, both payments back, its seats released once."""
    order, first, second, completed = _two_tabs(emulator)
    process([completed[first], completed[second]])
    rf.dashboard_refund(emulator, first)
    sync(emulator)
    assert _state(order["id"]) == ("paid", 10000, 0)
    assert _own(order["id"], second)
    rf.dashboard_refund(emulator, second)
    sync(emulator)
    assert _state(order["id"]) == ("refunded", 10000, 10000)
    assert capacity.held(WORKSHOPS) == 0
    assert_books_hold("demo")


def test_both_tabs_refunded_in_the_dashboard_end_the_same_whatever_the_order_of_their_events(demo, emulator):
    """Both refunds made at Stripe before any event: the second tab's refund first, then the first
    tab's payment, its refund, and the second tab's payment."""
    order, first, second, completed = _two_tabs(emulator)
    rf.dashboard_refund(emulator, first)
    rf.dashboard_refund(emulator, second)
    refunds = _refund_events(emulator)
    of_second = [e for e in refunds if e["data"]["object"].get("payment_intent") == second]
    of_first = [e for e in refunds if e not in of_second]
    process([*of_second, completed[first], *of_first, completed[second]])
    sync(emulator)
    assert _state(order["id"]) == ("refunded", 10000, 10000)
    assert not _own(order["id"], second)
    assert capacity.held(WORKSHOPS) == 0
    assert_books_hold("demo")


def test_a_partial_dashboard_refund_then_the_rest_swaps_to_the_kept_payment(demo, emulator):
    """The first tab is refunded in two dashboard refunds: after the first part the order is partly
    refunded on its own payment; after the rest it takes the untouched second tab as its own."""
    tap = BusTap(("boxoffice",))
    order, first, second, completed = _two_tabs(emulator)
    process([completed[first], completed[second]])
    rf.dashboard_refund(emulator, first, 4000)
    sync(emulator)
    assert _state(order["id"]) == ("partially_refunded", 10000, 4000)
    rf.dashboard_refund(emulator, first, 6000)
    sync(emulator)
    assert _state(order["id"]) == ("paid", 10000, 0)
    assert (_own(order["id"], first), _own(order["id"], second)) == (False, True)
    assert capacity.held(WORKSHOPS) == 2
    assert [e["order_id"] for e in domain_events(tap, "order.paid")] == [order["id"]]
    assert_books_hold("demo")


def test_a_dashboard_refund_that_fails_at_the_bank_after_the_swap_leaves_the_first_tab_flagged(
    demo, emulator
):
    """The first tab's dashboard refund made the second tab the order's own; the bank then sends
    that refund back. The order stays paid on the second tab; the first tab's money is beside it
    again, unrefunded, and staff are told."""
    order, first, second, completed = _two_tabs(emulator)
    process([completed[first], completed[second]])
    refund = rf.dashboard_refund(emulator, first)
    sync(emulator)
    assert _own(order["id"], second)
    emulator.fail_refund(refund["id"])
    sync(emulator)
    assert _state(order["id"]) == ("paid", 10000, 0)
    assert rf.stored_payment(order["id"], f"pay_{first}").amount_refunded == 0
    assert stored(order["id"]).attention
    assert capacity.held(WORKSHOPS) == 2
    assert_books_hold("demo")


def test_a_dashboard_refund_that_fails_at_the_bank_while_the_swap_commits_is_counted_once(
    demo, emulator, monkeypatch
):
    """The bank's failure of the first tab's refund is read while that refund still counts against
    the order; the swap commits before the failure is written. The failure is decided again: it
    gives the money back to the first tab alone, never to the order's amounts."""
    from boxoffice.orders import own_payment
    from boxoffice.store import refund_writes

    order, first, second, completed = _two_tabs(emulator)
    process([completed[first], completed[second]])
    refund = rf.dashboard_refund(emulator, first)
    real_adopt = own_payment.adopt_kept_payment
    monkeypatch.setattr(own_payment, "adopt_kept_payment", lambda order: None)
    sync(emulator)  # counted against the order, not swapped yet
    monkeypatch.undo()
    assert _state(order["id"]) == ("refunded", 10000, 10000)
    real_failure = refund_writes.record_refund_failure
    swapped: list[Any] = []

    def swap_first(*args: Any, **kw: Any) -> None:
        if not swapped:
            swapped.append(real_adopt(stored(order["id"])))
        return real_failure(*args, **kw)

    monkeypatch.setattr(refund_writes, "record_refund_failure", swap_first)
    emulator.fail_refund(refund["id"])
    sync(emulator)
    monkeypatch.undo()
    assert swapped[0] is not None
    sync(emulator)
    assert _state(order["id"]) == ("paid", 10000, 0)
    assert rf.stored_payment(order["id"], f"pay_{first}").amount_refunded == 0
    assert capacity.held(WORKSHOPS) == 2
    assert_books_hold("demo")


def test_a_staff_refund_of_the_second_tab_racing_the_swap_never_gives_it_back_twice(
    demo, emulator, monkeypatch
):
    """Staff refund the second tab's money by its id while the first tab's dashboard refund is being
    settled, just before the swap's transaction. Whichever wins, the second tab is refunded at most
    once, and the order ends paid on it (the swap won: the staff refund is refused) or refunded."""
    from boxoffice.store import orders as records

    order, first, second, completed = _two_tabs(emulator)
    process([completed[first], completed[second]])
    payment_id = rf.stray_payment_id(order["id"], second)
    rf.dashboard_refund(emulator, first)
    real = records.adopt_kept_payment
    replies: list[Any] = []

    def staff_first(*args: Any) -> None:
        if not replies:
            replies.append(None)
            replies[0] = rf.refund(order["id"], 10000, payment_id=payment_id)
        return real(*args)

    monkeypatch.setattr(records, "adopt_kept_payment", staff_first)
    process(_refund_events(emulator))
    monkeypatch.undo()
    sync(emulator)
    given_back = [r["amount"] for r in rf.stripe_refunds(emulator, second) if r["status"] == "succeeded"]
    if replies[0].status == 201:
        assert given_back == [10000]
        assert (_state(order["id"]), capacity.held(WORKSHOPS)) == (("refunded", 10000, 10000), 0)
    else:
        assert replies[0].status == 409, replies[0].text
        assert given_back == []
        assert (_state(order["id"]), capacity.held(WORKSHOPS)) == (("paid", 10000, 0), 2)
    assert_books_hold("demo")
