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
