"""A sponsor purchase's block of capacity (docs/domain.md "Capacity").

A purchase of limited items holds ``quantity`` units on each limited scope of its items from the
moment it is approved or checks out, so its codes can always be redeemed; orders with its codes
draw from the block instead of the counters. The block is released (its undrawn units back to
the counters) when the purchase fails or goes back to pending, and when it is fully refunded with
every code off; it comes back, even past capacity, when money turns up for it after all. Each
move is one transaction in ``store.bulk_purchases``.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from boxoffice import lazy, store
from boxoffice.observability import logger

if TYPE_CHECKING:
    from boxoffice.store import bulk_purchases as records
    from boxoffice.store import capacity as counters
else:
    records = lazy.module("boxoffice.store.bulk_purchases")
    counters = lazy.module("boxoffice.store.capacity")

BLOCK_HELD, BLOCK_RELEASED = "held", "released"
BLOCK_ATTEMPTS = 6


def block_units(purchase: records.BulkPurchase) -> dict[str, int]:
    """What the purchase's block holds: ``quantity`` on each limited scope of its items (the ticket
    type's and the venue's, the add-on's). Empty when none is limited: then nothing is held."""
    conference_id, quantity = purchase.conference_id, purchase.quantity
    units: dict[str, int] = {}
    if purchase.ticket_type_id is not None:
        ticket = store.get_ticket_type(conference_id, purchase.ticket_type_id)
        if ticket is not None and ticket.counted:
            units[counters.ticket_scope(purchase.ticket_type_id)] = quantity
        conference = store.get_conference(conference_id)
        if conference is not None and conference.venue_counted:
            units[counters.VENUE] = quantity
    if purchase.addon_id is not None:
        addon = store.get_addon(conference_id, purchase.addon_id)
        if addon is not None and addon.counted:
            units[counters.addon_scope(purchase.addon_id)] = quantity
    return units


def move_holding(
    purchase: records.BulkPurchase,
    to_state: str,
    *,
    approved_by: str | None = None,
    checkout_expires_at: datetime | None = None,
) -> records.BulkPurchase:
    """Move the purchase to ``to_state`` and hold its block, in one transaction
    (``store.bulk_purchases.move_holding_block``), trying again on a busy counter.

    A purchase that does not fit is refused with ``sold_out`` and nothing changes (no money has
    moved: this runs before Stripe is called). Raises TransitionRejected (with the current record)
    when the purchase moved.
    """

    def attempt() -> records.BulkPurchase:
        units = block_units(purchase)
        moved = records.move_holding_block(
            purchase, to_state, units, approved_by=approved_by, checkout_expires_at=checkout_expires_at
        )
        if units:
            logger.info(
                "sponsor block held", extra={"bulk_purchase_id": purchase.purchase_id, "units": units}
            )
        return moved

    return store.retry_on_conflict(attempt, attempts=BLOCK_ATTEMPTS)


def move_releasing(purchase: records.BulkPurchase, to_state: str) -> records.BulkPurchase:
    """Move the purchase to ``to_state`` (failed, or back to pending) and release its block, at once."""
    if records.move_releasing_block(purchase, to_state):
        logger.info(
            "sponsor block released", extra={"bulk_purchase_id": purchase.purchase_id, "to": to_state}
        )
    return purchase


def release_unredeemed(purchase: records.BulkPurchase) -> bool:
    """A fully refunded purchase (its codes off) gives back the block units no order drew, once."""
    for attempt in range(BLOCK_ATTEMPTS):
        if purchase.status != records.REFUNDED or purchase.block_state != BLOCK_HELD:
            return False
        try:
            records.release_unredeemed(purchase)
            logger.info(
                "refunded block released its unredeemed units",
                extra={"bulk_purchase_id": purchase.purchase_id, "units": records.undrawn(purchase)},
            )
            return True
        except records.BlockMoved:
            if attempt + 1 == BLOCK_ATTEMPTS:
                raise
            fresh = records.get(purchase.conference_id, purchase.purchase_id)
            if fresh is None:
                return False
            purchase = fresh  # an order drew or gave back meanwhile, or a conflict: read again
    return False


def rehold(purchase: records.BulkPurchase, status: str | None = None) -> None:
    """The block comes back when the purchase does: a failed purchase that turns out paid (payment
    evidence beats failure), or a full refund that failed at the bank (``status`` paid again).

    It takes back what it gave back (the undrawn units, still recorded on the purchase). The money
    was taken and the codes must work, so the units are taken even past capacity; an overrun is
    flagged for staff rather than refusing codes someone paid for. ``status`` defaults to failed.
    """
    status = status or records.FAILED
    if purchase.status != status or purchase.block_state != BLOCK_RELEASED or not purchase.block:
        return
    units = records.undrawn(purchase)
    if not records.rehold_block(purchase, status, units):
        return
    purchase.block_state = BLOCK_HELD
    over = [
        s
        for s, c in counters.get_many(purchase.conference_id, units).items()
        if c.capacity is not None and c.held > c.capacity
    ]
    if over:
        reason = f"its sponsor block came back with its payment and put {', '.join(over)} over capacity"
        store.add_attention(purchase, reason)
        logger.warning("block re-held over capacity", extra={"bulk_purchase_id": purchase.purchase_id})
