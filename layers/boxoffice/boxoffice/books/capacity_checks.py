"""Invariant 6: each capacity counter holds exactly the units of the orders and blocks that hold
them, and never more than its capacity."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from boxoffice import store
from boxoffice.books.records import order_records, purchases
from boxoffice.books.run import Break, Run, new_break

# --- 6. capacity -------------------------------------------------------------------------------------------------


def expected_held(
    orders: Iterable[order_records.Order], blocks: Iterable[purchases.BulkPurchase]
) -> dict[str, int]:
    """What each capacity counter must hold, from the records: every order that still holds its
    units (not cancelled, not released by a full refund) with its counter units and its block
    draws, plus every held sponsor block's undrawn units."""
    held: dict[str, int] = defaultdict(int)
    for order in orders:
        if order.status == order_records.CANCELLED or getattr(order, "units_released", None):
            continue
        for field_name in ("held_units", "block_units"):
            for scope, n in (getattr(order, field_name, None) or {}).items():
                held[scope] += int(n)
    for purchase in blocks:
        if getattr(purchase, "block_state", None) != "held":
            continue
        left = {"ticket": (purchase.block_left_ticket or 0), "addon": (purchase.block_left_addon or 0)}
        for scope in purchase.block or {}:
            held[scope] += left["addon" if scope.startswith("addon#") else "ticket"]
    return dict(held)


def _all_purchases(conference_id: str) -> list[purchases.BulkPurchase]:
    found: list[purchases.BulkPurchase] = []
    cursor = None
    while True:
        entries, cursor = purchases.list_entries(conference_id, None, limit=100, cursor=cursor)
        found += purchases.get_many(conference_id, [e.purchase_id for e in entries]).values()
        if not cursor:
            return found


def check_capacity(run: Run) -> list[Break]:
    """Invariant 6: units held by pending and paid orders and sponsor blocks never exceed a capacity
    (``capacity.item`` / ``capacity.venue``), and each counter equals what the orders and blocks
    hold (``capacity.counter``): a counter that drifted would sell seats nobody has, or refuse
    seats that are free."""
    from boxoffice.store import capacity as counters

    scopes = []
    for item in store.catalog_items(run.conference_id):
        if isinstance(item, store.TicketType) and item.counted:
            scopes.append(counters.ticket_scope(item.entry_id))
        elif isinstance(item, store.AddOn) and item.counted:
            scopes.append(counters.addon_scope(item.entry_id))
        elif isinstance(item, store.Conference) and item.venue_counted:
            scopes.append(counters.VENUE)
    if not scopes:
        return []
    found = counters.get_many(run.conference_id, scopes)
    expected = expected_held(run.all_orders(), _all_purchases(run.conference_id))
    breaks = []
    for scope in sorted(set(scopes) | set(expected)):
        run.checked["capacity"] += 1
        counter = found.get(scope)
        held = counter.held if counter is not None else 0
        if held != expected.get(scope, 0):
            breaks.append(
                new_break("capacity", scope, "capacity.counter", held, None,
                     f"the counter holds {held} units but the orders and blocks hold {expected.get(scope, 0)}")
            )  # fmt: skip
        actual = max(held, expected.get(scope, 0))
        if counter is not None and counter.capacity is not None and actual > counter.capacity:
            invariant = "capacity.venue" if scope == counters.VENUE else "capacity.item"
            breaks.append(
                new_break("capacity", scope, invariant, actual, None,
                     f"{actual} units are held or sold but the capacity is {counter.capacity}")
            )  # fmt: skip
    for order in run.all_orders():
        paid = order.status in (order_records.PAID, order_records.PARTIALLY_REFUNDED)
        if paid and getattr(order, "units_released", None) and (order.held_units or order.block_units):
            breaks.append(
                new_break("capacity", order.order_id, "capacity.paid_without_units", None, None,
                     "a paid order released its units (a full refund that then failed) and holds none")
            )  # fmt: skip
    return breaks
