"""Pricing an order in integer minor units (docs/domain.md "Money" and "Vouchers").

A voucher use is one unit: one ticket or one add-on. An order applies its code to at most the
uses the code has left, to applicable units only, most expensive first (ties in line order);
every other unit pays full price. Per discounted unit:

- ``comp`` makes the unit free;
- ``percentage`` takes that percent off the unit, rounded half-up to the currency's grid;
- ``fixed_amount`` takes min(value, unit price) off the unit.

A voucher scoped to ticket types or add-ons applies only to those lines; an empty scope in both
applies to every line. No total is negative. Amounts stay on Stripe's grid for the currency
(``money.grid``): with prices and fixed values on it, every discount and total is on it too.
"""

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Line:
    ticket_type_id: str | None
    addon_id: str | None
    quantity: int
    unit_price: int
    hidden: bool = False
    """A ticket type only a voucher unlocks: its units take the voucher's uses first."""

    @property
    def total(self) -> int:
        return self.unit_price * self.quantity


@dataclass(frozen=True)
class Discount:
    voucher_type: str
    value: int
    ticket_type_ids: frozenset[str]
    addon_ids: frozenset[str]

    def applies_to(self, line: Line) -> bool:
        if not self.ticket_type_ids and not self.addon_ids:
            return True
        return (line.ticket_type_id in self.ticket_type_ids) or (line.addon_id in self.addon_ids)

    def off_one_unit(self, unit_price: int, grid: int = 1) -> int:
        """What this voucher takes off one unit of ``unit_price`` (never more than the unit)."""
        if self.voucher_type == "comp":
            return unit_price
        if self.voucher_type == "percentage":
            return min(unit_price, percent_half_up(unit_price, self.value, grid))
        if self.voucher_type == "fixed_amount":
            return min(self.value, unit_price)
        return 0


@dataclass(frozen=True)
class Priced:
    lines: list[tuple[Line, int]]
    """Each line with its discount."""
    subtotal: int
    discount: int
    units: int
    """How many of the voucher's uses the order takes: the units it discounted."""

    @property
    def total(self) -> int:
        return self.subtotal - self.discount


def percent_half_up(amount: int, percent: int, grid: int = 1) -> int:
    """``amount * percent / 100`` rounded half-up to a multiple of ``grid``, in integers."""
    return (amount * percent + 50 * grid) // (100 * grid) * grid


def applicable_units(lines: Sequence[Line], discount: Discount) -> int:
    """How many units of the order the voucher could discount, uses permitting."""
    return sum(line.quantity for line in lines if discount.applies_to(line))


def discount_order(lines: Sequence[Line], discount: Discount) -> list[int]:
    """The indexes of the lines the voucher applies to, in the order its uses go to their units:
    units the voucher unlocked first, then the most expensive; a stable sort keeps ties in line order."""
    return sorted(
        (i for i, line in enumerate(lines) if discount.applies_to(line)),
        key=lambda i: (not lines[i].hidden, -lines[i].unit_price),
    )


def price(
    lines: Sequence[Line], discount: Discount | None, *, uses_left: int | None = None, grid: int = 1
) -> Priced:
    """The order's prices with ``discount`` on at most ``uses_left`` units (None: no limit)."""
    subtotal = sum(line.total for line in lines)
    discounts = [0] * len(lines)
    units = 0
    if discount is not None:
        order = discount_order(lines, discount)
        left = applicable_units(lines, discount) if uses_left is None else max(uses_left, 0)
        for i in order:
            take = min(lines[i].quantity, left)
            if take <= 0:
                break
            discounts[i] = take * discount.off_one_unit(lines[i].unit_price, grid)
            units += take
            left -= take
    return Priced(
        lines=list(zip(lines, discounts, strict=True)),
        subtotal=subtotal,
        discount=sum(discounts),
        units=units,
    )
