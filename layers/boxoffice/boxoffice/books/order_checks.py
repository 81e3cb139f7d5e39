"""Invariants 1, 2 and 5 on an order: its amounts and status from its payments and refunds, its
card refunds against Stripe's, the store credit it was paid with."""

from __future__ import annotations

from boxoffice.books.records import book_records, order_records, refund_records
from boxoffice.books.refund_tally import check_unmatched, match_stripe, tally_refunds
from boxoffice.books.run import Break, Run, is_own, new_break

# --- 1. orders (and the order side of 2 and 5) ---------------------------------------------------------------


def order_parts(
    conference_id: str, order_id: str
) -> tuple[order_records.Order | None, list[order_records.Payment], list[refund_records.Refund]]:
    order, payments, refunds = None, [], []
    for item in book_records.partition(order_records.Order.key(conference_id, order_id)[0]):
        if isinstance(item, order_records.Order):
            order = item
        elif isinstance(item, order_records.Payment):
            payments.append(item)
        elif isinstance(item, refund_records.Refund):
            refunds.append(item)
    return order, payments, refunds


PAID_STATUSES = ("succeeded",)
"""A credit payment given back when its order is cancelled is ``refunded``: no longer paid."""


def check_order(run: Run, order_id: str) -> list[Break]:
    order, payments, refunds = order_parts(run.conference_id, order_id)
    if order is None:
        return []
    run.checked["order"] += 1
    rid, breaks = order.order_id, []
    cancelled = order.status == order_records.CANCELLED
    own_paid = sum(p.amount for p in payments if is_own(p) and p.status in PAID_STATUSES)
    own_stripe = [
        p
        for p in payments
        if p.method == "stripe" and is_own(p) and p.status in PAID_STATUSES and not cancelled
    ]
    own_intents = {str(p.payment_intent_id) for p in own_stripe if p.payment_intent_id}
    own_stripe_paid = sum(p.amount for p in own_stripe)
    stray = [
        p
        for p in payments
        if p.method == "stripe" and p.status == "succeeded" and (not is_own(p) or cancelled)
    ]
    tally = tally_refunds(run.conference_id, refunds)
    for problem in tally.problems:
        breaks.append(new_break("order", rid, "order.refund_links", None, None, problem))

    card_done = sum(v for k, v in tally.done_by_intent.items() if k in own_intents)
    card_pending = sum(v for k, v in tally.pending_by_intent.items() if k in own_intents or k is None)
    refunded = card_done + tally.credit_done
    reserved = card_pending + tally.credit_pending

    if order.amount_paid != own_paid:
        breaks.append(
            new_break("order", rid, "order.amount_paid", order.amount_paid, own_paid,
                 "amount_paid is not the sum of the order's own succeeded payments")
        )  # fmt: skip
    if order.amount_refunded != refunded:
        breaks.append(
            new_break("order", rid, "order.amount_refunded", order.amount_refunded, refunded,
                 "amount_refunded is not the sum of its completed refunds of its own payments "
                 f"(card {card_done}, store credit {tally.credit_done})")
        )  # fmt: skip
    if order.refund_reserved != reserved:
        breaks.append(
            new_break("order", rid, "order.refund_reserved", order.refund_reserved, reserved,
                 "refund_reserved is not the sum of its pending refunds")
        )  # fmt: skip
    if not cancelled:
        total = order.total
        expected = (
            order_records.PENDING
            if own_paid < total
            else order_records.REFUNDED
            if refunded >= total and refunded > 0
            else order_records.PARTIALLY_REFUNDED
            if refunded > 0
            else order_records.PAID
        )
        if order.status != expected:
            breaks.append(
                new_break("order", rid, "order.status", order.status, expected,
                     f"paid {own_paid} of {total}, refunded {refunded}: the status should be {expected}")
            )  # fmt: skip
    card_all = card_done + card_pending
    if card_all > own_stripe_paid or card_all + tally.credit_done + tally.credit_pending > own_paid:
        breaks.append(
            new_break("order", rid, "order.refunds_within_paid",
                 {"card": card_all, "store_credit": tally.credit_done + tally.credit_pending},
                 {"paid": own_paid, "paid_by_card": own_stripe_paid},
                 "card refunds and store credit issued exceed what was paid")
        )  # fmt: skip
    for payment in own_stripe:
        intent = str(payment.payment_intent_id)
        taken = tally.done_by_intent.get(intent, 0) + tally.pending_by_intent.get(intent, 0)
        if taken > payment.amount:
            breaks.append(
                new_break("order", rid, "order.refunds_within_paid", taken, payment.amount,
                     f"payment intent {intent} is refunded beyond what it paid")
            )  # fmt: skip
    for payment in stray:
        intent = str(payment.payment_intent_id)
        left = payment.amount - tally.done_by_intent.get(intent, 0)
        if left > 0 and not order.attention:
            breaks.append(
                new_break("order", rid, "money.unflagged", {"payment_intent": intent, "left": left}, None,
                     f"{left} arrived on {intent} that is not the order's own payment and nobody was told")
            )  # fmt: skip
    breaks += check_unmatched("order", rid, (order.unmatched_refunds or 0), refunds)
    breaks += _check_credit_payments(run, order, payments)
    if run.secret is not None:
        intents = {str(p.payment_intent_id) for p in payments if p.method == "stripe" and p.payment_intent_id}
        intents |= {str(v["payment_intent"]) for v in tally.ours_at_stripe.values() if v["payment_intent"]}
        breaks += match_stripe(run, "order", rid, intents, tally, "order.card_refunds_match_stripe")
    return breaks


def _check_credit_payments(
    run: Run, order: order_records.Order, payments: list[order_records.Payment]
) -> list[Break]:
    """Each credit payment on the order has its entry in the credit's ledger (no spend unrecorded)."""
    breaks = []
    for payment in payments:
        if payment.method != "credit" or not payment.credit_id:
            continue
        credit = run.credit(payment.credit_id)
        entries = [
            a.amount for a in (credit.applications if credit else []) or [] if a.order_id == order.order_id
        ]
        if payment.amount not in entries:
            breaks.append(
                new_break("credit", payment.credit_id, "credit.ledger", entries, payment.amount,
                     f"order {order.order_id} holds a credit payment of {payment.amount} "
                     "that the credit's ledger does not record")
            )  # fmt: skip
    return breaks
