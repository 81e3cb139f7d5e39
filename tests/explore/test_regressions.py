"""Breaks the exploration found, each replayed as its shortest sequence through the same harness.

Each test is one shrunk Hypothesis sequence, run step by step on the books machine, so a fix is
checked by the very audit that caught the break. A test whose fix is not on this branch yet is
``xfail(strict=True)``: it turns red the day the fix lands, to be unmarked.
"""

from collections.abc import Callable, Iterator

import pytest

from tests.explore.machine import BooksMachine


@pytest.fixture
def machine(world: object) -> Iterator[BooksMachine]:
    state = BooksMachine()
    state.fresh_world()
    yield state
    state.teardown()


def steps(machine: BooksMachine, *actions: Callable[[], object]) -> None:
    """Run each action, then audit the books as the machine does after every step."""
    machine.books_balance()
    for action in actions:
        action()
        machine.books_balance()


def test_a_single_use_code_discounts_one_ticket_of_a_two_ticket_order(machine: BooksMachine) -> None:
    """vouchers.times_used / max_uses: a comp code with max_uses=1 on an order of 2 tickets."""
    steps(
        machine,
        lambda: machine.sponsor_buys_codes(
            paid=False, quantity=1, max_uses=1, voucher="comp", outcome="succeed"
        ),
        lambda: machine.attendee_orders(tickets=2, workshops=0, with_code=True, pick=0),
    )


def _lost_payment_recovered_by_the_sweep(machine: BooksMachine) -> dict[str, object] | None:
    """A paid order whose every webhook the network lost; the sweep reconciles them from Stripe."""
    steps(
        machine,
        lambda: machine.attendee_orders(tickets=1, workshops=0, with_code=False, pick=0),
        lambda: machine.network_loses_events(n=5),
        lambda: machine.attendee_checks_out(pick=0, fault=None, tabs=1, pay="succeed"),
    )
    machine.world.settle()  # Stripe retried and gave up: only reconciliation can recover the events
    machine.world.receiver.drop_next = 0
    report = machine.world.sweep()
    machine.world.settle()
    machine.world.receiver.dropping.clear()
    machine.lost = False
    machine.books_balance()
    return report


def test_a_sweep_that_recovers_lost_payment_events_leaves_the_paid_order_unflagged(
    machine: BooksMachine,
) -> None:
    """Invariant 2's flag is for money nobody owns; once the events are processed the order owns it."""
    _lost_payment_recovered_by_the_sweep(machine)
    (order,) = machine._listed_orders()
    assert (order["status"], order["amount_paid"]) == ("paid", 25000)
    assert order["attention"] is None


def test_a_sweep_that_recovers_lost_events_reports_no_books_breaks(machine: BooksMachine) -> None:
    """The sweep's BooksBreak metric alarms staff; events in flight are not breaks."""
    report = _lost_payment_recovered_by_the_sweep(machine)
    assert report is not None
    assert report["events_admitted"] > 0
    assert report["books_breaks"] == 0


def _sponsor_pays_for_two_codes(machine: BooksMachine) -> None:
    machine.sponsor_buys_codes(paid=True, quantity=2, max_uses=3, voucher="percentage", outcome="succeed")


def test_a_staff_refund_of_a_whole_bulk_purchase_that_the_bank_fails_gives_the_codes_back(
    machine: BooksMachine,
) -> None:
    """Invariant 4: codes are inactive exactly when the purchase's own payment is fully refunded.

    Found by the exploration (the purchase stayed 'refunded', its codes inactive); fixed on main.
    """
    steps(
        machine,
        lambda: _sponsor_pays_for_two_codes(machine),
        lambda: machine.staff_refund_purchase(pick=0, part=None, key=True),
        lambda: machine.bank_fails_refund(pick=0),
    )


def test_a_dashboard_refund_of_a_whole_bulk_purchase_that_the_bank_fails_gives_the_codes_back(
    machine: BooksMachine,
) -> None:
    """Found as: buy 2 codes, partial dispute won, dashboard refund of the rest, bank fails it; the dispute is not needed."""
    steps(
        machine,
        lambda: _sponsor_pays_for_two_codes(machine),
        lambda: machine.dashboard_refund(pick=0, share="all"),
        lambda: machine.bank_fails_refund(pick=0),
    )


def test_a_partial_dashboard_refund_of_a_bulk_purchase_that_the_bank_fails_keeps_the_books(
    machine: BooksMachine,
) -> None:
    """The partial case of the break above holds: the purchase stays paid, its codes active."""
    steps(
        machine,
        lambda: _sponsor_pays_for_two_codes(machine),
        lambda: machine.dashboard_refund(pick=0, share="part"),
        lambda: machine.bank_fails_refund(pick=0),
    )


def test_a_bulk_purchase_counts_only_completed_refunds_of_its_own_payment(machine: BooksMachine) -> None:
    """The exploration's sequence as generated (seed 1279413066, not shrunk). It broke only sometimes: a
    dashboard refund of a purchase whose payment was not recorded yet counted against the purchase
    whatever payment it refunded; it now waits, unmatched, for the payment (store.mark_paid)."""
    m = machine
    m.fresh_world(seed="paid")
    steps(
        m,
        lambda: m.staff_refunds_order(destination="card", fault=None, key="new", pick=723, share="half"),
        lambda: m.staff_refunds_order(destination="card", fault=None, key="new", pick=95, share="small"),
        lambda: m.network_loses_events(n=3),
        lambda: m.network_holds_events(steps=20, reverse=True),
        lambda: m.dashboard_refund(pick=118, share="all"),
        lambda: m.staff_refunds_order(
            destination="card", fault=None, key="other_staff", pick=79, share="half"
        ),
        lambda: m.sponsor_buys_codes(
            max_uses=1, outcome="succeed", paid=True, quantity=1, voucher="percentage"
        ),
        lambda: m.network_releases_events(reverse=True),
        lambda: m.network_holds_events(steps=20, reverse=True),
        lambda: m.dashboard_refund(pick=22, share="part"),
        lambda: m.staff_refunds_order(
            destination="card", fault=("reset_after", 3), key="other_staff", pick=1, share="all"
        ),
        lambda: m.staff_refunds_order(
            destination="store_credit", fault=("reset", 3), key="new", pick=887, share="half"
        ),
        lambda: m.dashboard_refund(pick=670, share="all"),
        lambda: m.sponsor_buys_codes(max_uses=1, outcome="decline", paid=False, quantity=1, voucher="comp"),
        lambda: m.network_releases_events(reverse=False),
    )


def test_a_credit_is_not_paid_twice_when_a_second_tabs_payment_is_refunded_in_full(
    machine: BooksMachine,
) -> None:
    """Found by ``make explore`` (seed 540056349, as generated): half the order refunded as store credit,
    then a second tab's payment (money nobody keeps) refunded in the dashboard. The code was right (the
    refund counted against the duplicate); the audit summed the duplicate's refund into the order's card
    refunds and reported the credit as paid twice."""
    m = machine
    m.fresh_world(seed="paid")
    steps(
        m,
        lambda: m.bank_fails_refund(pick=93),
        lambda: m.another_tab_pays(kind="order", pick=523),
        lambda: m.bank_fails_refund(pick=233),
        lambda: m.attendee_checks_out(fault=None, pay="decline", pick=341, tabs=2),
        lambda: m.bank_settles_async_payment(pick=313),
        lambda: m.attendee_applies_credit(credit_pick=730, pick=114),
        lambda: m.order_cancelled(by_staff=False, fault=("reset_after", 1), pick=487),
        lambda: m.refund_crashes_then_recovers(
            crash=("boxoffice.stripe_gateway", "create_refund", "before"),
            destination="store_credit",
            pick=376,
            recovery="sweep",
        ),
        lambda: m.attendee_applies_credit(credit_pick=275, pick=512),
        lambda: m.sweep_runs(settle_first=True),
        lambda: m.dashboard_refund(pick=600, share="all"),
    )


def test_events_lost_after_a_conference_is_deactivated_are_reconciled_by_the_sweep(
    machine: BooksMachine,
) -> None:
    """Found by ``make explore`` (seed 2626825565, as generated): the network lost a checkout's events,
    staff paused sales, and the sweep, which still settles the deactivated conference, never listed
    Stripe's events for it, so ``checkout.session.completed`` stayed unrecorded (``event.unrecorded``)."""
    m = machine
    steps(
        m,
        lambda: m.dashboard_refund(pick=20, share="all"),
        lambda: m.network_holds_events(reverse=True, steps=3),
        lambda: m.network_loses_events(n=3),
        lambda: m.sponsor_buys_codes(max_uses=1, outcome="succeed", paid=True, quantity=1, voucher="comp"),
        lambda: m.staff_pauses_sales(active=False),
        lambda: m.network_holds_events(reverse=True, steps=3),
        lambda: m.sweep_runs(settle_first=False),
        lambda: m.attendee_buys_a_ticket(),
        lambda: m.attendee_orders(pick=319, tickets=1, with_code=False, workshops=2),
        lambda: m.bank_settles_async_payment(pick=216),
        lambda: m.time_passes(minutes=1, then_sweep=True),
    )
