"""The sweep's audit: only what changed since its last run, each break flagged and counted.

Flagging appends ``books: <invariant>`` to the broken record's ``attention`` (never overwriting a
reason already there) and emits a ``BooksBreak`` metric per break. Nothing is corrected.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from boxoffice import store
from boxoffice.books.credit_checks import check_credit
from boxoffice.books.order_checks import check_order
from boxoffice.books.purchase_checks import check_purchase
from boxoffice.books.records import (
    book_records,
    credit_records,
    event_records,
    order_records,
    purchases,
    voucher_store,
)
from boxoffice.books.run import Break, Run, intent_of, new_break, run_for
from boxoffice.books.stripe_checks import check_session, check_stripe_events, check_unfinished_events

# --- the sweep: what changed since its last run ----------------------------------------------------------------

SWEEP_OVERLAP = timedelta(minutes=2)
"""Each run looks back this far before its cursor: writes landing while the last run read are not missed."""
SWEEP_FIRST_LOOKBACK = timedelta(days=1)


def _records_named(run: Run, record: event_records.StripeEventRecord) -> set[tuple[str, str]]:
    obj = record.event.get("data", {}).get("object", {})
    metadata = obj.get("metadata") or {}
    named: set[tuple[str, str]] = set()
    if isinstance(metadata.get("order_id"), str):
        named.add(("order", metadata["order_id"]))
    if isinstance(metadata.get("bulk_purchase_id"), str):
        named.add(("bulk_purchase", metadata["bulk_purchase_id"]))
    intent = intent_of(obj) if obj.get("object") != "payment_intent" else obj.get("id")
    if not named and isinstance(intent, str) and intent:
        link = purchases.find_by_payment_intent(run.conference_id, intent)
        if link is not None and link.kind in ("order", "bulk_purchase"):
            named.add((link.kind, link.record_id))
    return named


def _flag_target(run: Run, found: Break) -> Any:
    """The record that carries ``attention`` for a break, or None (events and unnamed charges: metric only)."""
    cid = run.conference_id
    if found.kind == "order":
        return order_records.get(cid, found.record)
    if found.kind == "bulk_purchase":
        return purchases.get(cid, found.record)
    if found.kind == "credit":
        credit = credit_records.get(cid, found.record)
        if credit is not None and hasattr(type(credit), "attention"):
            return credit
        return order_records.get(cid, credit.source_order_id) if credit and credit.source_order_id else None
    if found.kind == "voucher":
        voucher = voucher_store.get_voucher(cid, found.record)
        return purchases.get(cid, voucher.bulk_purchase_id) if voucher and voucher.bulk_purchase_id else None
    return None


def _emit(found: Break) -> None:
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "Boxoffice"
    with single_metric(name="BooksBreak", unit=MetricUnit.Count, value=1, namespace=namespace) as metric:
        metric.add_dimension(name="invariant", value=found.invariant)


def flag(conference_id: str, breaks: Iterable[Break]) -> int:
    """Append ``books: <invariant>`` to the attention of each broken record and emit ``BooksBreak`` per break.

    Returns how many records got a new reason. Nothing else is written: no amount is corrected.
    """
    from boxoffice.observability import logger

    run = Run(conference_id, None)
    flagged = 0
    for found in breaks:
        _emit(found)
        logger.warning("books break", extra={"conference_id": conference_id, **found.model_dump(mode="json")})
        target = _flag_target(run, found)
        if target is not None and store.add_attention(target, f"books: {found.invariant}"):
            flagged += 1
    return flagged


PAID_SESSION_EVENTS = frozenset({"checkout.session.completed", "checkout.session.async_payment_succeeded"})
"""Events whose object is a Checkout Session that may have just been paid."""
REFUND_EVENTS = frozenset(
    {"charge.refunded", "charge.refund.updated", "refund.created", "refund.updated", "refund.failed"}
)
"""Events that change how much of a payment is refunded, which the session check counts."""


def _changed_sessions(run: Run, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The Checkout Sessions whose check may have changed since the events began: paid since (their
    completion events carry them) or refunded since (read from Stripe by payment intent).

    What else the check reads cannot undo a pass: a payment record is never removed, a paid order
    is never cancelled, and ``attention`` is never cleared. So a session checked once is not read
    again at every run for the day it could have been paid in (that was two reads per paid session,
    every five minutes); the full audit still reads them all.
    """
    from boxoffice import stripe_gateway

    sessions: dict[str, dict[str, Any]] = {}
    refunded: set[str] = set()
    for event in events:  # newest first: a session's first snapshot is its latest
        obj = event.get("data", {}).get("object", {})
        if event.get("type") in PAID_SESSION_EVENTS and isinstance(obj.get("id"), str):
            sessions.setdefault(obj["id"], obj)
        elif event.get("type") in REFUND_EVENTS and (intent := intent_of(obj)):
            refunded.add(intent)
    refunded -= {intent_of(s) for s in sessions.values()}
    assert run.secret is not None
    for intent in sorted(refunded):
        found, _ = stripe_gateway.list_checkout_sessions(run.secret, payment_intent=intent)
        for session in found:
            sessions.setdefault(session["id"], session)
    return list(sessions.values())


def changed_breaks(conference_id: str, since: Any) -> list[Break]:
    """The audit of what changed after ``since``, read without scanning the conference.

    Looked at: orders created since; orders and purchases named by Stripe events that finished
    since (by metadata, or by their payment intent's link); credits created since and their source
    orders; the codes those orders redeemed (against ``max_uses`` only: their exact count needs every
    order and is left to the full audit); Stripe's events created since, and the Checkout Sessions
    they show paid or refunded (``_changed_sessions``); unfinished events. Cost: one query per list,
    one partition read per named record, one Stripe refund list per payment intent of those records,
    and Stripe list pages of what is new.
    """
    from boxoffice import stripe_events, stripe_gateway

    run = run_for(conference_id, True)
    targets: set[tuple[str, str]] = {
        ("order", o) for o in book_records.orders_created_since(conference_id, since)
    }
    for status in (event_records.PROCESSED, event_records.FAILED, event_records.REJECTED):
        for record in book_records.events_finished_since(conference_id, status, since):
            targets |= _records_named(run, record)
    credits = book_records.credits_created_since(conference_id, since)
    targets |= {("order", str(c.source_order_id)) for c in credits if c.source_order_id}
    breaks: list[Break] = []
    codes: set[str] = set()
    for kind, record_id in sorted(targets):
        if kind == "order":
            breaks += check_order(run, record_id)
            order = order_records.get(conference_id, record_id)
            if order is not None and order.voucher_code:
                codes.add(order.voucher_code)
        else:
            breaks += check_purchase(run, record_id)
    for credit in credits:
        breaks += check_credit(run, credit)
    for code, voucher in voucher_store.get_vouchers(conference_id, sorted(codes)).items():
        run.checked["voucher"] += 1
        if voucher.times_used > voucher.max_uses:
            breaks.append(
                new_break("voucher", code, "voucher.max_uses", voucher.times_used, voucher.max_uses,
                     "the code was used more than max_uses")
            )  # fmt: skip
    if run.secret is not None:
        events: list[dict[str, Any]] = []
        after = None
        while True:
            page, after = stripe_gateway.list_events_page(
                run.secret,
                created_gte=int(since.timestamp()),
                types=sorted(stripe_events.HANDLED_TYPES),
                starting_after=after,
            )
            events += page
            if after is None:
                break
        breaks += check_stripe_events(run, events)
        breaks += [b for s in _changed_sessions(run, events) for b in check_session(run, s)]
    return breaks + check_unfinished_events(run)


def sweep_changes(conference_id: str) -> int:
    """The sweep's step: audit what changed since the last run, flag every break. Returns the breaks found.

    The cursor moves only after a complete run, so a run that fails (Stripe down) is redone by the next.
    """
    started = store.now()
    if _still_settling(conference_id, started):
        # Events this sweep (or Stripe) just delivered are still being processed: auditing now would
        # flag a healthy order as a break. The cursor stays, so the next run audits it settled.
        return 0
    cursor = book_records.get_cursor(conference_id)
    since = (cursor.audited_until if cursor else started - SWEEP_FIRST_LOOKBACK) - SWEEP_OVERLAP
    breaks = changed_breaks(conference_id, since)
    flag(conference_id, breaks)
    book_records.advance_cursor(conference_id, started)
    return len(breaks)


SETTLE_WINDOW = timedelta(minutes=15)
"""An event received this recently and not finished is still in flight, not stuck."""


def _still_settling(conference_id: str, at: Any) -> bool:
    """True while an event received within the settle window has not finished processing."""
    for status in (event_records.RECEIVED, event_records.PROCESSING):
        for record in event_records.iter_events(conference_id, status):
            if record.updated_at is None or record.updated_at > at - SETTLE_WINDOW:
                return True
    return False
