"""Creating an order: its lines priced, its voucher redeemed and its units held, all at once.

The request's lines are read at catalog prices (a hidden ticket type only where the voucher
unlocks it) and priced with the voucher on at most the uses it has left (``vouchers``,
``pricing``). The order, its reference, its list entry, the voucher's uses, the units it holds on
the capacity counters and what it draws from its code's sponsor block are then written in one
transaction whose conditions are the rules (``store.orders.create``). When racers took the
voucher's uses or the block's units meanwhile, the order is priced or planned again from fresh
reads. A total of 0 is paid at once with a ``comp`` payment, and ``order.paid`` is announced.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from boxoffice import lazy, money, pricing, store, voucher_codes, vouchers
from boxoffice.errors import BoxofficeError, InvalidState, NotFound, ValidationFailed
from boxoffice.orders import payments
from boxoffice.orders.views import OrderRequest, OrderView, view
from boxoffice.vouchers import VoucherInvalid

if TYPE_CHECKING:
    from boxoffice.store import bulk_purchases as purchase_records
    from boxoffice.store import capacity as counters
    from boxoffice.store import orders as records
    from boxoffice.store import vouchers as voucher_store
else:
    purchase_records = lazy.module("boxoffice.store.bulk_purchases")
    counters = lazy.module("boxoffice.store.capacity")
    records = lazy.module("boxoffice.store.orders")
    voucher_store = lazy.module("boxoffice.store.vouchers")

REFERENCE_DRAWS = 8
REPRICES = 20
"""How often an order is priced again after racers took the voucher's uses, before it gives up."""
TRANSACTION_ATTEMPTS = 6


def create(conference_id: str, user_id: str, request: OrderRequest) -> OrderView:
    """A pending order with a hold (or a paid one, for a total of 0), the voucher redeemed atomically."""
    conference = store.get_conference(conference_id)
    if conference is None or not conference.is_active:
        raise NotFound(f"conference {conference_id} not found")
    code = voucher_codes.normalize(request.voucher_code) if request.voucher_code else None
    at = store.now()
    voucher = voucher_store.get_voucher(conference_id, code) if code else None
    if code is not None and (reason := vouchers.problem(voucher, at)):
        raise VoucherInvalid(reason)
    counted = {counters.VENUE} if conference.venue_counted else set()
    lines = _catalog_lines(conference_id, request, voucher, counted)
    priced = _price(lines, voucher, conference.currency)
    draws = repriced = replanned = 0
    while draws < REFERENCE_DRAWS:
        holding = _plan_holding(conference_id, lines, priced, voucher, counted) if counted else _NO_HOLDING
        if priced.total > money.MAX_AMOUNT:
            raise ValidationFailed("the order total is more than Stripe can charge at once")
        free = priced.total == 0
        order_id = f"ord_{secrets.token_hex(8)}"
        order = records.Order(
            *records.Order.key(conference_id, order_id),
            conference_id=conference_id,
            order_id=order_id,
            reference=_new_reference(),
            user_id=user_id,
            status=records.PAID if free else records.PENDING,
            currency=conference.currency,
            lines=[
                {
                    "ticket_type_id": line.ticket_type_id,
                    "addon_id": line.addon_id,
                    "quantity": line.quantity,
                    "unit_price": line.unit_price,
                    "line_total": line.total,
                    "discount": discount,
                }
                for line, discount in priced.lines
            ],
            subtotal=priced.subtotal,
            discount_amount=priced.discount,
            total=priced.total,
            voucher_code=code,
            voucher_units=priced.units if code else None,
            held_units=holding.units or None,
            block_purchase_id=holding.block.purchase.purchase_id if holding.block else None,
            block_draws={"ticket": holding.block.ticket, "addon": holding.block.addon}
            if holding.block
            else None,
            block_units=holding.block_units or None,
            paid_announced=None,
            created_at=at,
            updated_at=at,
        )
        order.GSI2PK, order.GSI2SK = f"UORDERS#{conference_id}#{user_id}", f"{at.isoformat()}#{order_id}"
        payment = None
        if free:
            records.mark_awaiting_announcement(order)
            payment = records.Payment(
                *records.Payment.key(conference_id, order_id, "pay_comp"),
                conference_id=conference_id, order_id=order_id, payment_id="pay_comp",
                method="comp", status="succeeded", amount=0,
            )  # fmt: skip
        else:
            order.hold_expires_at = at + timedelta(minutes=conference.order_hold_minutes)
            records.pending_index(order)
        try:
            _create_with_retries(order, payment, None if voucher is None else voucher.max_uses, holding.block)
        except records.ReferenceTaken:
            draws += 1
            continue
        except records.BlockMoved as exc:
            # The block was released or drawn meanwhile: plan again from a fresh read of it.
            replanned += 1
            if replanned > REPRICES:
                raise InvalidState("the voucher's sponsor block kept changing; retry") from exc
            continue
        except records.VoucherRefused as exc:
            # A racer took uses meanwhile: price again with what is left, or refuse.
            repriced += 1
            voucher = voucher_store.get_voucher(conference_id, str(code))
            if reason := vouchers.problem(voucher, store.now()) or (
                "used_up" if repriced > REPRICES else None
            ):
                raise VoucherInvalid(reason) from exc
            priced = _price(lines, voucher, conference.currency)
            continue
        if free:
            payments.announce_paid(order)
        return view(order, [payment] if payment else [])
    raise BoxofficeError("could not draw a unique order reference; retry")


def _create_with_retries(
    order: records.Order,
    payment: records.Payment | None,
    voucher_max_uses: int | None,
    block: records.BlockDraw | None = None,
) -> None:
    """DynamoDB cancels a transaction that meets a concurrent one on the same voucher or counter; try again."""
    store.retry_on_conflict(
        lambda: records.create(order, payment, voucher_max_uses, block), attempts=TRANSACTION_ATTEMPTS
    )


def _line_problem(index: int, field: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        message, details=[{"loc": ["body", "lines", index, field], "msg": message, "type": "value_error"}]
    )


def _catalog_lines(
    conference_id: str, request: OrderRequest, voucher: voucher_store.Voucher | None, counted: set[str]
) -> list[pricing.Line]:
    """The request's lines at catalog prices; a hidden ticket type only where the voucher unlocks it.

    Adds to ``counted`` the capacity scopes of the items that have a counter (read with the items).
    """
    lines: list[pricing.Line] = []
    for i, line in enumerate(request.lines):
        if line.ticket_type_id is not None:
            ticket = store.get_ticket_type(conference_id, line.ticket_type_id)
            if ticket is None:
                raise _line_problem(i, "ticket_type_id", f"ticket type {line.ticket_type_id} not found")
            if ticket.requires_voucher and not vouchers.unlocks(voucher, line.ticket_type_id):
                raise _line_problem(i, "ticket_type_id", f"ticket type {line.ticket_type_id} not found")
            price = ticket.price
            if ticket.counted:
                counted.add(counters.ticket_scope(line.ticket_type_id))
            lines.append(
                pricing.Line(
                    line.ticket_type_id, None, line.quantity, price, hidden=bool(ticket.requires_voucher)
                )
            )
            continue
        else:
            addon = store.get_addon(conference_id, str(line.addon_id))
            if addon is None:
                raise _line_problem(i, "addon_id", f"add-on {line.addon_id} not found")
            price = addon.price
            if addon.counted:
                counted.add(counters.addon_scope(str(line.addon_id)))
        lines.append(pricing.Line(line.ticket_type_id, line.addon_id, line.quantity, price))
    return lines


def _price(lines: list[pricing.Line], voucher: voucher_store.Voucher | None, currency: str) -> pricing.Priced:
    """The order priced with the voucher on at most the uses it has left (docs/domain.md "Vouchers")."""
    if voucher is None:
        return pricing.price(lines, None)
    discount, left = vouchers.discount_for(voucher, lines)
    return pricing.price(lines, discount, uses_left=left, grid=money.grid(currency))


def _item_scopes(line: pricing.Line, counted: set[str]) -> list[str]:
    """The limited capacity scopes a unit of ``line`` is held on (its item's, and the venue's)."""
    if line.ticket_type_id is not None:
        scopes = [counters.ticket_scope(line.ticket_type_id), counters.VENUE]
    else:
        scopes = [counters.addon_scope(str(line.addon_id))]
    return [s for s in scopes if s in counted]


def _discounted_units(lines: list[pricing.Line], voucher: voucher_store.Voucher, units: int) -> list[int]:
    """Per line, how many of the ``units`` discounted units it has, in pricing's own order (units
    the voucher unlocked first, then the most expensive, ties in line order)."""
    ranked = pricing.discount_order(lines, vouchers.discount_of(voucher))
    out = [0] * len(lines)
    for i in ranked:
        out[i] = min(lines[i].quantity, units)
        units -= out[i]
    return out


@dataclass(frozen=True)
class _Holding:
    """What an order holds: units per counter scope, and what it draws from its code's sponsor block."""

    units: dict[str, int]
    block: records.BlockDraw | None
    block_units: dict[str, int]


def _plan_holding(
    conference_id: str,
    lines: list[pricing.Line],
    priced: pricing.Priced,
    voucher: voucher_store.Voucher | None,
    counted: set[str],
) -> _Holding:
    """Units per limited scope; the discounted units of a sponsor block's items come from the block
    (as far as it has them left, read now and guarded at commit), not from the counters."""
    units: dict[str, int] = {}
    for line in lines:
        for scope in _item_scopes(line, counted):
            units[scope] = units.get(scope, 0) + line.quantity
    purchase = None
    if voucher is not None and voucher.bulk_purchase_id and priced.units:
        purchase = purchase_records.get(conference_id, voucher.bulk_purchase_id)
    if purchase is None or purchase.block_state != records.BLOCK_HELD or not purchase.block:
        return _Holding(units, None, {})
    assert voucher is not None  # a purchase is read only for a voucher's block
    left = {"ticket": purchase.block_left_ticket or 0, "addon": purchase.block_left_addon or 0}
    draws = {"ticket": 0, "addon": 0}
    block_units: dict[str, int] = {}
    for line, n in zip(lines, _discounted_units(lines, voucher, priced.units), strict=True):
        kind = "ticket" if line.ticket_type_id is not None else "addon"
        own = purchase.ticket_type_id if kind == "ticket" else purchase.addon_id
        if not n or (line.ticket_type_id or line.addon_id) != own:
            continue
        take = min(n, left[kind] - draws[kind])
        if take <= 0:
            continue
        draws[kind] += take
        for scope in _item_scopes(line, set(purchase.block)):
            block_units[scope] = block_units.get(scope, 0) + take
            if scope in units:
                units[scope] -= take
    units = {s: n for s, n in units.items() if n > 0}
    if not any(draws.values()):
        return _Holding(units, None, {})
    return _Holding(units, records.BlockDraw(purchase, draws["ticket"], draws["addon"]), block_units)


_NO_HOLDING = _Holding({}, None, {})


def _new_reference() -> str:
    return "ORD-" + "".join(secrets.choice(voucher_codes.ALPHABET) for _ in range(6))
