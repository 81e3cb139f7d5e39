"""Pricing an order in integer minor units (DOMAIN.md "Money").

- comp covers every applicable line whole;
- a percentage is applied per applicable line and rounded half-up to the minor unit;
- a fixed amount's budget is min(value, applicable subtotal), shared across applicable lines in
  proportion to their totals (rounded down), the last applicable line taking the remainder (and,
  in the rare case it cannot hold it all, the line before it the rest);
- a voucher scoped to ticket types or add-ons applies only to those lines; an empty scope in both
  applies to every line;
- no total is negative.

Minor units are what Stripe counts, so zero-decimal currencies need no special case here.
"""

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Line:
    ticket_type_id: str | None
    addon_id: str | None
    quantity: int
    unit_price: int

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


@dataclass(frozen=True)
class Priced:
    lines: list[tuple[Line, int]]
    """Each line with its discount."""
    subtotal: int
    discount: int

    @property
    def total(self) -> int:
        return self.subtotal - self.discount


def percent_half_up(amount: int, percent: int) -> int:
    """``amount * percent / 100`` rounded half-up, in integers."""
    return (amount * percent + 50) // 100


def price(lines: Sequence[Line], discount: Discount | None) -> Priced:
    subtotal = sum(line.total for line in lines)
    discounts = [0] * len(lines)
    if discount is not None:
        applicable = [i for i, line in enumerate(lines) if discount.applies_to(line)]
        if discount.voucher_type == "comp":
            for i in applicable:
                discounts[i] = lines[i].total
        elif discount.voucher_type == "percentage":
            for i in applicable:
                discounts[i] = min(lines[i].total, percent_half_up(lines[i].total, discount.value))
        elif discount.voucher_type == "fixed_amount" and applicable:
            base = sum(lines[i].total for i in applicable)
            budget = min(discount.value, base)
            for i in applicable[:-1]:
                discounts[i] = budget * lines[i].total // base if base else 0
            remainder = budget - sum(discounts)
            # The last line takes the remainder; what it cannot hold (its total is smaller than
            # the rounding left over) goes back up the lines, so no line is discounted below 0.
            for i in reversed(applicable):
                taken = min(remainder, lines[i].total - discounts[i])
                discounts[i] += taken
                remainder -= taken
    return Priced(lines=list(zip(lines, discounts, strict=True)), subtotal=subtotal, discount=sum(discounts))
