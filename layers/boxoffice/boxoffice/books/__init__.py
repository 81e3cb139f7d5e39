"""The books as code: the invariants of docs/domain.md "The books" checked against our records and Stripe's.

Every expected value is derived from primary records (payments, refunds and their Stripe links,
credits and their ledgers, orders, vouchers, Stripe's own objects), never from the counter being
checked. A break names the record, the invariant, what we hold and what Stripe (or the primary
records) say. Nothing here writes, except :func:`sweep_changes`, which only appends ``attention``
reasons and emits a metric per break: nothing is corrected in either direction.

A whole-conference audit walks sections in a fixed order (orders, bulk purchases, vouchers,
credits, Stripe's checkout sessions, Stripe's events, our unfinished events); a page covers up to
``limit`` records and its ``next`` cursor says where the next page starts. Invariant 6 (capacity)
is checked once per audit, with the events: :func:`check_capacity`.

Semantics tolerant of fields not yet on today's records: a Payment's ``own`` (absent = True), an
order's ``voucher_units`` (absent = 1 with a code, else 0), a Credit's ``attention``/``frozen``.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from boxoffice import voucher_codes
from boxoffice.books.capacity_checks import check_capacity
from boxoffice.books.credit_checks import check_credit
from boxoffice.books.order_checks import check_order
from boxoffice.books.purchase_checks import all_codes, check_purchase, check_vouchers, codes_of
from boxoffice.books.records import credit_records, order_records, purchases
from boxoffice.books.run import MAX_LIMIT, STRIPE_EVENT_WINDOW, Audit, Break, Run, run_for
from boxoffice.books.stripe_checks import check_session, check_stripe_events, check_unfinished_events
from boxoffice.errors import ValidationFailed
from boxoffice.pagination import decode_cursor, encode_cursor

# --- paging through the sections ----------------------------------------------------------------------------------

Page = tuple[list[Break], Any]
"""A section's breaks for one page and its next key (None when the section is done)."""


def _orders_page(run: Run, limit: int, key: Any) -> Page:
    entries, last = order_records.list_entries(run.conference_id, limit=limit, cursor=key)
    return [b for e in entries for b in check_order(run, e.order_id)], last


def _purchases_page(run: Run, limit: int, key: Any) -> Page:
    entries, last = purchases.list_entries(run.conference_id, None, limit=limit, cursor=key)
    return [b for e in entries for b in check_purchase(run, e.purchase_id)], last


def _vouchers_page(run: Run, limit: int, key: Any) -> Page:
    codes = [c for c in all_codes(run) if key is None or c > key]
    page = codes[:limit]
    return check_vouchers(run, page), (page[-1] if len(codes) > limit else None)


def _credits_page(run: Run, limit: int, key: Any) -> Page:
    found, last = credit_records.list_credits(run.conference_id, None, limit=limit, cursor=key)
    return [b for c in found for b in check_credit(run, c)], last


def _sessions_page(run: Run, limit: int, key: Any) -> Page:
    from boxoffice import stripe_gateway

    assert run.secret is not None
    sessions, after = stripe_gateway.list_checkout_sessions(
        run.secret, status="complete", limit=limit, starting_after=key
    )
    return [b for s in sessions for b in check_session(run, s)], after


def _stripe_events_page(run: Run, limit: int, key: Any) -> Page:
    from boxoffice import stripe_events, stripe_gateway

    assert run.secret is not None
    events, after = stripe_gateway.list_events_page(
        run.secret,
        created_gte=int(time.time()) - STRIPE_EVENT_WINDOW,
        types=sorted(stripe_events.HANDLED_TYPES),
        limit=limit,
        starting_after=key,
    )
    return check_stripe_events(run, events), after


def _events_page(run: Run, limit: int, key: Any) -> Page:
    return check_unfinished_events(run) + check_capacity(run), None


@dataclass(frozen=True)
class _Section:
    name: str
    run: Callable[[Run, int, Any], Page]
    needs_stripe: bool
    key_shape: dict[str, str] | None
    """For a DynamoDB key: the expected attribute (formatted with the conference id); None: a string key."""
    attributes: int = 2


SECTIONS = (
    _Section("orders", _orders_page, False, {"PK": "ORDERS#{cid}"}),
    _Section("purchases", _purchases_page, False, {"PK": "BPS#{cid}"}),
    _Section("vouchers", _vouchers_page, False, None),
    _Section("credits", _credits_page, False, {"GSI1PK": "CREDITS#{cid}"}, 4),
    _Section("sessions", _sessions_page, True, None),
    _Section("stripe_events", _stripe_events_page, True, None),
    _Section("events", _events_page, False, None),
)
STRING_KEY = re.compile(r"^[A-Za-z0-9_\-]{1,255}$")


def _encode(section: int, key: Any) -> str:
    return base64.urlsafe_b64encode(
        json.dumps({"s": section, "k": key}, separators=(",", ":")).encode()
    ).decode()


def _decode(cursor: str | None, conference_id: str) -> tuple[int, Any]:
    """(section index, that section's key), or ValidationFailed for anything not made by :func:`_encode`."""
    if not cursor:
        return 0, None
    invalid = ValidationFailed(
        "invalid cursor",
        details=[{"loc": ["query", "cursor"], "msg": "not a cursor of this audit", "type": "value_error"}],
    )
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        section, key = int(raw["s"]), raw["k"]
    except (ValueError, KeyError, TypeError) as exc:
        raise invalid from exc
    if not 0 <= section < len(SECTIONS):
        raise invalid
    shape = SECTIONS[section].key_shape
    if key is None:
        return section, None
    if shape is None:
        if not isinstance(key, str) or not STRING_KEY.match(key):
            raise invalid
        return section, key
    expected = {name: value.format(cid=conference_id) for name, value in shape.items()}
    try:
        return section, decode_cursor(encode_cursor(key), expected, attributes=SECTIONS[section].attributes)
    except (ValidationFailed, AttributeError, TypeError) as exc:
        raise invalid from exc


def _page(run: Run, limit: int, cursor: str | None) -> tuple[list[Break], str | None]:
    section, key = _decode(cursor, run.conference_id)
    breaks: list[Break] = []
    budget = max(1, min(limit, MAX_LIMIT))
    while section < len(SECTIONS):
        part = SECTIONS[section]
        if part.needs_stripe and run.secret is None:
            section, key = section + 1, None
            continue
        before = sum(run.checked.values())
        found, key = part.run(run, budget, key)
        breaks += found
        budget -= max(sum(run.checked.values()) - before, 1)
        if key is None:
            section += 1
        if key is not None or budget <= 0:
            break
    return breaks, (_encode(section, key) if section < len(SECTIONS) else None)


def audit_conference(
    conference_id: str, *, limit: int = 50, cursor: str | None = None, with_stripe: bool = True
) -> Audit:
    """One page of the conference's audit: about ``limit`` records checked, and the cursor of the next page."""
    run = run_for(conference_id, with_stripe)
    breaks, next_cursor = _page(run, limit, cursor)
    return Audit(checked=dict(run.checked), items=breaks, next=next_cursor)


def audit_all(conference_id: str, *, with_stripe: bool = True) -> list[Break]:
    """Every break of the conference, all pages (one run, so conference-wide reads happen once)."""
    run = run_for(conference_id, with_stripe)
    breaks, cursor = _page(run, MAX_LIMIT, None)
    while cursor is not None:
        more, cursor = _page(run, MAX_LIMIT, cursor)
        breaks += more
    return breaks


KINDS = ("order", "bulk_purchase", "credit", "voucher")


def audit_record(conference_id: str, kind: str, record_id: str, *, with_stripe: bool = True) -> list[Break]:
    """The breaks of one order, bulk purchase, credit or voucher code (a code reads every order)."""
    run = run_for(conference_id, with_stripe)
    if kind == "order":
        return check_order(run, record_id)
    if kind == "bulk_purchase":
        return check_purchase(run, record_id)
    if kind == "credit":
        credit = credit_records.get(conference_id, record_id)
        return check_credit(run, credit) if credit else []
    if kind == "voucher":
        return check_vouchers(run, [voucher_codes.normalize(record_id)])
    raise ValueError(f"kind must be one of {', '.join(KINDS)}")


from boxoffice.books.sweep import changed_breaks, flag, sweep_changes  # noqa: E402 - the sweep uses the checks above

__all__ = [
    "KINDS",
    "MAX_LIMIT",
    "Audit",
    "Break",
    "audit_all",
    "audit_conference",
    "audit_record",
    "changed_breaks",
    "codes_of",
    "flag",
    "sweep_changes",
]
