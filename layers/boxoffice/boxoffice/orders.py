"""Attendee orders: price, redeem a voucher atomically, pay through Stripe Checkout, cancel, expire.

- Creating an order validates its lines, prices it (``pricing``), and writes the order, its
  reference and the voucher's use in one transaction whose condition is the voucher's rule. A
  total of 0 is paid at once with a ``comp`` payment.
- Checkout creates a session carrying ``order_id``, ``conference_id`` and ``reference`` on the
  session and the payment intent, with an idempotency key from the order; while it is open, a
  repeated call returns the same URL.
- A paid session records one ``stripe`` payment (keyed by its payment intent, so duplicates and
  reordering change nothing) and makes the order paid; ``order.paid`` is announced once. An amount
  or currency mismatch, or a payment after cancellation, sets ``attention``: money is never kept
  silently.
- Cancelling (explicitly, or by the sweep when the hold ends) expires the Stripe session first,
  then moves the order to cancelled and gives the voucher's use back, never below 0.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import ConfigDict, Field, model_validator

from boxoffice import bus, lazy, money, pricing, store, voucher_codes
from boxoffice.checkout_sessions import CheckoutRequest, CheckoutView, Collected, session_params
from boxoffice.errors import BoxofficeError, InvalidState, NotFound, ValidationFailed
from boxoffice.observability import logger
from boxoffice.patterns import ENTRY_ID_PATTERN
from boxoffice.shapes import Shape

if TYPE_CHECKING:
    from pynamodb import exceptions as pynamodb_errors

    from boxoffice.store import bulk_purchases as purchase_records
    from boxoffice.store import capacity as counters
    from boxoffice.store import orders as records
    from boxoffice.store import vouchers as voucher_store
else:
    pynamodb_errors = lazy.module("pynamodb.exceptions")
    purchase_records = lazy.module("boxoffice.store.bulk_purchases")
    counters = lazy.module("boxoffice.store.capacity")
    records = lazy.module("boxoffice.store.orders")
    voucher_store = lazy.module("boxoffice.store.vouchers")

REFERENCE_DRAWS = 8
REPRICES = 20
"""How often an order is priced again after racers took the voucher's uses, before it gives up."""
TRANSACTION_ATTEMPTS = 6
VoucherReason = Literal["expired", "not_yet_valid", "used_up", "inactive", "not_applicable", "unknown"]


class _Input(Shape):
    model_config = ConfigDict(extra="forbid", strict=True)


class OrderLineInput(_Input):
    ticket_type_id: Annotated[str, Field(pattern=ENTRY_ID_PATTERN)] | None = None
    addon_id: Annotated[str, Field(pattern=ENTRY_ID_PATTERN)] | None = None
    quantity: Annotated[int, Field(ge=1, le=50)]

    @model_validator(mode="after")
    def _one_item(self) -> OrderLineInput:
        if (self.ticket_type_id is None) == (self.addon_id is None):
            raise ValueError("each line names exactly one of ticket_type_id and addon_id")
        return self


class OrderRequest(_Input):
    lines: Annotated[list[OrderLineInput], Field(min_length=1, max_length=20)]
    voucher_code: Annotated[str, Field(min_length=1, max_length=64)] | None = None


class OrderLineView(Shape):
    ticket_type_id: str | None
    addon_id: str | None
    quantity: int
    unit_price: int
    line_total: int
    discount: int


class PaymentView(Shape):
    id: str
    method: str
    status: str
    amount: int
    payment_intent_id: str | None
    charge_id: str | None
    credit_id: str | None
    own: bool = True
    """False for money that is not the order's payment (refundable to its card, flagged)."""
    created_at: datetime


class OrderView(Shape):
    id: str
    reference: str
    conference_id: str
    user_id: str
    status: str
    currency: str
    lines: list[OrderLineView]
    subtotal: int
    discount_amount: int
    total: int
    amount_paid: int
    amount_refunded: int
    voucher_code: str | None
    hold_expires_at: datetime | None
    payments: list[PaymentView]
    attention: str | None
    created_at: datetime
    updated_at: datetime


class OrderPage(Shape):
    items: list[OrderView]
    next: str | None


class VoucherCheck(Shape):
    valid: bool
    reason: VoucherReason | None
    voucher_type: str | None
    discount_value: int | None
    ticket_type_ids: list[str]
    addon_ids: list[str]
    unlocks_hidden_tickets: bool


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


@dataclass(frozen=True)
class OrderViewer:
    user_id: str
    is_staff: bool

    def may_see(self, order: records.Order) -> bool:
        return self.is_staff or order.user_id == self.user_id


def payment_view(payment: records.Payment) -> PaymentView:
    return PaymentView(
        id=payment.payment_id,
        method=payment.method,
        status=payment.status,
        amount=int(payment.amount),
        payment_intent_id=payment.payment_intent_id,
        charge_id=payment.charge_id,
        credit_id=payment.credit_id,
        own=payment.is_own,
        created_at=payment.created_at,
    )


def view(order: records.Order, payments: Sequence[records.Payment] | None = None) -> OrderView:
    if payments is None:
        payments = records.payments_of(order.conference_id, order.order_id)
    return OrderView(
        id=order.order_id,
        reference=order.reference,
        conference_id=order.conference_id,
        user_id=order.user_id,
        status=order.status,
        currency=order.currency,
        lines=[OrderLineView(**line) for line in order.lines],
        subtotal=int(order.subtotal),
        discount_amount=int(order.discount_amount),
        total=int(order.total),
        amount_paid=int(order.amount_paid),
        amount_refunded=int(order.amount_refunded),
        voucher_code=order.voucher_code,
        hold_expires_at=order.hold_expires_at,
        payments=[payment_view(p) for p in sorted(payments, key=lambda p: p.created_at)],
        attention=order.attention,
        created_at=order.created_at,
        updated_at=order.updated_at,
    )


# --- vouchers ------------------------------------------------------------------------------------------------


def voucher_problem(voucher: voucher_store.Voucher | None, at: datetime) -> VoucherReason | None:
    """Why the voucher cannot be used now, or None. Window ends are inclusive."""
    if voucher is None:
        return "unknown"
    if not voucher.is_active:
        return "inactive"
    if voucher.valid_from is not None and at < voucher.valid_from:
        return "not_yet_valid"
    if voucher.valid_until is not None and at > voucher.valid_until:
        return "expired"
    if int(voucher.times_used) >= int(voucher.max_uses):
        return "used_up"
    return None


def check_voucher(conference_id: str, raw_code: str) -> VoucherCheck:
    """For attendees: whether a code works now and what it grants, with no usage counts."""
    conference = store.get_conference(conference_id)
    if conference is None or not conference.is_active:
        raise NotFound(f"conference {conference_id} not found")
    voucher = voucher_store.get_voucher(conference_id, voucher_codes.normalize(raw_code))
    reason = voucher_problem(voucher, store.now())
    if voucher is None:
        return VoucherCheck(
            valid=False, reason="unknown", voucher_type=None, discount_value=None,
            ticket_type_ids=[], addon_ids=[], unlocks_hidden_tickets=False,
        )  # fmt: skip
    return VoucherCheck(
        valid=reason is None,
        reason=reason,
        voucher_type=voucher.voucher_type,
        discount_value=int(voucher.discount_value),
        ticket_type_ids=list(voucher.ticket_type_ids or []),
        addon_ids=list(voucher.addon_ids or []),
        unlocks_hidden_tickets=voucher.unlocks_hidden_tickets,
    )


# --- create ------------------------------------------------------------------------------------------------------


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
            if ticket.requires_voucher:
                in_scope = voucher is not None and (
                    (not voucher.ticket_type_ids and not voucher.addon_ids)
                    or line.ticket_type_id in voucher.ticket_type_ids
                )
                if voucher is None or not voucher.unlocks_hidden_tickets or not in_scope:
                    raise _line_problem(i, "ticket_type_id", f"ticket type {line.ticket_type_id} not found")
            price = int(ticket.price)
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
            price = int(addon.price)
            if addon.counted:
                counted.add(counters.addon_scope(str(line.addon_id)))
        lines.append(pricing.Line(line.ticket_type_id, line.addon_id, line.quantity, price))
    return lines


def _discount_of(voucher: voucher_store.Voucher) -> pricing.Discount:
    return pricing.Discount(
        voucher.voucher_type,
        int(voucher.discount_value),
        frozenset(voucher.ticket_type_ids or []),
        frozenset(voucher.addon_ids or []),
    )


def _price(lines: list[pricing.Line], voucher: voucher_store.Voucher | None, currency: str) -> pricing.Priced:
    """The order priced with the voucher on at most the uses it has left (docs/domain.md "Vouchers")."""
    if voucher is None:
        return pricing.price(lines, None)
    discount = _discount_of(voucher)
    if not any(discount.applies_to(line) for line in lines):
        raise VoucherInvalid("not_applicable")
    left = int(voucher.max_uses) - int(voucher.times_used)
    if left <= 0:
        raise VoucherInvalid("used_up")
    if sum(line.quantity for line in lines if line.hidden) > left:
        # A hidden ticket exists only through the code: each one takes a use, never more than it has.
        raise VoucherInvalid("used_up")
    return pricing.price(lines, discount, uses_left=left, grid=money.grid(currency))


def _item_scopes(line: pricing.Line, counted: set[str]) -> list[str]:
    """The limited capacity scopes a unit of ``line`` is held on (its item's, and the venue's)."""
    if line.ticket_type_id is not None:
        scopes = [counters.ticket_scope(line.ticket_type_id), counters.VENUE]
    else:
        scopes = [counters.addon_scope(str(line.addon_id))]
    return [s for s in scopes if s in counted]


def _discounted_units(lines: list[pricing.Line], voucher: voucher_store.Voucher, units: int) -> list[int]:
    """Per line, how many of the ``units`` discounted units it has (pricing's order: most expensive
    first, ties in line order)."""
    discount = _discount_of(voucher)
    ranked = sorted(
        (i for i, line in enumerate(lines) if discount.applies_to(line)), key=lambda i: -lines[i].unit_price
    )
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
    left = {"ticket": int(purchase.block_left_ticket or 0), "addon": int(purchase.block_left_addon or 0)}
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


def create(conference_id: str, user_id: str, request: OrderRequest) -> OrderView:
    """A pending order with a hold (or a paid one, for a total of 0), the voucher redeemed atomically."""
    conference = store.get_conference(conference_id)
    if conference is None or not conference.is_active:
        raise NotFound(f"conference {conference_id} not found")
    code = voucher_codes.normalize(request.voucher_code) if request.voucher_code else None
    at = store.now()
    voucher = voucher_store.get_voucher(conference_id, code) if code else None
    if code is not None and (reason := voucher_problem(voucher, at)):
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
            order.hold_expires_at = at + timedelta(minutes=int(conference.order_hold_minutes))
            records.pending_index(order)
        try:
            _create_with_retries(
                order, payment, None if voucher is None else int(voucher.max_uses), holding.block
            )
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
            if reason := voucher_problem(voucher, store.now()) or (repriced > REPRICES and "used_up"):
                raise VoucherInvalid(reason) from exc
            priced = _price(lines, voucher, conference.currency)
            continue
        if free:
            announce_paid(order)
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


# --- reads -------------------------------------------------------------------------------------------------------


def _require(conference_id: str, order_id: str, viewer: OrderViewer | None) -> records.Order:
    order = records.get(conference_id, order_id)
    if order is None or (viewer is not None and not viewer.may_see(order)):
        raise NotFound(f"order {order_id} not found")
    return order


def get(conference_id: str, order_id: str, viewer: OrderViewer) -> OrderView:
    store.require_conference(conference_id)
    return view(_require(conference_id, order_id, viewer))


def list_orders(
    conference_id: str,
    viewer: OrderViewer,
    *,
    user_id: str | None,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> OrderPage:
    """Staff list everyone's (or one user's) orders; anyone else lists their own."""
    from boxoffice.pagination import decode_cursor, encode_cursor

    store.require_conference(conference_id)
    target = user_id if viewer.is_staff else viewer.user_id
    if target is not None:
        key = decode_cursor(cursor, {"GSI2PK": f"UORDERS#{conference_id}#{target}"}, attributes=4)
        found, last = records.list_user_orders(conference_id, target, limit=limit, cursor=key)
    else:
        key = decode_cursor(cursor, {"PK": f"ORDERS#{conference_id}"}, attributes=2)
        entries, last = records.list_entries(conference_id, limit=limit, cursor=key)
        by_id = records.get_many(conference_id, [e.order_id for e in entries])
        found = [by_id[e.order_id] for e in entries if e.order_id in by_id]
    items = [view(o) for o in found if status is None or o.status == status]
    return OrderPage(items=items, next=encode_cursor(last))


# --- checkout and payment ------------------------------------------------------------------------------------------


def checkout(conference_id: str, order_id: str, user_id: str, request: CheckoutRequest) -> CheckoutView:
    """A Checkout Session for the order's total; while it is open, a repeated call returns it."""
    from boxoffice import stripe_gateway

    conference = store.require_conference(conference_id)
    order = _require(conference_id, order_id, OrderViewer(user_id, is_staff=False))
    if order.status != records.PENDING:
        raise InvalidState(f"order is {order.status}; only a pending order checks out")
    if order.settling:
        raise InvalidState("the order's payment is still settling at the bank")
    if conference.stripe_secret_name is None:
        raise InvalidState("this conference has no Stripe account configured")
    now = store.now()
    if (
        order.checkout_url
        and order.checkout_session_id
        and order.checkout_expires_at
        and order.checkout_expires_at > now
    ):
        return CheckoutView(
            checkout_url=order.checkout_url,
            session_id=order.checkout_session_id,
            expires_at=order.checkout_expires_at,
        )
    if order.checkout_session_id:
        # The session this one replaces may have been paid, or its bank debit may be settling,
        # with its events still on the way: ask Stripe before offering a second charge.
        close_open_session(order)
        order = _require(conference_id, order_id, None)
    due = int(order.total) - int(order.amount_paid)
    metadata = {"order_id": order.order_id, "conference_id": conference_id, "reference": order.reference}
    # The session's expiry is planned once per session it replaces, and planned again only when it
    # has come too close for Stripe (30 minutes). The idempotency key hashes every parameter, so a
    # retried create sends Stripe exactly what the first one sent, and a changed order gets a new one.
    follows = order.checkout_session_id or "first"
    soonest = int((now + timedelta(minutes=31)).timestamp())
    if order.checkout_follows != follows or (order.checkout_planned_expiry or 0) < soonest:
        planned = int((now + timedelta(minutes=int(conference.checkout_expiry_minutes))).timestamp())
        seen = order.checkout_planned_expiry
        planned_now = store.update_if(
            order,
            [records.Order.checkout_follows.set(follows), records.Order.checkout_planned_expiry.set(planned)],
            (records.Order.status == records.PENDING)
            & (
                records.Order.checkout_planned_expiry.does_not_exist()
                if seen is None
                else records.Order.checkout_planned_expiry == seen
            ),
        )
        if not planned_now:
            order = _require(conference_id, order_id, None)
            if order.status != records.PENDING or order.checkout_follows != follows:
                raise InvalidState("the order changed while its checkout started; retry")
    params = session_params(
        record_id=order.order_id,
        metadata=metadata,
        currency=order.currency,
        unit_amount=due,
        quantity=1,
        name=f"{conference.name} order {order.reference}",
        request=request,
        expires_at=int(order.checkout_planned_expiry or 0),
    )
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:20]
    session = stripe_gateway.create_checkout_session(
        conference.stripe_secret_name, params, idempotency_key=f"order-{order.order_id}-checkout-{digest}"
    )
    expires_at = datetime.fromtimestamp(session["expires_at"], tz=now.tzinfo)
    stored = store.update_if(
        order,
        [
            records.Order.checkout_session_id.set(session["id"]),
            records.Order.checkout_url.set(session["url"]),
            records.Order.checkout_expires_at.set(expires_at),
        ],
        (records.Order.status == records.PENDING) & (records.Order.amount_paid == int(order.amount_paid)),
    )
    if not stored:
        # Cancelled while Stripe created the session: expire it, so a cancelled order cannot be paid.
        stripe_gateway.expire_checkout_session(
            conference.stripe_secret_name,
            session["id"],
            idempotency_key=f"order-{order.order_id}-expire-{session['id']}",
        )
        raise InvalidState("the order was cancelled or partly paid while its checkout started; retry")
    return CheckoutView(checkout_url=session["url"], session_id=session["id"], expires_at=expires_at)


def announce_paid(order: records.Order) -> bool:
    """``order.paid``, once: the flag is claimed with a conditional write before publishing. A bus
    that refuses puts the order back in the list the sweep reads; the caller's answer stands (the
    money moved). Returns whether it was published now."""
    actions, unannounced = records.claim_announcement()
    claimed = store.update_if(order, actions, unannounced)
    if not claimed:
        return False
    try:
        bus.publish_domain_event(
            "order.paid",
            {
                "conference_id": order.conference_id,
                "order_id": order.order_id,
                "reference": order.reference,
                "user_id": order.user_id,
                "total": int(order.total),
                "currency": order.currency,
            },
        )
    except Exception:
        logger.exception(
            "order.paid not published; the sweep will try again", extra={"order_id": order.order_id}
        )
        store.update_if(order, records.await_announcement(order), records.Order.PK.exists())
        return False
    return True


def announce_unannounced(conference_id: str) -> int:
    """The sweep: publish ``order.paid`` for paid orders whose first try the bus refused."""
    return sum(announce_paid(order) for order in records.unannounced(conference_id))


def _charge_of(conference_id: str, payment_intent_id: str | None) -> str | None:
    from boxoffice import stripe_gateway

    conference = store.get_conference(conference_id)
    if payment_intent_id is None or conference is None or conference.stripe_secret_name is None:
        return None
    intent = stripe_gateway.retrieve_payment_intent(conference.stripe_secret_name, payment_intent_id)
    charge = intent.get("latest_charge")
    return charge.get("id") if isinstance(charge, dict) else charge


def _status_from_amounts(total: int, paid: int, refunded: int) -> str:
    """The status a paid order's amounts give (docs/domain.md "The books" 1)."""
    if refunded > 0 and refunded >= total:
        return records.REFUNDED
    if refunded > 0:
        return records.PARTIALLY_REFUNDED
    return records.PAID if paid >= total else records.PENDING


def on_session_paid(conference_id: str, session: dict[str, Any]) -> None:
    """A paid session: one ``stripe`` payment, and the order paid (or the money flagged) — once.

    The order's own payment is the one that covers its balance while it is pending. Anything else
    (a second tab's payment, a payment after cancellation, a wrong amount) is recorded as money
    that is not the order's own: refundable to its card, flagged until someone acts, never counted
    in the order's amounts. Refunds Stripe made on this payment before its event arrived are taken
    in by the same transaction, so the order lands on the status its amounts give: a payment whose
    refund came first leaves a refunded order, never a paid one, and ``order.paid`` is not announced.
    """
    order_id = (session.get("metadata") or {}).get("order_id")
    if not isinstance(order_id, str):
        return
    if session.get("status") == "complete" and session.get("payment_status") == "unpaid":
        order = records.get(conference_id, order_id)
        if order is not None:
            _mark_settling(order, str(session.get("id")))
        return
    if session.get("payment_status") != "paid":
        return
    collected = Collected.from_session(session)
    payment_id = f"pay_{collected.payment_intent_id or session.get('id')}"
    charge_id: str | None = None
    for _ in range(TRANSACTION_ATTEMPTS):
        order = records.get(conference_id, order_id)
        if order is None:
            return
        if records.get_payment(conference_id, order.order_id, payment_id) is not None:
            if order.status == records.PAID:
                announce_paid(order)
            return
        if charge_id is None:
            charge_id = _charge_of(conference_id, collected.payment_intent_id)
        try:
            status = _record_session_payment(order, collected, payment_id, charge_id, session)
        except _PaymentRace:
            continue
        if status in (records.PAID, records.PARTIALLY_REFUNDED):
            order.status = status
            announce_paid(order)
        return
    raise InvalidState("the order changed while its payment was recorded; the event will be retried")


class _PaymentRace(Exception):
    """The order or one of its refunds moved while the payment was recorded: read again."""


def _record_session_payment(
    order: records.Order,
    collected: Collected,
    payment_id: str,
    charge_id: str | None,
    session: dict[str, Any],
) -> str | None:
    """One transaction: the payment, its intent's link, its early refunds, and the order's amounts.
    Returns the order's new status when the payment is its own, else None (flagged money)."""
    from boxoffice.store import refunds as refund_records

    conference_id = order.conference_id
    due = int(order.total) - int(order.amount_paid)
    problem = None
    if order.status != records.PENDING:
        problem = f"a payment of {money.format_amount(collected.amount, collected.currency)} arrived for a {order.status} order; refund it"
    elif (collected.amount, collected.currency) != (due, order.currency):
        problem = (
            f"Stripe collected {money.format_amount(collected.amount, collected.currency or order.currency)} "
            f"but {money.format_amount(due, order.currency)} was due; refund it"
        )
    own = problem is None
    intent = collected.payment_intent_id
    early = [
        r
        for r in refund_records.list_refunds(order.PK)
        if r.counts_against == refund_records.UNMATCHED
        and r.payment_intent_id == intent
        and r.status != refund_records.FAILED
    ]
    early_amount = sum(int(r.amount) for r in early)
    payment = records.Payment(
        *records.Payment.key(conference_id, order.order_id, payment_id),
        conference_id=conference_id,
        order_id=order.order_id,
        payment_id=payment_id,
        method="stripe",
        status="succeeded",
        amount=collected.amount,
        amount_refunded=early_amount,
        payment_intent_id=intent,
        charge_id=charge_id,
        own=None if own else False,
    )
    link = purchase_records.PaymentIntentLink(
        *purchase_records.PaymentIntentLink.key(conference_id, str(intent)),
        kind="order",
        record_id=order.order_id,
    )
    unmatched = int(order.unmatched_refunds)
    status = None
    try:
        with store.transaction() as tx:
            tx.save(payment, condition=records.Payment.PK.does_not_exist())
            if intent:
                tx.save(link, condition=purchase_records.PaymentIntentLink.PK.does_not_exist())
            for refund in early:
                tx.update(
                    refund,
                    actions=[
                        refund_records.Refund.against.set(
                            refund_records.OWNER if own else refund_records.EXTRA
                        )
                    ],
                    condition=refund_records.Refund.against == refund_records.UNMATCHED,
                )
            order_actions: list[Any] = [records.Order.unmatched_refunds.add(-early_amount)]
            guard = (
                records.Order.unmatched_refunds == unmatched
                if unmatched
                else (
                    records.Order.unmatched_refunds.does_not_exist() | (records.Order.unmatched_refunds == 0)
                )
            )
            if own:
                paid = int(order.amount_paid) + collected.amount
                refunded = int(order.amount_refunded) + early_amount
                status = _status_from_amounts(int(order.total), paid, refunded)
                order_actions += [
                    records.Order.amount_paid.add(collected.amount),
                    records.Order.amount_refunded.add(early_amount),
                    records.Order.refundable.add(collected.amount - early_amount),
                    records.Order.refundable_total.add(collected.amount - early_amount),
                    records.Order.settling.remove(),
                    *(
                        records.await_announcement(order)
                        if status in (records.PAID, records.PARTIALLY_REFUNDED)
                        else records.leave_pending_index()
                    ),
                ]
                store.transition_in(tx, order, status, records.MACHINE, order_actions, also=guard)
            else:
                # Appended to what staff were already told, guarded by the text read (never clobbered).
                told = order.attention
                text = (f"{told}; {problem}" if told else str(problem))[: store.MAX_ATTENTION]
                order_actions.append(records.Order.attention.set(text))
                same_text = (
                    records.Order.attention.does_not_exist()
                    if told is None
                    else records.Order.attention == told
                )
                tx.update(
                    order, actions=order_actions, condition=guard & same_text, add_version_condition=False
                )
    except pynamodb_errors.TransactWriteError as exc:
        if store.is_condition_failure(exc) or any(
            r is not None and r.code == "TransactionConflict" for r in exc.cancellation_reasons or []
        ):
            raise _PaymentRace from exc
        raise
    if not own:
        logger.warning("order payment needs staff", extra={"order_id": order.order_id, "problem": problem})
        return None
    if status == records.REFUNDED:
        logger.warning(
            "payment recorded after its refund; order.paid not announced",
            extra={"order_id": order.order_id, "session": session.get("id")},
        )
        fresh = records.get(order.conference_id, order.order_id)
        if fresh is not None:
            release_refunded_units(fresh)
    return status


def _mark_settling(order: records.Order, session_id: str) -> None:
    """A delayed payment (a bank debit) was submitted: the order is not cancelled while it settles."""
    if store.update_if(
        order, [records.Order.settling.set(session_id)], records.Order.status == records.PENDING
    ):
        logger.info("order payment settling", extra={"order_id": order.order_id, "session": session_id})


def on_payment_failed(conference_id: str, obj: dict[str, Any]) -> None:
    """``payment_intent.payment_failed`` / ``async_payment_failed``: a failed payment is recorded; the order stays pending."""
    order_id = (obj.get("metadata") or {}).get("order_id")
    order = records.get(conference_id, order_id) if isinstance(order_id, str) else None
    if order is None:
        return
    if obj.get("object") == "checkout.session" and order.settling == obj.get("id"):
        # The settling debit failed: the order may be cancelled again once its hold has ended.
        store.update_if(order, [records.Order.settling.remove()], records.Order.settling == order.settling)
    intent = obj.get("id") if obj.get("object") == "payment_intent" else obj.get("payment_intent")
    charge = obj.get("latest_charge") if obj.get("object") == "payment_intent" else None
    payment_id = f"pay_{intent}_{charge or 'failed'}_failed"
    payment = records.Payment(
        *records.Payment.key(conference_id, order.order_id, payment_id),
        conference_id=conference_id,
        order_id=order.order_id,
        payment_id=payment_id,
        method="stripe",
        status="failed",
        amount=int(obj.get("amount") or obj.get("amount_total") or 0),
        payment_intent_id=intent if isinstance(intent, str) else None,
        charge_id=charge if isinstance(charge, str) else None,
    )
    from pynamodb.exceptions import PutError

    try:
        payment.save(condition=records.Payment.PK.does_not_exist())
    except PutError as exc:
        if not store.is_condition_failure(exc):
            raise


# --- cancel and expire ------------------------------------------------------------------------------------------


def close_open_session(order: records.Order) -> None:
    """Expire the order's open Checkout Session before its balance changes or it is cancelled.

    A session that turns out to be paid records its payment instead, and InvalidState is raised:
    the order was paid, so whatever was about to happen must not.
    """
    from boxoffice import stripe_gateway

    conference = store.get_conference(order.conference_id)
    if not order.checkout_session_id or conference is None or not conference.stripe_secret_name:
        return
    session = stripe_gateway.expire_checkout_session(
        conference.stripe_secret_name,
        order.checkout_session_id,
        idempotency_key=f"order-{order.order_id}-expire-{order.checkout_session_id}",
    )
    if session.get("payment_status") == "paid":
        on_session_paid(order.conference_id, session)
        raise InvalidState("the order was paid at Stripe meanwhile")
    if session.get("status") == "complete" and _still_settling(conference.stripe_secret_name, session):
        _mark_settling(order, str(session["id"]))
        raise InvalidState("the order's payment is still settling at the bank")
    if order.checkout_expires_at is None or order.checkout_expires_at > store.now():
        store.update_if(
            order, [records.Order.checkout_expires_at.set(store.now())], records.Order.PK.exists()
        )


def _still_settling(secret_name: str, session: dict[str, Any]) -> bool:
    """A completed, unpaid session whose payment intent is still processing (a bank debit)."""
    from boxoffice import stripe_gateway

    intent = session.get("payment_intent")
    intent_id = intent.get("id") if isinstance(intent, dict) else intent
    if not isinstance(intent_id, str):
        return False
    return stripe_gateway.retrieve_payment_intent(secret_name, intent_id).get("status") == "processing"


def cancel(conference_id: str, order_id: str, viewer: OrderViewer | None) -> OrderView:
    """pending → cancelled: the Stripe session expired first; then, in one transaction, the voucher's
    use given back (never below 0) and every credit payment returned to its credit.
    """
    store.require_conference(conference_id)
    order = _require(conference_id, order_id, viewer)
    if order.status != records.PENDING:
        raise InvalidState(f"order is {order.status}; only a pending order is cancelled")
    if order.settling:
        raise InvalidState("the order's payment is still settling at the bank")
    close_open_session(order)
    _cancel_record(order)
    return view(records.get(conference_id, order_id) or order)


def _cancel_record(order: records.Order) -> None:
    from boxoffice import credits

    units = records.voucher_units(order)
    with_voucher = units > 0
    for attempt in range(TRANSACTION_ATTEMPTS):
        returns = credits.credit_returns(order)
        returned = sum(int(payment.amount) for payment, _, _ in returns)
        block = _block_of(order)
        try:
            with store.transaction() as tx:
                store.transition_in(
                    tx, order, records.CANCELLED, records.MACHINE,
                    [
                        *records.leave_pending_index(),
                        records.Order.amount_paid.add(-returned),
                        records.Order.refundable_total.add(-returned),
                    ],
                    also=records.Order.settling.does_not_exist(),
                )  # fmt: skip
                if with_voucher:
                    voucher = voucher_store.Voucher(
                        *voucher_store.Voucher.key(order.conference_id, str(order.voucher_code))
                    )
                    tx.update(
                        voucher,
                        actions=[voucher_store.Voucher.times_used.add(-units)],
                        condition=voucher_store.Voucher.times_used >= units,
                        add_version_condition=False,
                    )
                credits.add_credit_returns(tx, returns)
                records.release_in(tx, order, block)
            return
        except pynamodb_errors.TransactWriteError as exc:
            reasons = exc.cancellation_reasons or []
            failed = {
                i for i, r in enumerate(reasons) if r is not None and r.code == "ConditionalCheckFailed"
            }
            fresh = records.get(order.conference_id, order.order_id)
            if fresh is None or fresh.status != records.PENDING:
                raise InvalidState("the order is no longer pending") from exc
            if fresh.settling:
                raise InvalidState("the order's payment is still settling at the bank") from exc
            if fresh.checkout_session_id != order.checkout_session_id:
                close_open_session(fresh)  # a checkout landed meanwhile: its session goes first
            if with_voucher and 1 in failed:
                with_voucher = False  # fewer uses recorded than it took: never below 0
            if attempt + 1 == TRANSACTION_ATTEMPTS:
                raise
            store.back_off(attempt)
            order = fresh  # the order or a credit moved meanwhile: decide again on fresh reads


def _block_of(order: records.Order) -> purchase_records.BulkPurchase | None:
    """The sponsor purchase whose block the order drew from, read now (None when it drew none)."""
    if not order.block_purchase_id or not any((order.block_draws or {}).values()):
        return None
    return purchase_records.get(order.conference_id, order.block_purchase_id)


def holds_units(order: records.Order) -> bool:
    """Whether the order holds capacity units (on counters or drawn from a sponsor block)."""
    return bool(order.held_units) or bool(order.block_units)


def release_refunded_units(order: records.Order) -> bool:
    """A fully refunded order gives its units back, once: ``units_released`` is set in the same
    transaction, guarded on the order being refunded and not released yet. Its block draw goes
    to the counters (its code's use is not given back). True when this call released them."""
    for attempt in range(TRANSACTION_ATTEMPTS):
        if order.status != records.REFUNDED or order.units_released or not holds_units(order):
            return False
        try:
            with store.transaction() as tx:
                tx.update(
                    order,
                    actions=[records.Order.units_released.set(True)],
                    condition=(records.Order.status == records.REFUNDED)
                    & records.Order.units_released.does_not_exist(),
                    add_version_condition=False,
                )
                records.release_in(tx, order, None, to_block=False)
            break
        except pynamodb_errors.TransactWriteError as exc:
            if store.is_condition_failure(exc):
                return False
            if attempt + 1 == TRANSACTION_ATTEMPTS:
                raise
            store.back_off(attempt)  # a conflict on a busy counter: the flag still decides who releases
            order = records.get(order.conference_id, order.order_id) or order
    order.units_released = True
    logger.info("refunded order released its units", extra={"order_id": order.order_id})
    return True


def retake_units(order: records.Order) -> bool:
    """A refunded order paid again (its full refund failed at the bank) takes back the units it
    released, once: ``units_released`` is removed in the same transaction, guarded on the order
    being paid and released. The attendee paid, so this is never refused: the counters keep saying
    what the orders hold, and an overrun (the freed seats were sold meanwhile) is flagged for staff.
    True when this call took them."""
    units = {k: int(v) for k, v in (order.held_units or {}).items()}
    for scope, n in (order.block_units or {}).items():  # the draw went back to the counters
        units[scope] = units.get(scope, 0) + int(n)
    for attempt in range(TRANSACTION_ATTEMPTS):
        if order.status not in (records.PAID, records.PARTIALLY_REFUNDED) or not order.units_released:
            return False
        try:
            with store.transaction() as tx:
                tx.update(
                    order,
                    actions=[records.Order.units_released.remove()],
                    condition=records.Order.status.is_in(records.PAID, records.PARTIALLY_REFUNDED)
                    & records.Order.units_released.exists(),
                    add_version_condition=False,
                )
                counters.take_unguarded_in(tx, order.conference_id, units)
            break
        except pynamodb_errors.TransactWriteError as exc:
            if store.is_condition_failure(exc):
                return False
            if attempt + 1 == TRANSACTION_ATTEMPTS:
                raise
            store.back_off(attempt)
            order = records.get(order.conference_id, order.order_id) or order
    order.units_released = None
    over = [
        counter.scope
        for counter in counters.get_many(order.conference_id, units).values()
        if counter.capacity is not None and int(counter.free) < 0
    ]
    if over:
        store.add_attention(
            order,
            f"paid again after its refund failed; {', '.join(sorted(over))} over capacity: "
            "its seats were sold meanwhile",
        )
    logger.info("order paid again took back its units", extra={"order_id": order.order_id, "over": over})
    return True


def sweep_expired_holds(conference_id: str) -> int:
    """Cancel every pending order whose hold has ended. Returns how many were cancelled."""
    cancelled = 0
    for order in records.pending_past_hold(conference_id, store.now()):
        try:
            cancel(conference_id, order.order_id, None)
            cancelled += 1
        except InvalidState:
            continue
    return cancelled
