"""An order's status from its amounts (docs/domain.md "The books" 1): what was paid and refunded of its total.

Pending until its own payments cover the total; then paid; partially refunded once anything went
back; refunded once everything did. A free order is paid as soon as it is placed.
"""

from hypothesis import given
from hypothesis import strategies as st

from boxoffice.orders.payments import status_from_amounts
from boxoffice.store import orders as order_records
from tests.support.properties import rules

SUMS = st.integers(0, 1_000_000)


@rules
@given(SUMS, SUMS)
def test_with_nothing_refunded_an_order_is_paid_once_its_payments_cover_the_total(total, paid):
    expected = order_records.PAID if paid >= total else order_records.PENDING
    assert status_from_amounts(total, paid, 0) == expected


@rules
@given(st.integers(1, 1_000_000), st.data())
def test_a_paid_order_is_partially_refunded_until_everything_went_back(total, data):
    refunded = data.draw(st.integers(1, total - 1)) if total > 1 else None
    if refunded is not None:
        assert status_from_amounts(total, total, refunded) == order_records.PARTIALLY_REFUNDED
    assert status_from_amounts(total, total, total) == order_records.REFUNDED
    assert status_from_amounts(total, total, total + data.draw(SUMS)) == order_records.REFUNDED


@rules
@given(st.integers(1, 1_000_000), st.lists(st.integers(1, 100_000), max_size=8))
def test_refunds_only_move_a_paid_order_forward(total, refunds):
    """paid → partially_refunded → refunded, never back, whatever the steps."""
    rank = {order_records.PAID: 0, order_records.PARTIALLY_REFUNDED: 1, order_records.REFUNDED: 2}
    refunded, seen = 0, [status_from_amounts(total, total, 0)]
    for step in refunds:
        refunded = min(total, refunded + step)
        seen.append(status_from_amounts(total, total, refunded))
    assert seen[0] == order_records.PAID
    assert [rank[s] for s in seen] == sorted(rank[s] for s in seen)


def test_a_free_order_is_paid():
    assert status_from_amounts(0, 0, 0) == order_records.PAID
