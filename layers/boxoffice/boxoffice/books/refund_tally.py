"""Refunds as the books count them, shared by the order and the purchase checks: tallied by
status and target, matched one for one with Stripe's refunds, and the early ones still waiting."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from boxoffice.books.records import book_records, refund_records
from boxoffice.books.run import LIVE_STRIPE_REFUND, Break, Run, new_break

# --- refunds shared by orders and purchases ------------------------------------------------------------------


@dataclass
class _Refunded:
    """What an owner's refund records say, per destination and per payment intent."""

    done_by_intent: dict[str | None, int] = field(default_factory=lambda: defaultdict(int))
    pending_by_intent: dict[str | None, int] = field(default_factory=lambda: defaultdict(int))
    credit_done: int = 0
    credit_pending: int = 0
    ours_at_stripe: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Our live links: Stripe refund id → {amount, payment_intent}."""
    pending_ids: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)


def tally_refunds(conference_id: str, refunds: list[refund_records.Refund]) -> _Refunded:
    out = _Refunded()
    linked = book_records.links(conference_id, [i for r in refunds for i in r.stripe_refund_ids or []])
    for refund in refunds:
        if refund.destination == "store_credit":
            if refund.status == refund_records.SUCCEEDED:
                out.credit_done += refund.amount
            elif refund.status == refund_records.PENDING:
                out.credit_pending += refund.amount
            continue
        if refund.status == refund_records.PENDING:
            out.pending_ids.add(refund.refund_id)
            split = refund.split or {refund.payment_intent_id: refund.amount}
            for intent, part in split.items():
                out.pending_by_intent[intent] += int(part)
            continue
        ids = list(refund.stripe_refund_ids or [])
        if refund.status == refund_records.SUCCEEDED and not ids:
            out.problems.append(f"card refund {refund.refund_id} succeeded with no Stripe refund id")
        for stripe_id in ids:
            link = linked.get(stripe_id)
            if link is None:
                out.problems.append(f"Stripe refund {stripe_id} of refund {refund.refund_id} has no link")
                continue
            if link.failed:
                continue
            out.done_by_intent[link.payment_intent_id] += link.amount
            out.ours_at_stripe[stripe_id] = {
                "amount": link.amount,
                "payment_intent": link.payment_intent_id,
            }
    return out


def match_stripe(
    run: Run, kind: str, record: str, intents: Iterable[str], tally: _Refunded, invariant: str
) -> list[Break]:
    """Stripe's live refunds on ``intents`` equal our linked card refunds on them, one for one."""
    breaks: list[Break] = []
    for intent in sorted(set(intents)):
        at_stripe = {
            r["id"]: int(r["amount"])
            for r in run.stripe_refunds(intent)
            if r.get("status") in LIVE_STRIPE_REFUND
            and (r.get("metadata") or {}).get("refund_id") not in tally.pending_ids  # ours, in flight
        }
        ours = {i: v["amount"] for i, v in tally.ours_at_stripe.items() if v["payment_intent"] == intent}
        if at_stripe != ours:
            missing = sorted(set(at_stripe) - set(ours))
            extra = sorted(set(ours) - set(at_stripe))
            breaks.append(
                new_break(
                    kind,
                    record,
                    invariant,
                    ours,
                    at_stripe,
                    f"payment intent {intent}: Stripe has refunds we did not record {missing}, "
                    f"we count refunds Stripe does not hold (or failed) {extra}",
                )
            )
    return breaks


def check_unmatched(
    kind: str, record: str, counter: int, refunds: list[refund_records.Refund]
) -> list[Break]:
    """The unmatched counter is the sum of refunds still waiting for their payment (not failed), so a
    payment's transaction that takes them in by that sum takes in exactly them."""
    waiting = sum(
        r.amount
        for r in refunds
        if r.counts_against == refund_records.UNMATCHED and r.status != refund_records.FAILED
    )
    if counter == waiting:
        return []
    return [
        new_break(kind, record, f"{'bulk' if kind == 'bulk_purchase' else 'order'}.unmatched_refunds", counter,
             waiting, "unmatched_refunds is not the sum of the refunds waiting for their payment")
    ]  # fmt: skip
