"""Pricing as a pure rule (docs/domain.md "Money" and "Vouchers"): properties over any order and voucher.

A use is one unit; the voucher goes on at most the uses it has left, on applicable units only, the
units it unlocked first and then the most expensive; no discount exceeds its unit; no total is
negative; on a currency's grid every discount and total stays on the grid.
"""

from fractions import Fraction

from hypothesis import assume, given
from hypothesis import strategies as st

from boxoffice.pricing import Discount, Line, applicable_units, percent_half_up, price
from tests.support.properties import rules

TICKETS = ("general", "speaker", "vip")
ADDONS = ("workshop", "dinner")
GRIDS = st.sampled_from([1, 10])


@st.composite
def lines(draw: st.DrawFn, grid: int = 1, hidden: bool = False) -> Line:
    """One order line: a ticket type or an add-on, 1-5 units, a price on ``grid``."""
    unit_price = draw(st.integers(0, 100_000)) * grid
    quantity = draw(st.integers(1, 5))
    if draw(st.booleans()):
        is_hidden = hidden and draw(st.booleans())
        return Line(draw(st.sampled_from(TICKETS)), None, quantity, unit_price, hidden=is_hidden)
    return Line(None, draw(st.sampled_from(ADDONS)), quantity, unit_price)


@st.composite
def discounts(draw: st.DrawFn, grid: int = 1) -> Discount:
    """Any voucher: comp, a percentage (0-100), or a fixed amount on ``grid``; any scope."""
    kind = draw(st.sampled_from(["comp", "percentage", "fixed_amount"]))
    value = {
        "comp": 0,
        "percentage": draw(st.integers(0, 100)),
        "fixed_amount": draw(st.integers(0, 200_000)) * grid,
    }[kind]
    tickets = draw(st.frozensets(st.sampled_from(TICKETS)))
    addons = draw(st.frozensets(st.sampled_from(ADDONS)))
    return Discount(kind, value, tickets, addons)


@st.composite
def orders(draw: st.DrawFn, hidden: bool = False) -> tuple[int, list[Line], Discount, int | None]:
    """(grid, lines, voucher, uses left or None for no limit)."""
    grid = draw(GRIDS)
    order_lines = draw(st.lists(lines(grid, hidden), min_size=1, max_size=6))
    uses_left = draw(st.none() | st.integers(0, 12))
    return grid, order_lines, draw(discounts(grid)), uses_left


@rules
@given(orders(hidden=True))
def test_no_total_is_negative_and_no_line_is_discounted_beyond_itself(order):
    grid, order_lines, discount, uses_left = order
    priced = price(order_lines, discount, uses_left=uses_left, grid=grid)
    assert priced.total >= 0
    assert priced.subtotal == sum(line.unit_price * line.quantity for line in order_lines)
    assert priced.discount == sum(off for _, off in priced.lines)
    for line, off in priced.lines:
        assert 0 <= off <= line.total


@rules
@given(orders(hidden=True))
def test_the_voucher_takes_no_more_units_than_it_has_uses_or_applies_to(order):
    grid, order_lines, discount, uses_left = order
    priced = price(order_lines, discount, uses_left=uses_left, grid=grid)
    assert priced.units <= applicable_units(order_lines, discount)
    if uses_left is not None:
        assert priced.units <= uses_left
    else:
        assert priced.units == applicable_units(order_lines, discount)


@rules
@given(orders(hidden=True))
def test_a_line_outside_the_voucher_scope_pays_full_price(order):
    grid, order_lines, discount, uses_left = order
    priced = price(order_lines, discount, uses_left=uses_left, grid=grid)
    for line, off in priced.lines:
        if not discount.applies_to(line):
            assert off == 0


@rules
@given(orders(hidden=True))
def test_on_a_currency_grid_every_discount_and_total_stays_on_the_grid(order):
    grid, order_lines, discount, uses_left = order
    priced = price(order_lines, discount, uses_left=uses_left, grid=grid)
    assert priced.total % grid == 0
    assert all(off % grid == 0 for _, off in priced.lines)


@rules
@given(st.lists(lines(), min_size=1, max_size=6))
def test_without_a_voucher_the_total_is_the_subtotal(order_lines):
    priced = price(order_lines, None)
    assert (priced.total, priced.discount, priced.units) == (priced.subtotal, 0, 0)


@rules
@given(orders(hidden=True), st.integers(0, 12))
def test_one_more_use_left_never_makes_the_order_dearer(order, uses):
    grid, order_lines, discount, _ = order
    fewer = price(order_lines, discount, uses_left=uses, grid=grid)
    more = price(order_lines, discount, uses_left=uses + 1, grid=grid)
    assert more.total <= fewer.total


@rules
@given(st.lists(lines(), min_size=1, max_size=6), st.integers(0, 12))
def test_a_comp_code_with_k_uses_frees_the_k_dearest_applicable_units(order_lines, uses):
    comp = Discount("comp", 0, frozenset(), frozenset())
    unit_prices = sorted(
        (line.unit_price for line in order_lines for _ in range(line.quantity)), reverse=True
    )
    priced = price(order_lines, comp, uses_left=uses)
    assert priced.discount == sum(unit_prices[:uses])
    assert priced.units == min(uses, len(unit_prices))


@rules
@given(st.lists(lines(hidden=True), min_size=2, max_size=6), st.integers(1, 12))
def test_units_the_voucher_unlocked_take_its_uses_before_any_other(order_lines, uses):
    assume(any(line.hidden for line in order_lines))
    comp = Discount("comp", 0, frozenset(), frozenset())
    hidden_units = sum(line.quantity for line in order_lines if line.hidden)
    priced = price(order_lines, comp, uses_left=uses)
    hidden_discounted = sum(off for line, off in priced.lines if line.hidden)
    hidden_freed = min(uses, hidden_units)
    hidden_prices = sorted(
        (line.unit_price for line in order_lines if line.hidden for _ in range(line.quantity)), reverse=True
    )
    assert hidden_discounted == sum(hidden_prices[:hidden_freed])


@rules
@given(st.integers(0, 1_000_000), st.integers(0, 100), GRIDS)
def test_a_percentage_rounds_half_up_to_the_grid_and_never_exceeds_the_amount(units, percent, grid):
    amount = units * grid  # prices are on the currency's grid
    off = percent_half_up(amount, percent, grid)
    exact = Fraction(amount * percent, 100)
    assert off % grid == 0
    assert -Fraction(grid, 2) < off - exact <= Fraction(grid, 2)
    assert 0 <= off <= amount


def test_a_percentage_of_an_exact_half_rounds_up():
    assert percent_half_up(5, 50) == 3  # 2.5 → 3
    assert percent_half_up(150, 10, grid=10) == 20  # 15 on a grid of 10 → 20
    assert percent_half_up(149, 10, grid=10) == 10  # 14.9 → 10


@rules
@given(
    st.integers(0, 100_000),
    st.sampled_from(["comp", "percentage", "fixed_amount", "something_else"]),
    st.integers(0, 200_000),
)
def test_off_one_unit_is_never_more_than_the_unit_nor_less_than_nothing(unit_price, kind, value):
    discount = Discount(kind, min(value, 100) if kind == "percentage" else value, frozenset(), frozenset())
    assert 0 <= discount.off_one_unit(unit_price) <= unit_price
