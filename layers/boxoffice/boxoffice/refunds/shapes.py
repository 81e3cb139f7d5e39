"""What the refund routes take and return: staff's refund requests, and the views of a refund and
of the store credit a refund issued."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import ConfigDict, Field

from boxoffice import lazy, money
from boxoffice.shapes import Shape

if TYPE_CHECKING:
    from boxoffice.store import credits as credit_records
    from boxoffice.store import refunds as records
else:
    credit_records = lazy.module("boxoffice.store.credits")
    records = lazy.module("boxoffice.store.refunds")

Reason = Literal["requested_by_customer", "duplicate", "fraudulent"]


class _Input(Shape):
    model_config = ConfigDict(extra="forbid", strict=True)


class BulkRefundRequest(_Input):
    amount: Annotated[int, Field(ge=1, le=money.MAX_AMOUNT)] | None = None
    reason: Reason


class OrderRefundRequest(_Input):
    amount: Annotated[int, Field(ge=1, le=money.MAX_AMOUNT)]
    reason: Reason
    destination: Literal["card", "store_credit"]
    note: Annotated[str, Field(max_length=500)] | None = None
    payment_id: Annotated[str, Field(pattern=r"^pay_[A-Za-z0-9_]{1,200}$")] | None = Field(
        default=None,
        description=(
            "The `id` of one of the order's `payments` that is not its own (`own: false`: a second "
            "payment, a payment after cancellation). That payment alone is refunded, to its card "
            "(`destination` must be `card`), whatever the order's status, for at most what it has left; "
            "the order's own amounts and status do not move. Omit it to refund the order's own payments "
            "(naming an own payment is a 422)."
        ),
    )


class CreditView(Shape):
    id: str
    user_id: str
    conference_id: str
    amount: int
    remaining_amount: int
    currency: str
    status: str
    source_order_id: str | None
    applications: list[dict[str, Any]]
    expires_at: datetime | None
    note: str
    created_at: datetime


class RefundView(Shape):
    id: str
    order_id: str | None
    bulk_purchase_id: str | None
    amount: int
    currency: str
    reason: str
    note: str
    destination: str
    status: str
    source: str
    stripe_refund_ids: list[str]
    credit: CreditView | None
    created_by: str | None
    failure_reason: str | None
    created_at: datetime


def credit_view(credit: credit_records.Credit) -> CreditView:
    return CreditView(
        id=credit.credit_id,
        user_id=credit.user_id,
        conference_id=credit.conference_id,
        amount=credit.amount,
        remaining_amount=credit.remaining_amount,
        currency=credit.currency,
        status=credit.status,
        source_order_id=credit.source_order_id,
        applications=[
            {"order_id": a.order_id, "amount": a.amount, "at": a.at.isoformat()}
            for a in credit.applications or []
        ],
        expires_at=credit.expires_at,
        note=credit.note,
        created_at=credit.created_at,
    )


def view(refund: records.Refund) -> RefundView:
    credit = credit_records.get(refund.conference_id, refund.credit_id) if refund.credit_id else None
    return RefundView(
        id=refund.refund_id,
        order_id=refund.order_id,
        bulk_purchase_id=refund.bulk_purchase_id,
        amount=refund.amount,
        currency=refund.currency,
        reason=refund.reason,
        note=refund.note,
        destination=refund.destination,
        status=refund.status,
        source=refund.source,
        stripe_refund_ids=list(refund.stripe_refund_ids or []),
        credit=credit_view(credit) if credit else None,
        created_by=refund.created_by,
        failure_reason=refund.failure_reason,
        created_at=refund.created_at,
    )
