"""When a voucher can be used, and which lines it applies to (docs/domain.md "Vouchers").

``voucher_problem`` is the rule at redemption: a code is usable when it exists, is active, ``at``
lies in its window (both ends inclusive) and it has a use left. ``Discount.applies_to`` is its scope:
an empty scope applies to every line, otherwise a line of a listed ticket type or add-on.
"""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from boxoffice.pricing import Discount, Line
from boxoffice.vouchers import problem as voucher_problem
from tests.support.order_fixtures import voucher_item
from tests.support.properties import rules

AT = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
MOMENTS = st.none() | st.integers(-3, 3).map(lambda hours: AT + timedelta(hours=hours))


@rules
@given(st.booleans(), MOMENTS, MOMENTS, st.integers(1, 5), st.integers(0, 6))
def test_a_voucher_is_usable_exactly_when_active_in_its_window_and_not_used_up(
    active, valid_from, valid_until, max_uses, times_used
):
    found = voucher_item(
        is_active=active,
        valid_from=valid_from,
        valid_until=valid_until,
        max_uses=max_uses,
        times_used=times_used,
    )
    in_window = (valid_from is None or valid_from <= AT) and (valid_until is None or AT <= valid_until)
    usable = active and in_window and times_used < max_uses
    assert (voucher_problem(found, AT) is None) == usable


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"is_active": False, "times_used": 10, "valid_until": AT - timedelta(days=1)}, "inactive"),
        ({"valid_from": AT + timedelta(seconds=1), "times_used": 10}, "not_yet_valid"),
        ({"valid_until": AT - timedelta(seconds=1), "times_used": 10}, "expired"),
        ({"times_used": 10}, "used_up"),
        ({"times_used": 11}, "used_up"),
    ],
    ids=["inactive_first", "not_yet_valid_before_used_up", "expired_before_used_up", "used_up", "overused"],
)
def test_the_reason_given_is_the_first_that_holds(fields, reason):
    assert voucher_problem(voucher_item(**fields), AT) == reason


def test_an_unknown_code_is_unknown():
    assert voucher_problem(None, AT) == "unknown"


def test_both_ends_of_the_window_are_inclusive():
    assert voucher_problem(voucher_item(valid_from=AT, valid_until=AT), AT) is None


def test_the_last_use_is_still_usable():
    assert voucher_problem(voucher_item(times_used=9), AT) is None


LINES = st.builds(
    Line,
    ticket_type_id=st.none() | st.sampled_from(["general", "speaker"]),
    addon_id=st.none() | st.sampled_from(["workshop", "dinner"]),
    quantity=st.integers(1, 3),
    unit_price=st.integers(0, 50_000),
)
SCOPES = st.frozensets(st.sampled_from(["general", "speaker", "workshop", "dinner", "vip"]))


@rules
@given(LINES)
def test_a_voucher_with_no_scope_applies_to_every_line(line):
    assert Discount("comp", 0, frozenset(), frozenset()).applies_to(line)


@rules
@given(LINES, SCOPES, SCOPES)
def test_a_scoped_voucher_applies_only_to_the_ticket_types_and_addons_it_names(line, tickets, addons):
    assume(tickets or addons)  # the unscoped case is the test above
    applies = Discount("percentage", 10, tickets, addons).applies_to(line)
    assert applies == (line.ticket_type_id in tickets or line.addon_id in addons)
