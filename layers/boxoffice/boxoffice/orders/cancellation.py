"""Cancelling a pending order, explicitly or by the sweep when its hold ends.

The Stripe session is expired first (a session found paid is recorded instead, and the cancel
refused); then, in one transaction (``store.orders.cancel_order``), the order moves to cancelled,
its voucher's uses are given back (never below 0), every credit payment goes back to its credit,
and its units go back to the counters or its sponsor block.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from boxoffice import lazy, store, sweeping
from boxoffice.errors import InvalidState
from boxoffice.orders import payments
from boxoffice.orders.views import OrderView, OrderViewer, require, view

if TYPE_CHECKING:
    from boxoffice.store import bulk_purchases as purchase_records
    from boxoffice.store import orders as records
else:
    purchase_records = lazy.module("boxoffice.store.bulk_purchases")
    records = lazy.module("boxoffice.store.orders")

TRANSACTION_ATTEMPTS = 6


def cancel(conference_id: str, order_id: str, viewer: OrderViewer | None) -> OrderView:
    """pending → cancelled: the Stripe session expired first; then, in one transaction, the voucher's
    use given back (never below 0) and every credit payment returned to its credit.
    """
    store.require_conference(conference_id)
    order = require(conference_id, order_id, viewer)
    if order.status != records.PENDING:
        raise InvalidState(f"order is {order.status}; only a pending order is cancelled")
    if order.settling:
        raise InvalidState("the order's payment is still settling at the bank")
    payments.close_open_session(order)
    _cancel_record(order)
    return view(records.get(conference_id, order_id) or order)


def _cancel_record(order: records.Order) -> None:
    """Cancel the order as read, reading again (its credits, its block, a session that landed
    meanwhile) whenever the transaction is cancelled."""
    voucher_uses = records.voucher_units(order)
    for attempt in range(TRANSACTION_ATTEMPTS):
        try:
            records.cancel_order(
                order, records.credit_returns(order), _block_of(order), voucher_uses=voucher_uses
            )
            return
        except records.OrderMoved as exc:
            fresh = records.get(order.conference_id, order.order_id)
            if fresh is None or fresh.status != records.PENDING:
                raise InvalidState("the order is no longer pending") from exc
            if fresh.settling:
                raise InvalidState("the order's payment is still settling at the bank") from exc
            if fresh.checkout_session_id != order.checkout_session_id:
                payments.close_open_session(fresh)  # a checkout landed meanwhile: its session goes first
            if exc.voucher_short:
                voucher_uses = 0  # fewer uses recorded than it took: never below 0
            if attempt + 1 == TRANSACTION_ATTEMPTS:
                raise
            store.back_off(attempt)
            order = fresh  # the order or a credit moved meanwhile: decide again on fresh reads


def _block_of(order: records.Order) -> purchase_records.BulkPurchase | None:
    """The sponsor purchase whose block the order drew from, read now (None when it drew none)."""
    if not order.block_purchase_id or not any((order.block_draws or {}).values()):
        return None
    return purchase_records.get(order.conference_id, order.block_purchase_id)


def sweep_expired_holds(conference_id: str) -> int:
    """Cancel every pending order whose hold has ended, each on its own: one that fails (its session
    unknown to Stripe, a conflict out of retries) never keeps the others' seats. Returns how many
    were cancelled."""

    def settle(order: records.Order) -> int:
        try:
            cancel(conference_id, order.order_id, None)
        except InvalidState:
            return 0  # paid, settling or cancelled meanwhile
        return 1

    return sweeping.settle_each(
        records.pending_past_hold(conference_id, store.now()),
        settle,
        what="expired order",
        key=lambda o: o.order_id,
    )
