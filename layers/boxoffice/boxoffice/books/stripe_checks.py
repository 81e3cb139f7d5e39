"""Invariants 2 and 7 from Stripe's side: a paid Checkout Session with our metadata is held by its
order or purchase (or flagged), and Stripe's events are recorded and finished."""

from __future__ import annotations

from typing import Any

from boxoffice import store
from boxoffice.books.records import book_records, event_records, order_records, purchases
from boxoffice.books.run import LIVE_STRIPE_REFUND, Break, Run, intent_of, is_own, new_break

# --- 2. money nobody keeps, and 7. events, from Stripe's side ----------------------------------------------------


def check_session(run: Run, session: dict[str, Any]) -> list[Break]:
    """A paid session with our metadata is some record's own payment, or flagged, or refunded in full."""
    metadata = session.get("metadata") or {}
    if session.get("payment_status") != "paid" or metadata.get("conference_id") != run.conference_id:
        return []
    run.checked["stripe_payment"] += 1
    intent = intent_of(session)
    amount = int(session.get("amount_total") or 0)
    owner, own, flagged = None, False, False
    if isinstance(metadata.get("order_id"), str):
        owner = ("order", metadata["order_id"])
        order = order_records.get(run.conference_id, metadata["order_id"])
        payment = order_records.get_payment(run.conference_id, metadata["order_id"], f"pay_{intent}")
        own = bool(order and payment and is_own(payment) and order.status != order_records.CANCELLED)
        flagged = bool(order and payment and order.attention)
    elif isinstance(metadata.get("bulk_purchase_id"), str):
        owner = ("bulk_purchase", metadata["bulk_purchase_id"])
        purchase = purchases.get(run.conference_id, metadata["bulk_purchase_id"])
        own = bool(purchase and intent and purchase.payment_intent_id == intent)
        flagged = bool(purchase and purchase.attention)
    if own or flagged or not intent:
        return []
    refunded = sum(
        int(r["amount"]) for r in run.stripe_refunds(intent) if r.get("status") in LIVE_STRIPE_REFUND
    )
    if refunded >= amount:
        return []
    kind, record = owner or ("payment_intent", intent)
    return [
        new_break(kind, record, "money.unclaimed_charge", None,
             {"payment_intent": intent, "amount": amount, "refunded": refunded, "session": session.get("id")},
             f"Stripe holds {amount - refunded} on {intent} that is neither this record's payment nor flagged")
    ]  # fmt: skip


def check_stripe_events(run: Run, events: list[dict[str, Any]]) -> list[Break]:
    recorded = book_records.event_records(run.conference_id, [e["id"] for e in events])
    run.checked["stripe_event"] += len(events)
    return [
        new_break("event", e["id"], "event.unrecorded", None, {"type": e["type"], "created": e["created"]},
             "Stripe has this event and we never recorded it")
        for e in events
        if e["id"] not in recorded
    ]  # fmt: skip


def check_unfinished_events(run: Run) -> list[Break]:
    breaks = []
    at = store.now()
    for status in (event_records.RECEIVED, event_records.PROCESSING):
        for record in event_records.iter_events(run.conference_id, status):
            run.checked["event"] += 1
            stuck = status == event_records.RECEIVED or record.lease_until is None or record.lease_until < at
            if stuck:
                breaks.append(
                    new_break("event", record.event_id, "event.unfinished", status, None,
                         f"{record.event_type} was recorded but never finished processing")
                )  # fmt: skip
    return breaks
