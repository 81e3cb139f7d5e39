"""What a bulk purchase looks like to its callers: its errors, the request and view shapes, who
may see it (staff everything, a sponsor only its own: others are 404), and the reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AwareDatetime, ConfigDict, Field, model_validator

from boxoffice import lazy, money, store
from boxoffice.errors import BoxofficeError, NotFound
from boxoffice.patterns import ENTRY_ID_PATTERN
from boxoffice.shapes import Shape

if TYPE_CHECKING:
    from boxoffice.store import bulk_purchases as records
else:
    records = lazy.module("boxoffice.store.bulk_purchases")

MAX_DESCRIPTION = 200


# --- errors --------------------------------------------------------------------------------------


class BulkPurchaseError(BoxofficeError):
    """Base of the bulk purchase service's errors (the original service's family)."""


class InvalidPurchaseState(BulkPurchaseError):
    """The purchase's state forbids the action."""

    status, code = 409, "invalid_state"


class InvalidPurchase(BulkPurchaseError):
    """The request breaks a rule of bulk purchases; ``details`` says which field."""

    status, code = 422, "validation_error"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(
            message, details=[{"loc": ["body", *field.split(".")], "msg": message, "type": "value_error"}]
        )


class FulfillmentBusy(InvalidPurchaseState):
    """Another trigger holds the fulfillment lease; it will finish, or its lease will end."""


# --- shapes ----------------------------------------------------------------------------------------


class _Input(Shape):
    model_config = ConfigDict(extra="forbid", strict=True)


class VoucherConfig(_Input):
    """What every code of the purchase grants. Complete at creation, never discovered later."""

    voucher_type: Literal["comp", "percentage", "fixed_amount"]
    discount_value: Annotated[int, Field(ge=0, le=money.MAX_AMOUNT)] = 0
    max_uses: Annotated[int, Field(ge=1, le=10_000)]
    valid_from: Annotated[AwareDatetime, Field(strict=False)] | None = None
    valid_until: Annotated[AwareDatetime, Field(strict=False)] | None = None
    prefix: Annotated[str, Field(pattern=r"^[A-Z0-9-]{0,20}$")] | None = None
    unlocks_hidden_tickets: bool = False

    @model_validator(mode="after")
    def _rules(self) -> VoucherConfig:
        if self.voucher_type == "comp":
            self.discount_value = 0
        elif self.voucher_type == "percentage" and not 1 <= self.discount_value <= 100:
            raise ValueError("discount_value must be 1-100 for a percentage voucher")
        elif self.voucher_type == "fixed_amount" and self.discount_value <= 0:
            raise ValueError("discount_value must be > 0 minor units for a fixed_amount voucher")
        for name in ("valid_from", "valid_until"):
            value = getattr(self, name)
            if value is None:
                continue
            try:
                # The codes store it in UTC: a time valid only in its own offset (year 0 or 10000
                # once in UTC) is refused here, never discovered when the paid codes are written.
                value.astimezone(UTC)
            except OverflowError:
                raise ValueError(f"{name} is out of range once in UTC") from None
        if self.valid_from and self.valid_until and not self.valid_from < self.valid_until:
            raise ValueError("valid_from must be before valid_until")
        return self


EntryId = Annotated[str, Field(pattern=ENTRY_ID_PATTERN)]
"""A catalog or sponsor id: also bounds what reaches a DynamoDB key."""


class BulkPurchaseRequest(_Input):
    """Staff send every field but the optional ones; a sponsor sends only an item and a quantity."""

    quantity: Annotated[int, Field(ge=1, le=10_000)]
    sponsor_id: EntryId | None = None
    ticket_type_id: EntryId | None = None
    addon_id: EntryId | None = None
    unit_price: Annotated[int, Field(ge=0, le=money.MAX_AMOUNT)] | None = None
    description: Annotated[str, Field(max_length=MAX_DESCRIPTION)] | None = None
    voucher_config: VoucherConfig | None = None


class BulkPurchaseView(Shape):
    id: str
    conference_id: str
    sponsor_id: str | None
    quantity: int
    ticket_type_id: str | None
    addon_id: str | None
    unit_price: int
    total_amount: int
    amount_refunded: int
    currency: str
    description: str
    status: str
    voucher_config: dict[str, Any]
    checkout_session_id: str | None
    checkout_url: str | None
    payment_intent_id: str | None
    vouchers_generated: int
    attention: str | None
    requested_by: str
    approved_by: str | None
    created_at: datetime
    updated_at: datetime


class BulkPurchasePage(Shape):
    items: list[BulkPurchaseView]
    next: str | None


class FulfillView(Shape):
    vouchers_created: int
    bulk_purchase: BulkPurchaseView


@dataclass(frozen=True)
class Viewer:
    """Who asks: staff see everything; a sponsor only its own purchases (others are 404)."""

    user_id: str
    is_staff: bool
    sponsor_ids: frozenset[str]

    def may_see(self, purchase: records.BulkPurchase) -> bool:
        return self.is_staff or (purchase.sponsor_id is not None and purchase.sponsor_id in self.sponsor_ids)


def view(purchase: records.BulkPurchase, details: records.PurchaseDetails | None = None) -> BulkPurchaseView:
    return BulkPurchaseView(
        id=purchase.purchase_id,
        conference_id=purchase.conference_id,
        sponsor_id=purchase.sponsor_id,
        quantity=purchase.quantity,
        ticket_type_id=purchase.ticket_type_id,
        addon_id=purchase.addon_id,
        unit_price=purchase.unit_price,
        total_amount=purchase.total_amount,
        amount_refunded=purchase.amount_refunded,
        currency=purchase.currency,
        description=details.description if details else "",
        status=purchase.status,
        voucher_config=purchase.voucher_config,
        checkout_session_id=purchase.checkout_session_id,
        checkout_url=details.checkout_url if details else None,
        payment_intent_id=purchase.payment_intent_id,
        vouchers_generated=purchase.vouchers_generated,
        attention=purchase.attention,
        requested_by=purchase.requested_by,
        approved_by=purchase.approved_by,
        created_at=purchase.created_at,
        updated_at=purchase.updated_at,
    )


def require(conference_id: str, purchase_id: str, viewer: Viewer | None = None) -> records.BulkPurchase:
    purchase = records.get(conference_id, purchase_id)
    if purchase is None or (viewer is not None and not viewer.may_see(purchase)):
        raise NotFound(f"bulk purchase {purchase_id} not found")
    return purchase


def require_with_details(
    conference_id: str, purchase_id: str, viewer: Viewer | None = None
) -> tuple[records.BulkPurchase, records.PurchaseDetails]:
    found = records.get_with_details(conference_id, purchase_id)
    if found is None or (viewer is not None and not viewer.may_see(found[0])):
        raise NotFound(f"bulk purchase {purchase_id} not found")
    return found


def get(conference_id: str, purchase_id: str, viewer: Viewer) -> BulkPurchaseView:
    store.require_conference(conference_id)
    return view(*require_with_details(conference_id, purchase_id, viewer))


def list_purchases(
    conference_id: str,
    viewer: Viewer,
    *,
    status: str | None,
    sponsor_id: str | None,
    limit: int,
    cursor: str | None,
) -> BulkPurchasePage:
    """Newest last. A sponsor sees its own; staff all, or one sponsor's with ``sponsor_id``."""
    from boxoffice.pagination import decode_cursor, encode_cursor

    store.require_conference(conference_id)
    if not viewer.is_staff:
        if sponsor_id is not None and sponsor_id not in viewer.sponsor_ids:
            return BulkPurchasePage(items=[], next=None)
        if sponsor_id is None:
            if len(viewer.sponsor_ids) != 1:
                return BulkPurchasePage(items=[], next=None)
            (sponsor_id,) = viewer.sponsor_ids
    prefix = f"{sponsor_id}#" if sponsor_id else None  # the query's begins_with, which DynamoDB checks
    key = decode_cursor(cursor, {"PK": f"BPS#{conference_id}"}, attributes=2, sort_prefix=prefix)
    entries, last = records.list_entries(conference_id, sponsor_id, limit=limit, cursor=key)
    ids = [e.purchase_id for e in entries]
    found, details = records.get_many(conference_id, ids), records.details_of_many(conference_id, ids)
    items = [view(found[i], details.get(i)) for i in ids if i in found]
    if status is not None:
        items = [i for i in items if i.status == status]
    return BulkPurchasePage(items=items, next=encode_cursor(last))
