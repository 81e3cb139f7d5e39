"""Invariant 5 on a store credit: its remaining amount against its ledger, never also paid back
on the card."""

from __future__ import annotations

from boxoffice.books.order_checks import PAID_STATUSES, order_parts
from boxoffice.books.records import credit_records
from boxoffice.books.refund_tally import tally_refunds
from boxoffice.books.run import Break, Run, is_own, new_break

# --- 5. store credit ------------------------------------------------------------------------------------------------


def check_credit(run: Run, credit: credit_records.Credit) -> list[Break]:
    run.checked["credit"] += 1
    rid, breaks = credit.credit_id, []
    applied = sum(a.amount for a in credit.applications or [])
    returned = 0
    for order_id in sorted({a.order_id for a in credit.applications or []}):
        _, payments, _ = order_parts(run.conference_id, order_id)
        mine = [p for p in payments if p.method == "credit" and p.credit_id == credit.credit_id]
        returned += sum(p.amount for p in mine if p.status == "refunded")
        for entry in [a for a in credit.applications or [] if a.order_id == order_id]:
            if entry.amount not in [p.amount for p in mine]:
                breaks.append(
                    new_break("credit", rid, "credit.ledger", entry.amount, [p.amount for p in mine],
                         f"the ledger applies {entry.amount} to order {order_id}, which has no such payment")
                )  # fmt: skip
    expected = credit.amount - applied + returned
    remaining = credit.remaining_amount
    if remaining != expected or expected < 0 or remaining > credit.amount:
        breaks.append(
            new_break("credit", rid, "credit.remaining", remaining, expected,
                 f"remaining must be amount {credit.amount} - applied {applied} + returned {returned}, "
                 "never below 0 (below 0: the credit was spent twice)")
        )  # fmt: skip
    if credit.status != credit_records.EXPIRED and (credit.status == credit_records.APPLIED) != (
        remaining == 0
    ):
        breaks.append(
            new_break("credit", rid, "credit.status", credit.status,
                 credit_records.APPLIED if remaining == 0 else credit_records.AVAILABLE,
                 "a credit is applied exactly when nothing remains")
        )  # fmt: skip
    if credit.source_order_id:
        breaks += _check_double_paid(run, credit)
    return breaks


def _check_double_paid(run: Run, credit: credit_records.Credit) -> list[Break]:
    """A credit issued for money also refunded on the card must be flagged and frozen."""
    order, payments, refunds = order_parts(run.conference_id, str(credit.source_order_id))
    if order is None:
        return []
    own_paid = sum(p.amount for p in payments if is_own(p) and p.status in PAID_STATUSES)
    own_intents = {
        str(p.payment_intent_id)
        for p in payments
        if p.method == "stripe" and is_own(p) and p.status in PAID_STATUSES and p.payment_intent_id
    }
    tally = tally_refunds(run.conference_id, refunds)
    # Only refunds of the order's own payments: a second tab's payment refunded in full gave back
    # that payment's money, not the money the credit stands for.
    card = sum(v for k, v in tally.done_by_intent.items() if k in own_intents)
    card += sum(v for k, v in tally.pending_by_intent.items() if k in own_intents or k is None)
    card += run.charged_back(order.dispute, own_intents)  # a lost dispute gave the card the money back too
    issued = tally.credit_done + tally.credit_pending
    if card + issued <= own_paid:
        return []
    flagged = bool(getattr(credit, "attention", None) or order.attention)
    # A credit carrying attention is frozen: applying it is refused until staff clear it.
    spendable = (
        credit.status == credit_records.AVAILABLE
        and credit.remaining_amount > 0
        and not getattr(credit, "attention", None)
    )
    if flagged and not spendable:
        return []
    return [
        new_break("credit", credit.credit_id, "credit.double_paid",
             {"card_refunds": card, "store_credit": issued, "flagged": flagged, "spendable": spendable},
             {"paid": own_paid},
             f"order {order.order_id} paid {own_paid} but got back {card} on the card and {issued} as credit; "
             "the credit must be flagged and frozen")
    ]  # fmt: skip
