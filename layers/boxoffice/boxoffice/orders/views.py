"""What an order looks like to its callers: the request shapes, the views, who may see it, and the reads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

from pydantic import ConfigDict, Field, model_validator

from boxoffice import lazy, store
from boxoffice.errors import NotFound
from boxoffice.patterns import ENTRY_ID_PATTERN
from boxoffice.shapes import Shape

if TYPE_CHECKING:
    from boxoffice.store import orders as records
else:
    records = lazy.module("boxoffice.store.orders")


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
        amount=payment.amount,
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
        subtotal=order.subtotal,
        discount_amount=order.discount_amount,
        total=order.total,
        amount_paid=order.amount_paid,
        amount_refunded=order.amount_refunded,
        voucher_code=order.voucher_code,
        hold_expires_at=order.hold_expires_at,
        payments=[payment_view(p) for p in sorted(payments, key=lambda p: p.created_at)],
        attention=order.attention,
        created_at=order.created_at,
        updated_at=order.updated_at,
    )


def require(conference_id: str, order_id: str, viewer: OrderViewer | None) -> records.Order:
    """The order, read now; NotFound when it does not exist or ``viewer`` may not see it."""
    order = records.get(conference_id, order_id)
    if order is None or (viewer is not None and not viewer.may_see(order)):
        raise NotFound(f"order {order_id} not found")
    return order


def get(conference_id: str, order_id: str, viewer: OrderViewer) -> OrderView:
    store.require_conference(conference_id)
    return view(require(conference_id, order_id, viewer))


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
