"""Vouchers: every read of a voucher and every check on one, for orders and for sponsors.

- A code is looked up normalized (``voucher_codes.normalize``), so case and spacing never matter.
- A voucher is usable now when it is active, inside its window (both ends inclusive) and has
  uses left; :func:`problem` says why not, with one of :data:`VoucherReason`.
- On an order it must apply to at least one line, and a hidden ticket takes a use per unit, never
  more than the voucher has left (docs/domain.md "Vouchers"): :func:`discount_for`.
- Attendees may ask whether a code works (:func:`check_voucher`, no usage counts); staff and the
  sponsor whose purchase issued it see the whole voucher (:func:`get_voucher`), and a purchase's
  codes are listed, a page at a time or as CSV, from its key (:func:`codes_of`).
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from boxoffice import lazy, pricing, store, voucher_codes
from boxoffice.bulk_purchase_views import Viewer, require
from boxoffice.errors import NotFound, ValidationFailed
from boxoffice.shapes import Shape

if TYPE_CHECKING:
    from boxoffice.store import bulk_purchases as purchase_records
    from boxoffice.store import vouchers as voucher_store
else:
    purchase_records = lazy.module("boxoffice.store.bulk_purchases")
    voucher_store = lazy.module("boxoffice.store.vouchers")

VoucherReason = Literal["expired", "not_yet_valid", "used_up", "inactive", "not_applicable", "unknown"]


class VoucherCheck(Shape):
    valid: bool
    reason: VoucherReason | None
    voucher_type: str | None
    discount_value: int | None
    ticket_type_ids: list[str]
    addon_ids: list[str]
    unlocks_hidden_tickets: bool


class VoucherView(Shape):
    code: str
    voucher_type: str
    discount_value: int
    max_uses: int
    times_used: int
    valid_from: datetime | None
    valid_until: datetime | None
    unlocks_hidden_tickets: bool
    is_active: bool
    ticket_type_ids: list[str]
    addon_ids: list[str]
    bulk_purchase_id: str | None


class VoucherPage(Shape):
    items: list[VoucherView]
    next: str | None


class VoucherInvalid(ValidationFailed):
    """The voucher cannot be used on this order; ``reason`` is one of VoucherReason."""

    def __init__(self, reason: str) -> None:
        super().__init__(
            f"the voucher cannot be used: {reason.replace('_', ' ')}",
            details=[
                {"loc": ["body", "voucher_code"], "msg": reason, "type": "voucher_invalid", "reason": reason}
            ],
        )
        self.reason = reason


def lookup(conference_id: str, raw_code: str) -> voucher_store.Voucher | None:
    """The voucher of a code as typed (normalized first), or None."""
    return voucher_store.get_voucher(conference_id, voucher_codes.normalize(raw_code))


def problem(voucher: voucher_store.Voucher | None, at: datetime) -> VoucherReason | None:
    """Why the voucher cannot be used now, or None. Window ends are inclusive."""
    if voucher is None:
        return "unknown"
    if not voucher.is_active:
        return "inactive"
    if voucher.valid_from is not None and at < voucher.valid_from:
        return "not_yet_valid"
    if voucher.valid_until is not None and at > voucher.valid_until:
        return "expired"
    if voucher.times_used >= voucher.max_uses:
        return "used_up"
    return None


def uses_left(voucher: voucher_store.Voucher) -> int:
    """How many uses (units) the voucher has left, as read."""
    return voucher.max_uses - voucher.times_used


def discount_of(voucher: voucher_store.Voucher) -> pricing.Discount:
    """What the voucher takes off, and on which items (none named: every item)."""
    return pricing.Discount(
        voucher.voucher_type,
        voucher.discount_value,
        frozenset(voucher.ticket_type_ids or []),
        frozenset(voucher.addon_ids or []),
    )


def unlocks(voucher: voucher_store.Voucher | None, ticket_type_id: str) -> bool:
    """Whether the voucher shows the hidden ticket type: it unlocks hidden tickets and the type is
    in its scope (a voucher naming no item covers every item)."""
    if voucher is None or not voucher.unlocks_hidden_tickets:
        return False
    return (
        not voucher.ticket_type_ids and not voucher.addon_ids
    ) or ticket_type_id in voucher.ticket_type_ids


def discount_for(voucher: voucher_store.Voucher, lines: list[pricing.Line]) -> tuple[pricing.Discount, int]:
    """The voucher's discount on these lines and the uses it has left for them, or VoucherInvalid:
    it applies to none of them, it has no use left, or the hidden tickets need more uses than it has.
    """
    discount = discount_of(voucher)
    if not any(discount.applies_to(line) for line in lines):
        raise VoucherInvalid("not_applicable")
    left = uses_left(voucher)
    if left <= 0:
        raise VoucherInvalid("used_up")
    if sum(line.quantity for line in lines if line.hidden) > left:
        # A hidden ticket exists only through the code: each one takes a use, never more than it has.
        raise VoucherInvalid("used_up")
    return discount, left


def check_voucher(conference_id: str, raw_code: str) -> VoucherCheck:
    """For attendees: whether a code works now and what it grants, with no usage counts."""
    conference = store.get_conference(conference_id)
    if conference is None or not conference.is_active:
        raise NotFound(f"conference {conference_id} not found")
    voucher = lookup(conference_id, raw_code)
    reason = problem(voucher, store.now())
    if voucher is None:
        return VoucherCheck(
            valid=False, reason="unknown", voucher_type=None, discount_value=None,
            ticket_type_ids=[], addon_ids=[], unlocks_hidden_tickets=False,
        )  # fmt: skip
    return VoucherCheck(
        valid=reason is None,
        reason=reason,
        voucher_type=voucher.voucher_type,
        discount_value=voucher.discount_value,
        ticket_type_ids=list(voucher.ticket_type_ids or []),
        addon_ids=list(voucher.addon_ids or []),
        unlocks_hidden_tickets=voucher.unlocks_hidden_tickets,
    )


# --- a sponsor purchase's codes ---------------------------------------------------------------------------


def codes_of(purchase: purchase_records.BulkPurchase) -> list[str]:
    """Every code the purchase has or will have, derived from its segment and key."""
    return voucher_codes.codes(
        purchase.code_prefix, purchase.code_segment, purchase.code_key, purchase.quantity
    )


def voucher_view(voucher: voucher_store.Voucher) -> VoucherView:
    return VoucherView(
        code=voucher.code,
        voucher_type=voucher.voucher_type,
        discount_value=voucher.discount_value,
        max_uses=voucher.max_uses,
        times_used=voucher.times_used,
        valid_from=voucher.valid_from,
        valid_until=voucher.valid_until,
        unlocks_hidden_tickets=voucher.unlocks_hidden_tickets,
        is_active=voucher.is_active,
        ticket_type_ids=list(voucher.ticket_type_ids or []),
        addon_ids=list(voucher.addon_ids or []),
        bulk_purchase_id=voucher.bulk_purchase_id,
    )


def list_vouchers(
    conference_id: str, purchase_id: str, viewer: Viewer, *, limit: int, cursor: str | None
) -> VoucherPage:
    """The purchase's codes sorted by code, a page at a time (the cursor is the last code seen)."""
    store.require_conference(conference_id)
    purchase = require(conference_id, purchase_id, viewer)
    codes = sorted(codes_of(purchase)) if purchase.vouchers_generated else []
    start = 0
    if cursor:
        start = next((i + 1 for i, c in enumerate(codes) if c == cursor), len(codes))
    page = codes[start : start + limit]
    items = [voucher_view(v) for v in voucher_store.iter_vouchers(conference_id, page)]
    more = start + limit < len(codes)
    return VoucherPage(items=items, next=page[-1] if more and page else None)


CSV_COLUMNS = ("code", "times_used", "max_uses", "is_active", "valid_from", "valid_until")


def vouchers_csv(conference_id: str, purchase_id: str, viewer: Viewer) -> str:
    """Every code of the purchase as CSV, sorted by code."""
    store.require_conference(conference_id)
    purchase = require(conference_id, purchase_id, viewer)
    codes = sorted(codes_of(purchase)) if purchase.vouchers_generated else []
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for voucher in voucher_store.iter_vouchers(conference_id, codes):
        writer.writerow(
            [
                voucher.code,
                voucher.times_used,
                voucher.max_uses,
                "true" if voucher.is_active else "false",
                voucher.valid_from.isoformat() if voucher.valid_from else "",
                voucher.valid_until.isoformat() if voucher.valid_until else "",
            ]
        )
    return out.getvalue()


def get_voucher(conference_id: str, raw_code: str, viewer: Viewer) -> VoucherView:
    """A whole voucher, for staff or the sponsor whose purchase issued it (others: 404)."""
    store.require_conference(conference_id)
    voucher = lookup(conference_id, raw_code)
    if voucher is None:
        raise NotFound("voucher not found")
    if not viewer.is_staff:
        purchase = (
            purchase_records.get(conference_id, voucher.bulk_purchase_id)
            if voucher.bulk_purchase_id
            else None
        )
        if purchase is None or not viewer.may_see(purchase):
            raise NotFound("voucher not found")
    return voucher_view(voucher)
