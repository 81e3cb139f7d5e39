"""Which of an order's card payments is its own when two tabs paid it (docs/domain.md "Refunds").

The first payment recorded while the order is pending is its own; a later one is money beside it.
Which one comes first is the order Stripe's events reach us in, so it must not decide what the
order ends as: when staff refunded one of two paid tabs in Stripe's dashboard, the order keeps the
other whatever order the events came in. So an order refunded only because its own payment was
refunded in full *outside our API* takes an untouched payment of the same amount beside it as its
own instead, and is paid again; the refunded one becomes money beside it, its refunds counted
against it alone. A refund made through our API is never undone this way: staff refunded the
order, and a second payment is money to give back. A partly refunded payment stays the order's own.
Nor is an order whose seats went back and were sold meanwhile paid again: it would hold them twice,
so the second payment stays money to give back, and staff are told.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from boxoffice import lazy, store
from boxoffice.observability import logger
from boxoffice.orders import units as order_units

if TYPE_CHECKING:
    from boxoffice.store import capacity
    from boxoffice.store import orders as records
    from boxoffice.store import refunds as refund_records
else:
    capacity = lazy.module("boxoffice.store.capacity")
    records = lazy.module("boxoffice.store.orders")
    refund_records = lazy.module("boxoffice.store.refunds")


def adopt_kept_payment(order: records.Order) -> records.Order | None:
    """Make an untouched payment beside a refunded order its own, when the order is refunded only
    by refunds made outside our API of its one card payment (see the module). Read and decided
    again when anything moved meanwhile. Returns the order as it is then when it swapped, else None."""

    def attempt() -> records.Order | None:
        fresh = records.get(order.conference_id, order.order_id)
        plan = _plan(fresh) if fresh is not None else None
        if fresh is None or plan is None:
            return None
        refunded, kept, refunds = plan
        if _disputed_at_stripe(fresh, kept):
            return None  # the cardholder has (or may get) it back: it is no payment to keep
        try:
            records.adopt_kept_payment(fresh, refunded, kept, refunds, order_units.released_units(fresh))
        except capacity.SoldOut:
            sold.append(fresh)
            return None
        return records.get(order.conference_id, order.order_id)

    sold: list[records.Order] = []
    swapped = store.retry_on_conflict(attempt)
    if sold:
        store.add_attention(
            sold[-1],
            "the order's own payment was refunded in full outside boxoffice and another paid tab was "
            "kept, but the order's seats were sold meanwhile: that payment is money to give back",
        )
    if swapped is None:
        return None
    logger.warning(
        "a refunded order took its untouched second payment as its own", extra={"order_id": order.order_id}
    )
    store.add_attention(
        swapped,
        "the order's own payment was refunded in full outside boxoffice and another paid tab was kept: "
        "that payment is the order's own now, the refunded one is money beside it, already back",
    )
    return swapped


def _plan(
    order: records.Order,
) -> tuple[records.Payment, records.Payment, list[refund_records.Refund]] | None:
    """The refunded own payment, the kept one and the refunds to move, when the rule holds as read."""
    if (
        order.status != records.REFUNDED
        or order.dispute
        or (order.refund_reserved or 0)
        or order.charged_back
    ):
        return None  # a dispute or chargeback of its own payment: staff decide
    payments = [
        p for p in records.payments_of(order.conference_id, order.order_id) if p.status == "succeeded"
    ]
    own = [p for p in payments if p.is_own]
    if len(own) != 1 or own[0].method != "stripe" or not own[0].payment_intent_id:
        return None  # paid (partly) with store credit, or by more than one own payment
    refunded = own[0]
    if refunded.amount_refunded != refunded.amount or order.amount_refunded != refunded.amount:
        return None  # partly refunded, or the order's refunds are not only this payment's
    refunds = [
        r
        for r in refund_records.list_refunds(order.PK)
        if r.counts_against == refund_records.OWNER and r.status != refund_records.FAILED
    ]
    outside = all(
        r.source == "external"
        and r.status == refund_records.SUCCEEDED
        and r.destination == "card"
        and r.payment_intent_id == refunded.payment_intent_id
        for r in refunds
    )
    if not outside or sum(r.amount for r in refunds) != refunded.amount:
        return None  # staff refunded the order through our API: the second payment is to give back
    kept = [
        p
        for p in payments
        if not p.is_own
        and p.method == "stripe"
        and p.amount == refunded.amount
        and p.currency == order.currency
        and not p.amount_refunded
        and not p.refund_reserved
        and not p.dispute
    ]
    if not kept:
        return None
    return refunded, min(kept, key=lambda p: (p.created_at, p.payment_id)), refunds


SETTLED_FOR_US = frozenset({"won", "warning_closed"})
"""Dispute statuses under which the money stays with the merchant; any other is open or lost."""


def _disputed_at_stripe(order: records.Order, kept: records.Payment) -> bool:
    """Whether Stripe has a dispute of ``kept`` that is open or was lost. Its mark on the Payment is
    not enough: a dispute whose events came before the payment was recorded could mark nothing."""
    from boxoffice import stripe_gateway

    conference = store.get_conference(order.conference_id)
    if conference is None or conference.stripe_secret_name is None or not kept.payment_intent_id:
        return False
    disputes = stripe_gateway.list_disputes(conference.stripe_secret_name, kept.payment_intent_id)
    return any(str(d.get("status")) not in SETTLED_FOR_US for d in disputes)
