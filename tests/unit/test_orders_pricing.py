"""Pricing in integer minor units: a use is one unit, voucher types, scope, half-up rounding, the grid, no negatives."""

import pytest

from boxoffice.pricing import Discount, Line, percent_half_up, price


def ticket(unit_price: int, quantity: int = 1, tid: str = "general") -> Line:
    return Line(ticket_type_id=tid, addon_id=None, quantity=quantity, unit_price=unit_price)


def addon(unit_price: int, quantity: int = 1, aid: str = "workshop") -> Line:
    return Line(ticket_type_id=None, addon_id=aid, quantity=quantity, unit_price=unit_price)


def voucher(
    kind: str, value: int = 0, tickets: tuple[str, ...] = (), addons: tuple[str, ...] = ()
) -> Discount:
    return Discount(kind, value, frozenset(tickets), frozenset(addons))


# (id, lines, discount, expected per-line discounts, expected total)
CASES = [
    # no voucher
    ("no_voucher_mixed_lines", [ticket(25000, 2), addon(5000)], None, [0, 0], 55000),
    # comp
    (
        "comp_empty_scope_covers_every_line",
        [ticket(25000, 2), addon(5000)],
        voucher("comp"),
        [50000, 5000],
        0,
    ),
    (
        "comp_ticket_scoped_leaves_addon_charged",
        [ticket(25000), addon(5000)],
        voucher("comp", tickets=("general",)),
        [25000, 0],
        5000,
    ),
    (
        "comp_addon_scoped_leaves_ticket_charged",
        [ticket(25000), addon(5000)],
        voucher("comp", addons=("workshop",)),
        [0, 5000],
        25000,
    ),
    # percentage
    ("percentage_10_of_1005_rounds_half_up_to_101", [ticket(1005)], voucher("percentage", 10), [101], 904),
    ("percentage_15_of_333_rounds_49_95_up_to_50", [ticket(333)], voucher("percentage", 15), [50], 283),
    ("percentage_50_of_1_rounds_half_up_to_1", [ticket(1)], voucher("percentage", 50), [1], 0),
    ("percentage_10_of_1004_rounds_100_4_down", [ticket(1004)], voucher("percentage", 10), [100], 904),
    (
        "percentage_is_per_line_each_rounded",
        [ticket(5), addon(5)],
        voucher("percentage", 10),
        [1, 1],  # 0.5 + 0.5 rounded per line, not 1.0 on the subtotal
        8,
    ),
    ("percentage_on_quantity_uses_line_total", [ticket(333, 3)], voucher("percentage", 15), [150], 849),
    (
        "percentage_100_makes_total_zero",
        [ticket(25000, 2), addon(5000)],
        voucher("percentage", 100),
        [50000, 5000],
        0,
    ),
    (
        "percentage_ticket_scoped_does_not_discount_addons",
        [ticket(25000), addon(5000)],
        voucher("percentage", 20, tickets=("general",)),
        [5000, 0],
        25000,
    ),
    (
        "percentage_addon_scoped_discounts_only_addons",
        [ticket(25000), addon(5000)],
        voucher("percentage", 20, addons=("workshop",)),
        [0, 1000],
        29000,
    ),
    (
        "percentage_scoped_to_one_ticket_type_discounts_only_that_type",
        [ticket(25000), ticket(9000, tid="student")],
        voucher("percentage", 20, tickets=("student",)),
        [0, 1800],
        32200,
    ),
    # zero-decimal currency amounts are whole units (JPY 1500 = ¥1,500)
    ("jpy_whole_units_percentage", [ticket(1500, 2)], voucher("percentage", 15), [450], 2550),
    ("jpy_whole_units_half_up", [ticket(1510)], voucher("percentage", 5), [76], 1434),  # 75.5 -> 76
    ("jpy_whole_units_fixed", [ticket(1500), addon(500)], voucher("fixed_amount", 1000), [1000, 500], 500),
    # fixed amount
    (
        "fixed_larger_than_subtotal_gives_zero",
        [ticket(25000), addon(5000)],
        voucher("fixed_amount", 100000),
        [25000, 5000],
        0,
    ),
    ("fixed_equal_to_subtotal_gives_zero", [ticket(700)], voucher("fixed_amount", 700), [700], 0),
    (
        "fixed_takes_its_value_off_each_unit",
        [ticket(3000), addon(1000)],
        voucher("fixed_amount", 1000),
        [1000, 1000],
        2000,
    ),
    (
        "fixed_never_takes_more_than_the_unit",
        [ticket(100), ticket(100, tid="student"), addon(100)],
        voucher("fixed_amount", 150),
        [100, 100, 100],
        0,
    ),
    (
        "fixed_ticket_scoped_does_not_discount_addons",
        [ticket(25000), addon(5000)],
        voucher("fixed_amount", 1000, tickets=("general",)),
        [1000, 0],
        29000,
    ),
    (
        "fixed_budget_limited_to_applicable_subtotal",
        [ticket(25000), addon(5000)],
        voucher("fixed_amount", 10000, addons=("workshop",)),
        [0, 5000],
        25000,
    ),
    (
        "fixed_on_small_units_stops_at_each_unit_price",
        [ticket(5), ticket(5, tid="student"), addon(1)],
        voucher("fixed_amount", 10),
        [5, 5, 1],
        0,
    ),
    (
        "fixed_on_free_lines_discounts_nothing",
        [ticket(0, tid="speaker")],
        voucher("fixed_amount", 500),
        [0],
        0,
    ),
    (
        "mixed_free_and_paid_lines_with_fixed",
        [ticket(25000), ticket(0, tid="speaker"), addon(5000, 2)],
        voucher("fixed_amount", 7000),
        [7000, 0, 10000],
        18000,
    ),
]


@pytest.mark.parametrize(
    ("lines", "discount", "line_discounts", "total"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_price_table(lines, discount, line_discounts, total):
    priced = price(lines, discount)
    assert [d for _, d in priced.lines] == line_discounts
    assert [line for line, _ in priced.lines] == lines
    assert priced.subtotal == sum(line.unit_price * line.quantity for line in lines)
    assert priced.discount == sum(line_discounts)
    assert priced.total == total
    assert priced.total == priced.subtotal - priced.discount
    assert priced.total >= 0
    assert all(0 <= d <= line.total for line, d in priced.lines)
    assert all(isinstance(d, int) for _, d in priced.lines)


@pytest.mark.parametrize(
    ("amount", "percent", "expected"),
    [
        (1005, 10, 101),
        (333, 15, 50),
        (1004, 10, 100),
        (1, 50, 1),
        (1, 49, 0),
        (0, 100, 0),
        (99999, 100, 99999),
    ],
)
def test_percent_half_up_rounds_halves_up_in_integers(amount, percent, expected):
    assert percent_half_up(amount, percent) == expected


@pytest.mark.parametrize("value", [1, 7, 333, 9999, 30001, 10**9])
@pytest.mark.parametrize(
    "lines",
    [
        [ticket(1), ticket(1, tid="student"), addon(1)],
        [ticket(25000, 3), addon(5000, 7), addon(6000, aid="dinner")],
        [ticket(999), ticket(1, tid="student"), addon(1), addon(1, aid="dinner")],
    ],
    ids=["tiny", "realistic", "skewed"],
)
def test_fixed_amount_takes_its_value_off_every_unit_and_never_pushes_a_line_below_zero(lines, value):
    priced = price(lines, voucher("fixed_amount", value))
    assert priced.discount == sum(min(value, line.unit_price) * line.quantity for line in lines)
    assert all(0 <= d <= line.total for line, d in priced.lines)
    assert priced.total >= 0


def test_a_single_use_comp_code_covers_one_ticket_of_ten():
    """The sponsor paid for one ticket's code: one ticket is free, the other nine pay."""
    priced = price([ticket(25000, 10)], voucher("comp"), uses_left=1)
    assert priced.units == 1
    assert priced.discount == 25000
    assert priced.total == 9 * 25000


def test_uses_go_to_the_most_expensive_applicable_units_first_ties_in_line_order():
    lines = [addon(5000, 2), ticket(25000), ticket(25000, tid="student"), addon(6000, aid="dinner")]
    priced = price(lines, voucher("comp"), uses_left=3)
    assert [d for _, d in priced.lines] == [0, 25000, 25000, 6000]
    assert priced.units == 3


def test_uses_apply_only_to_applicable_units():
    lines = [ticket(25000, 2), addon(5000, 3)]
    priced = price(lines, voucher("percentage", 50, addons=("workshop",)), uses_left=2)
    assert [d for _, d in priced.lines] == [0, 5000]
    assert priced.units == 2


def test_no_uses_left_discounts_nothing():
    priced = price([ticket(25000, 2)], voucher("comp"), uses_left=0)
    assert priced.discount == 0 and priced.units == 0


def test_three_decimal_percentage_stays_on_stripes_grid():
    """KWD: 15% of 10.010 is 1.5015; the discount is rounded half-up to 1.500 so the total ends in 0."""
    priced = price([ticket(10010, 3)], voucher("percentage", 15), grid=10)
    assert [d for _, d in priced.lines] == [4500]
    assert priced.total == 3 * 8510
    assert priced.total % 10 == 0


def test_percent_half_up_on_a_grid_of_ten():
    assert percent_half_up(10010, 15, 10) == 1500
    assert percent_half_up(10030, 15, 10) == 1500  # 1504.5 -> 1500
    assert percent_half_up(10070, 15, 10) == 1510  # 1510.5 -> 1510
    assert percent_half_up(100, 5, 10) == 10  # 5 -> 10, half-up
