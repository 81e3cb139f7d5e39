"""Sponsor bulk voucher purchases: create, approve, checkout, fulfil, fail and refund.

A purchase lives ``pending`` → (``approved`` for comp deals | ``processing`` through Stripe
Checkout) → ``paid`` with exactly ``quantity`` codes → possibly ``refunded``; or ``failed``. Every
move is a guarded conditional write, so duplicate, late and concurrent triggers are harmless. The
original system's defects (docs/domain.md, by number) are fixed here:

- the webhook finds a purchase by the metadata id, a primary-key read, never by session id (3, 14);
- a sponsor-less purchase checks out with no ``"None"`` in the metadata (4);
- the voucher config is complete and validated at creation (5);
- a fulfillment error after payment stays retryable and never marks the purchase failed (6);
- async payments complete or fail (2); refunds reach the purchase (1);
- a retried fulfillment resumes and writes only the missing codes, never the full quantity (15).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AwareDatetime, ConfigDict, Field, model_validator

from boxoffice import bus, lazy, money, owners, store, voucher_codes
from boxoffice.checkout_sessions import CheckoutRequest, CheckoutView, Collected, session_params
from boxoffice.errors import BoxofficeError, NotFound, PaymentProviderError, Unavailable
from boxoffice.observability import logger
from boxoffice.patterns import ENTRY_ID_PATTERN
from boxoffice.shapes import Shape

if TYPE_CHECKING:
    from pynamodb import exceptions as pynamodb_errors

    from boxoffice.store import bulk_purchases as records
    from boxoffice.store import capacity as counters
    from boxoffice.store import vouchers as voucher_store
else:
    pynamodb_errors = lazy.module("pynamodb.exceptions")
    records = lazy.module("boxoffice.store.bulk_purchases")
    counters = lazy.module("boxoffice.store.capacity")
    voucher_store = lazy.module("boxoffice.store.vouchers")

FULFILLMENT_LEASE = timedelta(minutes=3)
"""Longer than a 10,000-code fulfillment takes, shorter than Lambda's first async retry."""
MAX_DESCRIPTION = 200
SEGMENT_DRAWS = 8
BLOCK_HELD, BLOCK_RELEASED = "held", "released"
BLOCK_ATTEMPTS = 6


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
        quantity=int(purchase.quantity),
        ticket_type_id=purchase.ticket_type_id,
        addon_id=purchase.addon_id,
        unit_price=int(purchase.unit_price),
        total_amount=int(purchase.total_amount),
        amount_refunded=int(purchase.amount_refunded),
        currency=purchase.currency,
        description=details.description if details else "",
        status=purchase.status,
        voucher_config=purchase.voucher_config,
        checkout_session_id=purchase.checkout_session_id,
        checkout_url=details.checkout_url if details else None,
        payment_intent_id=purchase.payment_intent_id,
        vouchers_generated=int(purchase.vouchers_generated),
        attention=purchase.attention,
        requested_by=purchase.requested_by,
        approved_by=purchase.approved_by,
        created_at=purchase.created_at,
        updated_at=purchase.updated_at,
    )


# --- create, read, approve -------------------------------------------------------------------------------


def _bulk_item(conference_id: str, ticket_type_id: str | None, addon_id: str | None) -> int:
    """Catalog price of the bulk-enabled items; another conference's item does not exist here."""
    if ticket_type_id is not None:
        ticket = store.get_ticket_type(conference_id, ticket_type_id)
        if ticket is None:
            raise InvalidPurchase("ticket_type_id", f"ticket type {ticket_type_id} not found")
        if not ticket.bulk_enabled:
            raise InvalidPurchase("ticket_type_id", f"ticket type {ticket_type_id} is not sold in bulk")
        price = int(ticket.price)
    else:
        price = 0
    if addon_id is not None:
        addon = store.get_addon(conference_id, addon_id)
        if addon is None:
            raise InvalidPurchase("addon_id", f"add-on {addon_id} not found")
        if not addon.bulk_enabled:
            raise InvalidPurchase("addon_id", f"add-on {addon_id} is not sold in bulk")
        price += int(addon.price)
    return price


def create(
    conference_id: str, request: BulkPurchaseRequest, *, requested_by: str, as_sponsor: str | None
) -> BulkPurchaseView:
    """Create a pending purchase. ``as_sponsor`` is the sponsor id of a self-serve request, else None (staff)."""
    conference = store.require_conference(conference_id)
    if request.quantity > int(conference.max_bulk_quantity):
        raise InvalidPurchase("quantity", f"quantity must be at most {int(conference.max_bulk_quantity)}")
    if as_sponsor is not None:
        extra = [
            f
            for f in ("sponsor_id", "unit_price", "description", "voucher_config")
            if getattr(request, f) is not None
        ]
        if extra:
            raise InvalidPurchase(extra[0], "sponsors send only ticket_type_id or addon_id, and quantity")
        if (request.ticket_type_id is None) == (request.addon_id is None):
            raise InvalidPurchase("ticket_type_id", "send exactly one of ticket_type_id and addon_id")
        sponsor_id: str | None = as_sponsor
        unit_price = _bulk_item(conference_id, request.ticket_type_id, request.addon_id)
        config = VoucherConfig(voucher_type="comp", max_uses=1)
        description = ""
    else:
        if request.unit_price is None:
            raise InvalidPurchase("unit_price", "unit_price is required")
        if request.voucher_config is None:
            raise InvalidPurchase("voucher_config", "voucher_config is required")
        _bulk_item(conference_id, request.ticket_type_id, request.addon_id)
        sponsor_id, unit_price, config = request.sponsor_id, request.unit_price, request.voucher_config
        description = request.description or ""
    sponsor_slug = None
    if sponsor_id is not None:
        sponsor = store.get_sponsor(conference_id, sponsor_id)
        if sponsor is None or not sponsor.is_active:
            raise InvalidPurchase("sponsor_id", f"sponsor {sponsor_id} not found or inactive")
        sponsor_slug = sponsor.slug
    money.require_on_grid(unit_price, conference.currency, ["body", "unit_price"])
    if config.voucher_type == "fixed_amount":
        money.require_on_grid(
            config.discount_value, conference.currency, ["body", "voucher_config", "discount_value"]
        )
    total = unit_price * request.quantity
    if total > money.MAX_AMOUNT:
        raise InvalidPurchase("quantity", "the total is more than Stripe can charge at once")
    at = store.now()
    for _ in range(SEGMENT_DRAWS):
        purchase = records.BulkPurchase(
            *records.BulkPurchase.key(conference_id, purchase_id := f"bp_{secrets.token_hex(8)}"),
            conference_id=conference_id,
            purchase_id=purchase_id,
            sponsor_id=sponsor_id,
            quantity=request.quantity,
            ticket_type_id=request.ticket_type_id,
            addon_id=request.addon_id,
            unit_price=unit_price,
            total_amount=total,
            currency=conference.currency,
            status=records.PENDING,
            voucher_config=config.model_dump(mode="json", exclude_none=True),
            code_prefix=config.prefix
            if config.prefix is not None
            else voucher_codes.default_prefix(sponsor_slug),
            code_segment=voucher_codes.new_segment(),
            code_key=voucher_codes.new_key(),
            requested_by=requested_by,
            created_at=at,
            updated_at=at,
        )
        details = records.PurchaseDetails(
            *records.PurchaseDetails.key(conference_id, purchase_id), description=description
        )
        try:
            records.create(purchase, details)
        except records.SegmentTaken:
            continue
        return view(purchase, details)
    raise Unavailable("could not reserve a code segment; retry")


def _require(conference_id: str, purchase_id: str, viewer: Viewer | None = None) -> records.BulkPurchase:
    purchase = records.get(conference_id, purchase_id)
    if purchase is None or (viewer is not None and not viewer.may_see(purchase)):
        raise NotFound(f"bulk purchase {purchase_id} not found")
    return purchase


def _require_with_details(
    conference_id: str, purchase_id: str, viewer: Viewer | None = None
) -> tuple[records.BulkPurchase, records.PurchaseDetails]:
    found = records.get_with_details(conference_id, purchase_id)
    if found is None or (viewer is not None and not viewer.may_see(found[0])):
        raise NotFound(f"bulk purchase {purchase_id} not found")
    return found


def get(conference_id: str, purchase_id: str, viewer: Viewer) -> BulkPurchaseView:
    store.require_conference(conference_id)
    return view(*_require_with_details(conference_id, purchase_id, viewer))


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


# --- the sponsor block (docs/domain.md "Capacity") -------------------------------------------------------------


def block_units(purchase: records.BulkPurchase) -> dict[str, int]:
    """What the purchase's block holds: ``quantity`` on each limited scope of its items (the ticket
    type's and the venue's, the add-on's). Empty when none is limited: then nothing is held."""
    conference_id, quantity = purchase.conference_id, int(purchase.quantity)
    units: dict[str, int] = {}
    if purchase.ticket_type_id is not None:
        ticket = store.get_ticket_type(conference_id, purchase.ticket_type_id)
        if ticket is not None and ticket.counted:
            units[counters.ticket_scope(purchase.ticket_type_id)] = quantity
        conference = store.get_conference(conference_id)
        if conference is not None and conference.venue_counted:
            units[counters.VENUE] = quantity
    if purchase.addon_id is not None:
        addon = store.get_addon(conference_id, purchase.addon_id)
        if addon is not None and addon.counted:
            units[counters.addon_scope(purchase.addon_id)] = quantity
    return units


def _hold_actions(purchase: records.BulkPurchase, units: dict[str, int]) -> list[Any]:
    if not units:
        return []
    quantity = int(purchase.quantity)
    return [
        records.BulkPurchase.block.set(units),
        records.BulkPurchase.block_state.set(BLOCK_HELD),
        records.BulkPurchase.block_left_ticket.set(quantity if purchase.ticket_type_id else 0),
        records.BulkPurchase.block_left_addon.set(quantity if purchase.addon_id else 0),
    ]


def _no_block_held() -> Any:
    return records.BulkPurchase.block_state.does_not_exist() | (
        records.BulkPurchase.block_state == BLOCK_RELEASED
    )


def _move_holding_block(
    purchase: records.BulkPurchase, to_state: str, actions: list[Any]
) -> records.BulkPurchase:
    """Move the purchase to ``to_state`` and hold its block, in one transaction.

    The block's units are taken from the counters guarded by what is free: a purchase that does not
    fit is refused with ``sold_out`` and nothing changes (no money has moved: this runs before
    Stripe is called). Raises TransitionRejected (with the current record) when the purchase moved.
    """
    for attempt in range(BLOCK_ATTEMPTS):
        units = block_units(purchase)
        if not units:
            return store.transition(purchase, to_state, records.MACHINE, actions)
        scopes: list[str] = []
        try:
            with store.transaction() as tx:
                store.transition_in(
                    tx, purchase, to_state, records.MACHINE, [*actions, *_hold_actions(purchase, units)],
                    attr="status", also=_no_block_held(),
                )  # fmt: skip
                scopes = counters.take_in(tx, purchase.conference_id, units)
        except pynamodb_errors.TransactWriteError as exc:
            reasons = exc.cancellation_reasons or []
            short = counters.sold_out(exc, 1, scopes, units) if reasons else None
            if short is not None:
                raise short from exc
            if reasons and reasons[0] is not None and reasons[0].code == "ConditionalCheckFailed":
                current = records.get(purchase.conference_id, purchase.purchase_id)
                raise store.TransitionRejected(
                    f"bulk purchase is {current.status if current else 'gone'}; cannot move to {to_state}",
                    current=current,
                ) from exc
            if attempt + 1 == BLOCK_ATTEMPTS or not reasons:
                raise
            continue  # a conflict on a busy counter
        fresh = records.get(purchase.conference_id, purchase.purchase_id)
        assert fresh is not None
        logger.info("sponsor block held", extra={"bulk_purchase_id": purchase.purchase_id, "units": units})
        return fresh
    raise AssertionError("unreachable")


def _block_release(purchase: records.BulkPurchase) -> dict[str, int]:
    """What releasing the block now gives back per scope: the units orders have not drawn."""
    left = {"ticket": int(purchase.block_left_ticket or 0), "addon": int(purchase.block_left_addon or 0)}
    return {
        scope: left["addon" if scope.startswith("addon#") else "ticket"] for scope in (purchase.block or {})
    }


def _release_block_in(tx: Any, purchase: records.BulkPurchase) -> None:
    """Add the block's release to ``tx``: its undrawn units back to the counters. The caller's guarded
    write on the purchase (``block_state`` held → released, drawn counts as read) makes it once."""
    counters.give_back_in(tx, purchase.conference_id, _block_release(purchase))


def _block_guard(purchase: records.BulkPurchase) -> Any:
    """The block is held, and no order drew from it or gave back since it was read."""
    return (
        (records.BulkPurchase.block_state == BLOCK_HELD)
        & (records.BulkPurchase.block_left_ticket == int(purchase.block_left_ticket or 0))
        & (records.BulkPurchase.block_left_addon == int(purchase.block_left_addon or 0))
    )


def _move_releasing_block(purchase: records.BulkPurchase, to_state: str) -> records.BulkPurchase:
    """Move the purchase to ``to_state`` (failed, or back to pending) and release its block, at once."""
    if purchase.block_state != BLOCK_HELD:
        return store.transition(purchase, to_state, records.MACHINE)
    with store.transaction() as tx:
        store.transition_in(
            tx, purchase, to_state, records.MACHINE,
            [records.BulkPurchase.block_state.set(BLOCK_RELEASED)], also=_block_guard(purchase),
        )  # fmt: skip
        _release_block_in(tx, purchase)
    logger.info("sponsor block released", extra={"bulk_purchase_id": purchase.purchase_id, "to": to_state})
    return purchase


def release_unredeemed(purchase: records.BulkPurchase) -> bool:
    """A fully refunded purchase (its codes off) gives back the block units no order drew, once."""
    for attempt in range(BLOCK_ATTEMPTS):
        if purchase.status != records.REFUNDED or purchase.block_state != BLOCK_HELD:
            return False
        try:
            with store.transaction() as tx:
                tx.update(
                    purchase,
                    actions=[records.BulkPurchase.block_state.set(BLOCK_RELEASED)],
                    condition=_block_guard(purchase) & (records.BulkPurchase.status == records.REFUNDED),
                    add_version_condition=False,
                )
                _release_block_in(tx, purchase)
            logger.info(
                "refunded block released its unredeemed units",
                extra={"bulk_purchase_id": purchase.purchase_id, "units": _block_release(purchase)},
            )
            return True
        except pynamodb_errors.TransactWriteError:
            if attempt + 1 == BLOCK_ATTEMPTS:
                raise
            fresh = records.get(purchase.conference_id, purchase.purchase_id)
            if fresh is None:
                return False
            purchase = fresh  # an order drew or gave back meanwhile, or a conflict: read again
    return False


def _rehold_after_failure(purchase: records.BulkPurchase, status: str | None = None) -> None:
    """The block comes back when the purchase does: a failed purchase that turns out paid (payment
    evidence beats failure), or a full refund that failed at the bank (``status`` paid again).

    It takes back what it gave back (the undrawn units, still recorded on the purchase). The money
    was taken and the codes must work, so the units are taken even past capacity; an overrun is
    flagged for staff rather than refusing codes someone paid for. ``status`` defaults to failed.
    """
    status = status or records.FAILED
    if purchase.status != status or purchase.block_state != BLOCK_RELEASED or not purchase.block:
        return
    units = _block_release(purchase)
    try:
        with store.transaction() as tx:
            tx.update(
                purchase,
                actions=[records.BulkPurchase.block_state.set(BLOCK_HELD)],
                condition=(records.BulkPurchase.status == status)
                & (records.BulkPurchase.block_state == BLOCK_RELEASED),
                add_version_condition=False,
            )
            counters.take_unguarded_in(tx, purchase.conference_id, units)
    except pynamodb_errors.TransactWriteError as exc:
        if not store.is_condition_failure(exc):
            raise
        return
    purchase.block_state = BLOCK_HELD
    over = [
        s
        for s, c in counters.get_many(purchase.conference_id, units).items()
        if c.capacity is not None and int(c.held) > int(c.capacity)
    ]
    if over:
        reason = f"its sponsor block came back with its payment and put {', '.join(over)} over capacity"
        store.add_attention(purchase, reason)
        logger.warning("block re-held over capacity", extra={"bulk_purchase_id": purchase.purchase_id})


def approve(conference_id: str, purchase_id: str, *, staff_user: str) -> BulkPurchaseView:
    """pending → approved, for comp deals only: a paid deal goes through checkout instead."""
    store.require_conference(conference_id)
    purchase = _require(conference_id, purchase_id)
    if int(purchase.total_amount) > 0:
        raise InvalidPurchaseState(
            "only a comp deal (total 0) is approved; a paid deal goes through checkout"
        )
    try:
        purchase = _move_holding_block(
            purchase, records.APPROVED, [records.BulkPurchase.approved_by.set(staff_user)]
        )
    except store.TransitionRejected as exc:
        raise InvalidPurchaseState(
            f"bulk purchase is {exc.current.status}; only a pending one is approved"
        ) from exc
    return view(purchase)


# --- checkout ------------------------------------------------------------------------------------------------


def _session_params(
    purchase: records.BulkPurchase, conference: store.Conference, request: CheckoutRequest
) -> dict[str, Any]:
    metadata = {"bulk_purchase_id": purchase.purchase_id, "conference_id": purchase.conference_id}
    if purchase.sponsor_id:  # never the string "None" (docs/domain.md defect 4)
        metadata["sponsor_id"] = purchase.sponsor_id
    item = purchase.ticket_type_id or purchase.addon_id or "vouchers"
    expires = purchase.checkout_expires_at or store.now() + timedelta(
        minutes=int(conference.checkout_expiry_minutes)
    )
    return session_params(
        record_id=purchase.purchase_id,
        metadata=metadata,
        currency=purchase.currency,
        unit_amount=int(purchase.unit_price),
        quantity=int(purchase.quantity),
        name=f"{conference.name}: {item} voucher codes",
        request=request,
        expires_at=int(expires.timestamp()),
    )


def _urls_hash(request: CheckoutRequest) -> str:
    return hashlib.sha256(f"{request.success_url}|{request.cancel_url}".encode()).hexdigest()[:12]


def _planned_ts(purchase: records.BulkPurchase) -> int:
    return int(purchase.checkout_expires_at.timestamp()) if purchase.checkout_expires_at else 0


def _checkout_view(purchase: records.BulkPurchase, details: records.PurchaseDetails) -> CheckoutView | None:
    if not (details.checkout_url and purchase.checkout_session_id and purchase.checkout_expires_at):
        return None
    return CheckoutView(
        checkout_url=details.checkout_url,
        session_id=purchase.checkout_session_id,
        expires_at=purchase.checkout_expires_at,
    )


def checkout(conference_id: str, purchase_id: str, request: CheckoutRequest, viewer: Viewer) -> CheckoutView:
    """pending → processing with a Stripe Checkout Session; a repeated call returns the same URL.

    The move is guarded first, then Stripe is called with an idempotency key derived from the
    purchase (no lock is held while Stripe answers), then the session is stored. A crash between
    Stripe's answer and the store loses nothing: the webhook finds the purchase by its metadata id,
    and a retried call gets the same session back from Stripe.
    """
    from boxoffice import stripe_gateway

    conference = store.require_conference(conference_id)
    purchase, details = _require_with_details(conference_id, purchase_id, viewer)
    existing = _checkout_view(purchase, details)
    if purchase.status == records.PROCESSING and existing is not None:
        if existing.expires_at > store.now():
            return existing
        raise InvalidPurchaseState("the checkout session has expired")
    if int(purchase.total_amount) == 0:
        raise InvalidPurchaseState("a total of 0 is not paid through checkout; staff approve it instead")
    if conference.stripe_secret_name is None:
        raise InvalidPurchaseState("this conference has no Stripe account configured")
    if purchase.status == records.PENDING:
        # The session's expiry is planned with the move, so a retried create (same idempotency key)
        # sends Stripe the same parameters.
        planned = (store.now() + timedelta(minutes=int(conference.checkout_expiry_minutes))).replace(
            microsecond=0
        )
        try:
            purchase = _move_holding_block(
                purchase, records.PROCESSING, [records.BulkPurchase.checkout_expires_at.set(planned)]
            )
        except store.TransitionRejected as exc:
            purchase = exc.current  # type: ignore[assignment]
    if purchase.status != records.PROCESSING:
        raise InvalidPurchaseState(f"bulk purchase is {purchase.status}; only a pending one checks out")
    try:
        session = stripe_gateway.create_checkout_session(
            conference.stripe_secret_name,
            _session_params(purchase, conference, request),
            # The planned expiry is part of the key: the same plan sends the same parameters, and a
            # plan made after Stripe refused one never meets that refused request's key.
            idempotency_key=f"bulk-purchase-{purchase.purchase_id}-checkout-{_planned_ts(purchase)}-{_urls_hash(request)}",
        )
    except PaymentProviderError as exc:
        # Back to pending only when Stripe surely made no session; otherwise a retry (same key)
        # gets the session Stripe may have made.
        if exc.refused and purchase.checkout_session_id is None:
            with contextlib.suppress(store.TransitionRejected, pynamodb_errors.TransactWriteError):
                _move_releasing_block(purchase, records.PENDING)
        raise
    expires_at = datetime.fromtimestamp(session["expires_at"], tz=store.now().tzinfo)
    stored = records.update_guarded(
        purchase,
        [
            records.BulkPurchase.checkout_session_id.set(session["id"]),
            records.BulkPurchase.checkout_expires_at.set(expires_at),
        ],
        records.BulkPurchase.status == records.PROCESSING,
    )
    if not stored:
        # The purchase moved on (paid by an earlier session, or failed) while Stripe answered.
        stripe_gateway.expire_checkout_session(
            conference.stripe_secret_name,
            session["id"],
            idempotency_key=f"bulk-purchase-{purchase.purchase_id}-expire-{session['id']}",
        )
        raise InvalidPurchaseState("the purchase changed while its checkout started")
    records.set_checkout_url(conference_id, purchase_id, session["url"])
    return CheckoutView(checkout_url=session["url"], session_id=session["id"], expires_at=expires_at)


# --- fulfilment ----------------------------------------------------------------------------------------------


def _voucher(purchase: records.BulkPurchase, code: str) -> voucher_store.Voucher:
    config = purchase.voucher_config
    at = store.now()
    return voucher_store.Voucher(
        *voucher_store.Voucher.key(purchase.conference_id, code),
        conference_id=purchase.conference_id,
        code=code,
        voucher_type=config["voucher_type"],
        discount_value=int(config.get("discount_value") or 0),
        max_uses=int(config["max_uses"]),
        times_used=0,
        valid_from=datetime.fromisoformat(config["valid_from"]) if config.get("valid_from") else None,
        valid_until=datetime.fromisoformat(config["valid_until"]) if config.get("valid_until") else None,
        unlocks_hidden_tickets=bool(config.get("unlocks_hidden_tickets")),
        is_active=True,
        ticket_type_ids=[purchase.ticket_type_id] if purchase.ticket_type_id else [],
        addon_ids=[purchase.addon_id] if purchase.addon_id else [],
        bulk_purchase_id=purchase.purchase_id,
        version=1,
        created_at=at,
        updated_at=at,
    )


def codes_of(purchase: records.BulkPurchase) -> list[str]:
    """Every code the purchase has or will have, derived from its segment and key."""
    return voucher_codes.codes(
        purchase.code_prefix, purchase.code_segment, purchase.code_key, int(purchase.quantity)
    )


def _announce_fulfilled(purchase: records.BulkPurchase) -> None:
    bus.publish_domain_event(
        "bulk_purchase.fulfilled",
        {
            "conference_id": purchase.conference_id,
            "bulk_purchase_id": purchase.purchase_id,
            "sponsor_id": purchase.sponsor_id,
            "quantity": int(purchase.quantity),
        },
    )
    records.update_guarded(
        purchase,
        [records.BulkPurchase.fulfilled_announced.set(True)],
        records.BulkPurchase.status == records.PAID,
    )


def _fulfill(purchase: records.BulkPurchase, from_states: Iterable[str], payment: Collected | None) -> int:
    """Issue exactly the missing codes and mark the purchase paid. Returns how many codes this call wrote.

    One trigger at a time holds the lease; the others find the purchase paid or get FulfillmentBusy
    (retried later). A resumed run (an earlier claim crashed) reads which codes exist and writes
    only the rest, so a code redeemed in between keeps its ``times_used``.
    """
    sources = tuple(from_states)
    if not set(sources) <= records.MACHINE.sources(records.PAID):
        raise ValueError(f"the state machine does not allow paid from {sources}")
    if purchase.status == records.PAID:
        if (
            payment is not None
            and payment.payment_intent_id
            and purchase.payment_intent_id
            not in (
                None,
                payment.payment_intent_id,
            )
        ):
            reason = f"a second payment {payment.payment_intent_id} arrived for a paid purchase; refund it"
            store.add_attention(purchase, reason)
            logger.warning(
                "second payment for a paid purchase", extra={"bulk_purchase_id": purchase.purchase_id}
            )
        elif purchase.fulfilled_announced is False:
            _announce_fulfilled(purchase)
        return 0
    if purchase.status not in sources:
        logger.info(
            "fulfilment not applicable",
            extra={"bulk_purchase_id": purchase.purchase_id, "status": purchase.status},
        )
        return 0
    if payment is not None and payment.payment_intent_id:
        try:
            records.link_payment_intent(
                purchase.conference_id, payment.payment_intent_id, purchase.purchase_id
            )
        except ValueError as exc:
            store.add_attention(purchase, str(exc))
            logger.error(
                "payment intent belongs elsewhere; nothing issued",
                extra={"bulk_purchase_id": purchase.purchase_id},
            )
            return 0
    if not records.claim_fulfillment(purchase, sources, FULFILLMENT_LEASE):
        current = records.get(purchase.conference_id, purchase.purchase_id)
        if current is not None and current.status in (records.PAID, records.REFUNDED):
            return 0
        raise FulfillmentBusy("fulfilment of this purchase is already in progress")
    if purchase.status == records.FAILED:
        logger.warning(
            "payment arrived for a failed purchase; fulfilling",
            extra={"bulk_purchase_id": purchase.purchase_id},
        )
        _rehold_after_failure(purchase)
    mine = records.BulkPurchase.fulfillment_attempts == purchase.fulfillment_attempts
    try:
        codes = codes_of(purchase)
        if int(purchase.fulfillment_attempts) > 1:
            existing = voucher_store.get_vouchers(purchase.conference_id, codes)
            codes = [c for c in codes if c not in existing]
        written = voucher_store.put_new_vouchers(_voucher(purchase, c) for c in codes)
    except Exception:
        # Let the retry in at once rather than after the lease: it resumes from what exists.
        records.update_guarded(purchase, [records.BulkPurchase.fulfillment_lease_until.remove()], mine)
        raise
    actions = [
        records.BulkPurchase.status.set(records.PAID),
        records.BulkPurchase.vouchers_generated.set(int(purchase.quantity)),
        records.BulkPurchase.fulfillment_lease_until.remove(),
        records.BulkPurchase.fulfilled_announced.set(False),
    ]
    intent = payment.payment_intent_id if payment is not None else None
    if payment is not None:
        actions.append(records.BulkPurchase.amount_paid.set(payment.amount))
        if intent:
            actions.append(records.BulkPurchase.payment_intent_id.set(intent))
    guard = records.BulkPurchase.status.is_in(*sources) & mine
    for _ in range(3):
        taken = records.mark_paid(purchase, actions, guard, intent, payment.amount if payment else 0)
        if taken is not None:
            break
        # A refund seen before this payment was recorded meanwhile: read it and try again.
        fresh = records.get(purchase.conference_id, purchase.purchase_id)
        if (
            fresh is None
            or fresh.status not in sources
            or fresh.fulfillment_attempts != purchase.fulfillment_attempts
        ):
            raise FulfillmentBusy("another trigger took over this fulfilment")
        purchase = fresh
    else:
        raise FulfillmentBusy("the purchase kept moving while its payment was recorded")
    purchase.status = records.PAID
    purchase.vouchers_generated = int(purchase.quantity)
    purchase.amount_refunded = int(purchase.amount_refunded) + taken
    if payment is not None:
        purchase.amount_paid = payment.amount
    _announce_fulfilled(purchase)
    if int(purchase.amount_refunded) > 0:
        settle_refunds(purchase)  # refunded before this payment's event arrived: codes go off at once
    return written


def fulfill_comp(conference_id: str, purchase_id: str) -> FulfillView:
    """Staff fulfil an approved comp deal (total 0). One read: the purchase key is tenant-scoped."""
    purchase, details = _require_with_details(conference_id, purchase_id)
    if purchase.status == records.PAID:
        return FulfillView(vouchers_created=0, bulk_purchase=view(purchase, details))
    if purchase.status != records.APPROVED or int(purchase.total_amount) != 0:
        raise InvalidPurchaseState(
            "only an approved comp deal is fulfilled by staff; paid deals fulfil on payment"
        )
    created = _fulfill(purchase, (records.APPROVED,), None)
    return FulfillView(vouchers_created=created, bulk_purchase=view(purchase, details))


def on_session_paid(conference_id: str, session: dict[str, Any]) -> None:
    """``checkout.session.completed`` (paid) or ``async_payment_succeeded``: check the amount, fulfil."""
    purchase = owners.find_purchase(conference_id, session)
    if purchase is None:
        return
    if session.get("payment_status") != "paid":
        return  # an async method is still settling; its own event follows
    payment = Collected.from_session(session)
    if purchase.status == records.REFUNDED:
        if payment.payment_intent_id and payment.payment_intent_id != purchase.payment_intent_id:
            # Another tab's payment arrived after the purchase was refunded: money nobody may keep silently.
            store.add_attention(
                purchase,
                f"a payment {payment.payment_intent_id} of "
                f"{money.format_amount(payment.amount, payment.currency or purchase.currency)} arrived "
                "for a refunded purchase; refund it",
            )
        logger.warning("payment event after refund ignored", extra={"bulk_purchase_id": purchase.purchase_id})
        return
    if (payment.amount, payment.currency) != (int(purchase.total_amount), purchase.currency):
        reason = (
            f"Stripe collected {money.format_amount(payment.amount, payment.currency or purchase.currency)} "
            f"but the purchase totals {money.format_amount(int(purchase.total_amount), purchase.currency)}"
        )
        store.add_attention(purchase, reason)
        logger.warning("payment mismatch; nothing issued", extra={"bulk_purchase_id": purchase.purchase_id})
        return
    _fulfill(purchase, (records.PENDING, records.PROCESSING, records.FAILED), payment)


def mark_failed(conference_id: str, session: dict[str, Any]) -> None:
    """``async_payment_failed`` or ``expired`` for the purchase's current session: → failed, nothing else."""
    purchase = owners.find_purchase(conference_id, session)
    if purchase is None:
        return
    if purchase.checkout_session_id not in (None, session.get("id")):
        return  # an older session of this purchase
    for _ in range(BLOCK_ATTEMPTS):
        try:
            _move_releasing_block(purchase, records.FAILED)
            return
        except (store.TransitionRejected, pynamodb_errors.TransactWriteError) as exc:
            # The version moved (the session id was stored meanwhile), or the block was drawn or a
            # counter was busy: decide again on a fresh read.
            current = records.get(purchase.conference_id, purchase.purchase_id)
            if current is None or current.status not in records.MACHINE.sources(records.FAILED):
                return  # paid, refunded or already failed: a late event changes nothing
            if isinstance(exc, pynamodb_errors.TransactWriteError) and not exc.cancellation_reasons:
                raise
            purchase = current


# --- refunds and disputes --------------------------------------------------------------------------------------


def _announce_refunded(purchase: records.BulkPurchase, redeemed: int) -> None:
    bus.publish_domain_event(
        "bulk_purchase.refunded",
        {
            "conference_id": purchase.conference_id,
            "bulk_purchase_id": purchase.purchase_id,
            "amount_refunded": int(purchase.amount_refunded),
            "vouchers_already_redeemed": redeemed,
        },
    )
    records.update_guarded(
        purchase, [records.BulkPurchase.refund_announced.set(True)], records.BulkPurchase.PK.exists()
    )


def _deactivate_all(purchase: records.BulkPurchase) -> int:
    """Deactivate every code (idempotent); returns how many had been redeemed, which they keep."""
    codes = codes_of(purchase)
    voucher_store.deactivate(purchase.conference_id, codes)
    redeemed = voucher_store.redeemed_count(voucher_store.iter_vouchers(purchase.conference_id, codes))
    records.update_guarded(
        purchase, [records.BulkPurchase.vouchers_deactivated.set(True)], records.BulkPurchase.PK.exists()
    )
    return redeemed


def settle_refunds(purchase: records.BulkPurchase) -> None:
    """After its refunded amount changed: fully refunded → ``refunded``, every code off, announced once.

    A partial refund only changes ``amount_refunded`` (the refunds module keeps it). Deactivation is
    idempotent and flagged when done, so a crash part-way is finished by the next event or retry.
    """
    for _ in range(3):
        fully = int(purchase.amount_paid) > 0 and int(purchase.amount_refunded) >= int(purchase.amount_paid)
        if purchase.status != records.PAID or not fully:
            break
        try:
            store.transition(purchase, records.REFUNDED, records.MACHINE)
            purchase.status = records.REFUNDED
        except store.TransitionRejected as exc:
            purchase = exc.current  # type: ignore[assignment]
    if (
        purchase.status == records.REFUNDED
        and int(purchase.amount_refunded) < int(purchase.amount_paid)
        and int(purchase.refund_reserved or 0) == 0
    ):
        _undo_refunded(purchase)
        return
    if purchase.status == records.REFUNDED and not purchase.vouchers_deactivated:
        redeemed = _deactivate_all(purchase)
        _announce_refunded(purchase, redeemed)
        logger.info(
            "bulk purchase refunded", extra={"bulk_purchase_id": purchase.purchase_id, "redeemed": redeemed}
        )
        purchase.vouchers_deactivated = True
    if (
        purchase.status == records.REFUNDED
        and purchase.vouchers_deactivated
        and purchase.block_state == BLOCK_HELD
    ):
        # Only after every code is off: no order can draw from the block any more.
        release_unredeemed(records.get(purchase.conference_id, purchase.purchase_id) or purchase)


def _undo_refunded(purchase: records.BulkPurchase) -> None:
    """A full refund failed at the bank after the codes went off: paid again, codes on, staff told."""
    try:
        store.transition(purchase, records.PAID, records.MACHINE)
    except store.TransitionRejected:
        return
    voucher_store.reactivate(purchase.conference_id, codes_of(purchase))
    records.update_guarded(
        purchase, [records.BulkPurchase.vouchers_deactivated.set(False)], records.BulkPurchase.PK.exists()
    )
    fresh = records.get(purchase.conference_id, purchase.purchase_id)
    if fresh is not None:
        _rehold_after_failure(fresh, records.PAID)  # its codes work again: so does its block
    store.add_attention(
        purchase, "a full refund failed at the bank: the purchase is paid and its codes work again"
    )
    logger.warning("bulk refund failed; codes reactivated", extra={"bulk_purchase_id": purchase.purchase_id})


# --- expiry sweep --------------------------------------------------------------------------------------------


def sweep_expired(conference_id: str) -> int:
    """Purchases in processing past their session's expiry, settled by asking Stripe. Returns how many moved."""
    from boxoffice import stripe_gateway

    conference = store.get_conference(conference_id)
    if conference is None or conference.stripe_secret_name is None:
        return 0
    moved = 0
    cursor = None
    while True:
        entries, cursor = records.list_entries(conference_id, None, limit=100, cursor=cursor)
        for purchase in records.get_many(conference_id, [e.purchase_id for e in entries]).values():
            expired = purchase.checkout_expires_at is not None and purchase.checkout_expires_at < store.now()
            if purchase.status != records.PROCESSING or not expired or not purchase.checkout_session_id:
                continue
            session = stripe_gateway.retrieve_checkout_session(
                conference.stripe_secret_name, purchase.checkout_session_id
            )
            if session.get("status") == "open":
                session = stripe_gateway.expire_checkout_session(
                    conference.stripe_secret_name,
                    purchase.checkout_session_id,
                    idempotency_key=f"bulk-purchase-{purchase.purchase_id}-expire-{purchase.checkout_session_id}",
                )
            if session.get("payment_status") == "paid":
                on_session_paid(conference_id, session)
                moved += 1
            elif session.get("status") == "expired":
                mark_failed(conference_id, session)
                moved += 1
        if not cursor:
            return moved


# --- vouchers --------------------------------------------------------------------------------------------------


def voucher_view(voucher: voucher_store.Voucher) -> VoucherView:
    return VoucherView(
        code=voucher.code,
        voucher_type=voucher.voucher_type,
        discount_value=int(voucher.discount_value),
        max_uses=int(voucher.max_uses),
        times_used=int(voucher.times_used),
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
    purchase = _require(conference_id, purchase_id, viewer)
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
    purchase = _require(conference_id, purchase_id, viewer)
    codes = sorted(codes_of(purchase)) if purchase.vouchers_generated else []
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for voucher in voucher_store.iter_vouchers(conference_id, codes):
        writer.writerow(
            [
                voucher.code,
                int(voucher.times_used),
                int(voucher.max_uses),
                "true" if voucher.is_active else "false",
                voucher.valid_from.isoformat() if voucher.valid_from else "",
                voucher.valid_until.isoformat() if voucher.valid_until else "",
            ]
        )
    return out.getvalue()


def get_voucher(conference_id: str, raw_code: str, viewer: Viewer) -> VoucherView:
    """A whole voucher, for staff or the sponsor whose purchase issued it (others: 404)."""
    store.require_conference(conference_id)
    voucher = voucher_store.get_voucher(conference_id, voucher_codes.normalize(raw_code))
    if voucher is None:
        raise NotFound("voucher not found")
    if not viewer.is_staff:
        purchase = records.get(conference_id, voucher.bulk_purchase_id) if voucher.bulk_purchase_id else None
        if purchase is None or not viewer.may_see(purchase):
            raise NotFound("voucher not found")
    return voucher_view(voucher)
