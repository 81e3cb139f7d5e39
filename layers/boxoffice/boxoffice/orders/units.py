"""The capacity units of a refunded order: given back once when it is fully refunded, and taken
back once when it is paid again (its full refund failed at the bank)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from boxoffice import lazy, store
from boxoffice.observability import logger

if TYPE_CHECKING:
    from boxoffice.store import capacity as counters
    from boxoffice.store import orders as records
else:
    counters = lazy.module("boxoffice.store.capacity")
    records = lazy.module("boxoffice.store.orders")

TRANSACTION_ATTEMPTS = 6


def holds_units(order: records.Order) -> bool:
    """Whether the order holds capacity units (on counters or drawn from a sponsor block)."""
    return bool(order.held_units) or bool(order.block_units)


def release_refunded_units(order: records.Order) -> bool:
    """A fully refunded order gives its units back, once (``store.orders.release_units``): its block
    draw goes to the counters (its code's use is not given back). True when this call released them."""
    for attempt in range(TRANSACTION_ATTEMPTS):
        if order.status != records.REFUNDED or order.units_released or not holds_units(order):
            return False
        try:
            if not records.release_units(order):
                return False
            break
        except records.OrderMoved:
            if attempt + 1 == TRANSACTION_ATTEMPTS:
                raise
            store.back_off(attempt)  # a conflict on a busy counter: the flag still decides who releases
            order = records.get(order.conference_id, order.order_id) or order
    order.units_released = True
    logger.info("refunded order released its units", extra={"order_id": order.order_id})
    return True


def released_units(order: records.Order) -> dict[str, int]:
    """What a released order gave back to the counters, per scope (its block draw went there too)."""
    units = {k: int(v) for k, v in (order.held_units or {}).items()}
    for scope, n in (order.block_units or {}).items():
        units[scope] = units.get(scope, 0) + int(n)
    return units


def retake_units(order: records.Order) -> bool:
    """A refunded order paid again (its full refund failed at the bank) takes back the units it
    released, once (``store.orders.retake_units``). The attendee paid, so this is never refused: the
    counters keep saying what the orders hold, and an overrun (the freed seats were sold meanwhile)
    is flagged for staff. True when this call took them."""
    units = released_units(order)
    for attempt in range(TRANSACTION_ATTEMPTS):
        if order.status not in (records.PAID, records.PARTIALLY_REFUNDED) or not order.units_released:
            return False
        try:
            if not records.retake_units(order, units):
                return False
            break
        except records.OrderMoved:
            if attempt + 1 == TRANSACTION_ATTEMPTS:
                raise
            store.back_off(attempt)
            order = records.get(order.conference_id, order.order_id) or order
    order.units_released = None
    over = [
        counter.scope
        for counter in counters.get_many(order.conference_id, units).values()
        if counter.capacity is not None and counter.free < 0
    ]
    if over:
        store.add_attention(
            order,
            f"paid again after its refund failed; {', '.join(sorted(over))} over capacity: "
            "its seats were sold meanwhile",
        )
    logger.info("order paid again took back its units", extra={"order_id": order.order_id, "over": over})
    return True
