"""How a card refund is split across an owner's payments (docs/domain.md "Refunds").

Newest payment first, none asked for more than it has left; the parts add up to the amount, or the
refund is refused when the payments have less left than asked.
"""

from dataclasses import dataclass

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from boxoffice.errors import InvalidState
from boxoffice.refunds.phases import split
from tests.support.properties import rules


@dataclass
class Payments:
    """An owner as the split reads it: its payment intents with what each has left, newest first."""

    left: list[tuple[str, int]]

    def intents(self) -> list[tuple[str, int]]:
        return self.left


PAYMENTS = st.lists(st.integers(-5_000, 50_000), min_size=0, max_size=6).map(
    lambda amounts: Payments([(f"pi_{i}", a) for i, a in enumerate(amounts)])
)
"""Up to six payments, newest first; a negative balance stands for one over-refunded by a race."""


def refundable(owner: Payments) -> int:
    return sum(max(left, 0) for _, left in owner.left)


@rules
@given(PAYMENTS, st.data())
def test_a_split_adds_up_to_the_amount_and_asks_no_payment_for_more_than_it_has_left(owner, data):
    amount = data.draw(st.integers(0, refundable(owner)))
    parts = split(owner, amount)
    left = dict(owner.left)
    assert sum(parts.values()) == amount
    for intent, part in parts.items():
        assert 0 < part <= left[intent]


@rules
@given(PAYMENTS, st.data())
def test_the_newest_payments_are_refunded_first(owner, data):
    assume(refundable(owner) > 0)
    amount = data.draw(st.integers(1, refundable(owner)))
    parts = split(owner, amount)
    touched = [i for i, (intent, _) in enumerate(owner.left) if intent in parts]
    last = max(touched)
    for intent, left in owner.left[:last]:
        assert parts.get(intent, 0) == max(left, 0), (
            "an older payment is touched only once newer ones are empty"
        )


@rules
@given(PAYMENTS, st.integers(1, 10_000))
def test_more_than_the_payments_have_left_is_refused(owner, excess):
    with pytest.raises(InvalidState):
        split(owner, refundable(owner) + excess)


def test_nothing_to_refund_touches_no_payment():
    assert split(Payments([("pi_new", 3000), ("pi_old", 5000)]), 0) == {}


def test_a_refund_larger_than_the_newest_payment_takes_the_rest_from_the_older():
    owner = Payments([("pi_new", 3000), ("pi_over", -500), ("pi_old", 5000)])
    assert split(owner, 4000) == {"pi_new": 3000, "pi_old": 1000}
