"""Creating a sponsor bulk purchase, approving a comp deal, and paying through Stripe Checkout.

- A purchase is created ``pending`` with a complete, validated voucher config (docs/domain.md
  defect 5) and a code segment reserved for it in the same transaction, drawn again when taken.
- A comp deal (total 0) is approved by staff (``approved``); a paid deal checks out: pending →
  ``processing`` with its sponsor block held, then a Checkout Session with an idempotency key
  derived from the purchase; a repeated call returns the same URL. A sponsor-less purchase checks
  out with no ``"None"`` in the metadata (defect 4).
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from boxoffice import lazy, money, sponsor_blocks, store, voucher_codes
from boxoffice.bulk_purchase_views import (
    BulkPurchaseRequest,
    BulkPurchaseView,
    InvalidPurchase,
    InvalidPurchaseState,
    Viewer,
    VoucherConfig,
    require,
    require_with_details,
    view,
)
from boxoffice.checkout_sessions import CheckoutRequest, CheckoutView, session_params
from boxoffice.errors import PaymentProviderError, Unavailable

if TYPE_CHECKING:
    from boxoffice.store import bulk_purchases as records
else:
    records = lazy.module("boxoffice.store.bulk_purchases")

SEGMENT_DRAWS = 8


def _bulk_item(conference_id: str, ticket_type_id: str | None, addon_id: str | None) -> int:
    """Catalog price of the bulk-enabled items; another conference's item does not exist here."""
    if ticket_type_id is not None:
        ticket = store.get_ticket_type(conference_id, ticket_type_id)
        if ticket is None:
            raise InvalidPurchase("ticket_type_id", f"ticket type {ticket_type_id} not found")
        if not ticket.bulk_enabled:
            raise InvalidPurchase("ticket_type_id", f"ticket type {ticket_type_id} is not sold in bulk")
        price = ticket.price
    else:
        price = 0
    if addon_id is not None:
        addon = store.get_addon(conference_id, addon_id)
        if addon is None:
            raise InvalidPurchase("addon_id", f"add-on {addon_id} not found")
        if not addon.bulk_enabled:
            raise InvalidPurchase("addon_id", f"add-on {addon_id} is not sold in bulk")
        price += addon.price
    return price


def create(
    conference_id: str, request: BulkPurchaseRequest, *, requested_by: str, as_sponsor: str | None
) -> BulkPurchaseView:
    """Create a pending purchase. ``as_sponsor`` is the sponsor id of a self-serve request, else None (staff)."""
    conference = store.require_conference(conference_id)
    if request.quantity > conference.max_bulk_quantity:
        raise InvalidPurchase("quantity", f"quantity must be at most {conference.max_bulk_quantity}")
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


def approve(conference_id: str, purchase_id: str, *, staff_user: str) -> BulkPurchaseView:
    """pending → approved, for comp deals only: a paid deal goes through checkout instead."""
    store.require_conference(conference_id)
    purchase = require(conference_id, purchase_id)
    if purchase.total_amount > 0:
        raise InvalidPurchaseState(
            "only a comp deal (total 0) is approved; a paid deal goes through checkout"
        )
    try:
        purchase = sponsor_blocks.move_holding(purchase, records.APPROVED, approved_by=staff_user)
    except store.TransitionRejected as exc:
        raise InvalidPurchaseState(
            f"bulk purchase is {exc.current_as(records.BulkPurchase).status}; only a pending one is approved"
        ) from exc
    return view(purchase)


def _session_params(
    purchase: records.BulkPurchase, conference: store.Conference, request: CheckoutRequest
) -> dict[str, Any]:
    metadata = {"bulk_purchase_id": purchase.purchase_id, "conference_id": purchase.conference_id}
    if purchase.sponsor_id:  # never the string "None" (docs/domain.md defect 4)
        metadata["sponsor_id"] = purchase.sponsor_id
    item = purchase.ticket_type_id or purchase.addon_id or "vouchers"
    expires = purchase.checkout_expires_at or store.now() + timedelta(
        minutes=conference.checkout_expiry_minutes
    )
    return session_params(
        record_id=purchase.purchase_id,
        metadata=metadata,
        currency=purchase.currency,
        unit_amount=purchase.unit_price,
        quantity=purchase.quantity,
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
    purchase, details = require_with_details(conference_id, purchase_id, viewer)
    existing = _checkout_view(purchase, details)
    if purchase.status == records.PROCESSING and existing is not None:
        if existing.expires_at > store.now():
            return existing
        raise InvalidPurchaseState("the checkout session has expired")
    if not conference.is_active:
        # A deactivated conference stops selling; the sweep settles its money only for a while
        # (and never for one created inactive). A session opened before keeps its URL above.
        raise InvalidPurchaseState("the conference is not active; it takes no new payment")
    if purchase.total_amount == 0:
        raise InvalidPurchaseState("a total of 0 is not paid through checkout; staff approve it instead")
    if conference.stripe_secret_name is None:
        raise InvalidPurchaseState("this conference has no Stripe account configured")
    if purchase.status == records.PENDING:
        # The session's expiry is planned with the move, so a retried create (same idempotency key)
        # sends Stripe the same parameters.
        planned = (store.now() + timedelta(minutes=conference.checkout_expiry_minutes)).replace(microsecond=0)
        try:
            purchase = sponsor_blocks.move_holding(purchase, records.PROCESSING, checkout_expires_at=planned)
        except store.TransitionRejected as exc:
            purchase = exc.current_as(records.BulkPurchase)
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
            with contextlib.suppress(store.TransitionRejected, records.BlockMoved):
                sponsor_blocks.move_releasing(purchase, records.PENDING)
        raise
    expires_at = datetime.fromtimestamp(session["expires_at"], tz=store.now().tzinfo)
    if not records.attach_checkout_session(purchase, session["id"], expires_at):
        # The purchase moved on (paid by an earlier session, or failed) while Stripe answered.
        stripe_gateway.expire_checkout_session(
            conference.stripe_secret_name,
            session["id"],
            idempotency_key=f"bulk-purchase-{purchase.purchase_id}-expire-{session['id']}",
        )
        raise InvalidPurchaseState("the purchase changed while its checkout started")
    records.set_checkout_url(conference_id, purchase_id, session["url"])
    return CheckoutView(checkout_url=session["url"], session_id=session["id"], expires_at=expires_at)
