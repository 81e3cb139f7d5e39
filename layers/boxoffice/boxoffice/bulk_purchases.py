"""Sponsor bulk voucher purchases: create, approve, checkout, fulfil, fail and refund.

A purchase lives ``pending`` → (``approved`` for comp deals | ``processing`` through Stripe
Checkout) → ``paid`` with exactly ``quantity`` codes → possibly ``refunded``; or ``failed``. Every
move is a guarded conditional write in ``store.bulk_purchases``, so duplicate, late and concurrent
triggers are harmless. One module per capability:

- ``bulk_purchase_views``: errors, shapes, who may see a purchase, and the reads;
- ``bulk_checkout``: create, approve a comp deal, Stripe Checkout;
- ``sponsor_blocks``: the purchase's block of capacity, held, released and held again;
- ``vouchers``: the purchase's codes, listed, as CSV, and one by code;
- this module: fulfilment (issuing the codes), payment events, refunds and the expiry sweep.

The original system's defects (docs/domain.md, by number) are fixed here:

- the webhook finds a purchase by the metadata id, a primary-key read, never by session id (3, 14);
- a sponsor-less purchase checks out with no ``"None"`` in the metadata (4);
- the voucher config is complete and validated at creation (5);
- a fulfillment error after payment stays retryable and never marks the purchase failed (6);
- async payments complete or fail (2); refunds reach the purchase (1);
- a retried fulfillment resumes and writes only the missing codes, never the full quantity (15).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from boxoffice import bus, lazy, money, owners, sponsor_blocks, store, sweeping
from boxoffice.bulk_purchase_views import (
    FulfillmentBusy,
    FulfillView,
    InvalidPurchaseState,
    require_with_details,
    view,
)
from boxoffice.checkout_sessions import Collected
from boxoffice.observability import logger
from boxoffice.sponsor_blocks import BLOCK_ATTEMPTS, BLOCK_HELD, release_unredeemed
from boxoffice.vouchers import codes_of

if TYPE_CHECKING:
    from boxoffice.store import bulk_purchases as records
    from boxoffice.store import vouchers as voucher_store
else:
    records = lazy.module("boxoffice.store.bulk_purchases")
    voucher_store = lazy.module("boxoffice.store.vouchers")


FULFILLMENT_LEASE = timedelta(minutes=6)
"""Longer than any function that fulfils may run (the sweep's 300 s) plus ``LEASE_MARGIN``: a lease
ends only after its holder can no longer write, so two fulfilments never write codes at once. A
holder that fails drops its lease at once; one killed mid-way holds it until it ends (the sweep, or
staff replaying the event, resumes it)."""

LEASE_MARGIN = timedelta(minutes=1)
"""A holder writes no batch of codes later than this before its lease ends."""


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


def _announce_fulfilled(purchase: records.BulkPurchase) -> None:
    bus.publish_domain_event(
        "bulk_purchase.fulfilled",
        {
            "conference_id": purchase.conference_id,
            "bulk_purchase_id": purchase.purchase_id,
            "sponsor_id": purchase.sponsor_id,
            "quantity": purchase.quantity,
        },
    )
    records.mark_fulfilled_announced(purchase)


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
        intent = payment.payment_intent_id if payment is not None else None
        if intent and purchase.payment_intent_id not in (None, intent):
            reason = f"a second payment {intent} arrived for a paid purchase; refund it"
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
        sponsor_blocks.rehold(purchase)
    try:
        codes = codes_of(purchase)
        if purchase.fulfillment_attempts > 1:
            existing = voucher_store.get_vouchers(purchase.conference_id, codes)
            codes = [c for c in codes if c not in existing]
        until = purchase.fulfillment_lease_until  # as claimed
        written = voucher_store.put_new_vouchers(
            (_voucher(purchase, c) for c in codes), until=until - LEASE_MARGIN if until else None
        )
    except Exception:
        # Let the retry in at once rather than after the lease: it resumes from what exists.
        records.drop_fulfillment_lease(purchase)
        raise
    intent = payment.payment_intent_id if payment is not None else None
    for _ in range(3):
        taken = records.mark_fulfilled(
            purchase, sources, amount_paid=payment.amount if payment else None, payment_intent_id=intent
        )
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
    purchase.vouchers_generated = purchase.quantity
    purchase.amount_refunded = purchase.amount_refunded + taken
    if payment is not None:
        purchase.amount_paid = payment.amount
    _announce_fulfilled(purchase)
    if purchase.amount_refunded > 0:
        settle_refunds(purchase)  # refunded before this payment's event arrived: codes go off at once
    return written


def fulfill_comp(conference_id: str, purchase_id: str) -> FulfillView:
    """Staff fulfil an approved comp deal (total 0). One read: the purchase key is tenant-scoped."""
    purchase, details = require_with_details(conference_id, purchase_id)
    if purchase.status == records.PAID:
        return FulfillView(vouchers_created=0, bulk_purchase=view(purchase, details))
    if purchase.status != records.APPROVED or purchase.total_amount != 0:
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
    if (payment.amount, payment.currency) != (purchase.total_amount, purchase.currency):
        reason = (
            f"Stripe collected {money.format_amount(payment.amount, payment.currency or purchase.currency)} "
            f"but the purchase totals {money.format_amount(purchase.total_amount, purchase.currency)}"
        )
        store.add_attention(purchase, reason)
        logger.warning("payment mismatch; nothing issued", extra={"bulk_purchase_id": purchase.purchase_id})
        return
    _fulfill(purchase, (records.PENDING, records.PROCESSING, records.FAILED), payment)


def _fulfilling(purchase: records.BulkPurchase) -> bool:
    """A fulfilment holds the purchase's live lease (the version guard of every move sees a claim)."""
    lease = purchase.fulfillment_lease_until
    return (
        purchase.status in records.MACHINE.sources(records.FAILED)
        and lease is not None
        and lease > store.now()
    )


def mark_failed(conference_id: str, session: dict[str, Any]) -> None:
    """``async_payment_failed`` or ``expired`` for the purchase's current session: → failed, nothing else."""
    purchase = owners.find_purchase(conference_id, session)
    if purchase is None:
        return
    if purchase.checkout_session_id not in (None, session.get("id")):
        return  # an older session of this purchase
    for _ in range(BLOCK_ATTEMPTS):
        if _fulfilling(purchase):
            # Another session's payment is being fulfilled (a second tab): payment evidence beats
            # failure, and failing now would give its block back under it. Retried once it is done.
            raise FulfillmentBusy("a payment of this purchase is being fulfilled; its failure waits")
        try:
            sponsor_blocks.move_releasing(purchase, records.FAILED)
            return
        except (store.TransitionRejected, records.BlockMoved) as exc:
            # The version moved (the session id was stored meanwhile), or the block was drawn or a
            # counter was busy: decide again on a fresh read.
            current = records.get(purchase.conference_id, purchase.purchase_id)
            if current is None or current.status not in records.MACHINE.sources(records.FAILED):
                return  # paid, refunded or already failed: a late event changes nothing
            if isinstance(exc, records.BlockMoved) and not exc.cancelled:
                raise
            purchase = current


# --- refunds and disputes --------------------------------------------------------------------------------------


def _announce_refunded(purchase: records.BulkPurchase, redeemed: int) -> None:
    bus.publish_domain_event(
        "bulk_purchase.refunded",
        {
            "conference_id": purchase.conference_id,
            "bulk_purchase_id": purchase.purchase_id,
            "amount_refunded": purchase.amount_refunded,
            "vouchers_already_redeemed": redeemed,
        },
    )
    records.mark_refund_announced(purchase)


def _deactivate_all(purchase: records.BulkPurchase) -> int:
    """Deactivate every code (idempotent); returns how many had been redeemed, which they keep."""
    codes = codes_of(purchase)
    voucher_store.deactivate(purchase.conference_id, codes)
    redeemed = voucher_store.redeemed_count(voucher_store.iter_vouchers(purchase.conference_id, codes))
    records.mark_vouchers_deactivated(purchase, True)
    return redeemed


def settle_refunds(purchase: records.BulkPurchase) -> None:
    """After its refunded amount changed: fully refunded → ``refunded``, every code off, announced once.

    A partial refund only changes ``amount_refunded`` (the refunds module keeps it). Deactivation is
    idempotent and flagged when done, so a crash part-way is finished by the next event or retry.
    """
    for _ in range(3):
        fully = purchase.amount_paid > 0 and purchase.amount_refunded >= purchase.amount_paid
        if purchase.status != records.PAID or not fully:
            break
        try:
            store.transition(purchase, records.REFUNDED, records.MACHINE)
            purchase.status = records.REFUNDED
        except store.TransitionRejected as exc:
            purchase = exc.current_as(records.BulkPurchase)
    if (
        purchase.status == records.REFUNDED
        and purchase.amount_refunded < purchase.amount_paid
        and (purchase.refund_reserved or 0) == 0
    ):
        _undo_refunded(purchase)
        return
    if purchase.status == records.PAID and purchase.vouchers_deactivated:
        _codes_back_on(purchase)  # paid again, but a crash (or a racing refund) left its codes off
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
    _codes_back_on(purchase)


def _codes_back_on(purchase: records.BulkPurchase) -> None:
    """A paid purchase whose codes went off: every code on, then the flag, its block back, staff told.
    Each step is idempotent and the flag is cleared only after the codes, so the next settle resumes it."""
    voucher_store.reactivate(purchase.conference_id, codes_of(purchase))
    records.mark_vouchers_deactivated(purchase, False)
    fresh = records.get(purchase.conference_id, purchase.purchase_id)
    if fresh is not None:
        sponsor_blocks.rehold(fresh, records.PAID)  # its codes work again: so does its block
    store.add_attention(
        purchase, "a full refund failed at the bank: the purchase is paid and its codes work again"
    )
    logger.warning("bulk refund failed; codes reactivated", extra={"bulk_purchase_id": purchase.purchase_id})


# --- expiry sweep --------------------------------------------------------------------------------------------


def sweep_expired(conference_id: str) -> int:
    """Purchases in processing past their session's expiry, settled by asking Stripe. Returns how many
    moved. Each is settled on its own (:func:`boxoffice.sweeping.settle_each`): one that fails (a
    session Stripe no longer knows, after a move to another account) never stops the rest."""
    conference = store.get_conference(conference_id)
    if conference is None or conference.stripe_secret_name is None:
        return 0
    secret_name = conference.stripe_secret_name

    def settle(purchase: records.BulkPurchase) -> int:
        expired = purchase.checkout_expires_at is not None and purchase.checkout_expires_at < store.now()
        if purchase.status != records.PROCESSING or not expired:
            return 0
        try:
            return _settle_expired(secret_name, purchase)
        except FulfillmentBusy:
            return 0  # a payment of it is being fulfilled: it wins, or the next run decides

    return sweeping.settle_each(
        _all_purchases(conference_id), settle, what="expired purchase", key=lambda p: p.purchase_id
    )


def _all_purchases(conference_id: str) -> Iterable[records.BulkPurchase]:
    cursor = None
    while True:
        entries, cursor = records.list_entries(conference_id, None, limit=100, cursor=cursor)
        yield from records.get_many(conference_id, [e.purchase_id for e in entries]).values()
        if not cursor:
            return


def _settle_expired(secret_name: str, purchase: records.BulkPurchase) -> int:
    """One purchase past its session's expiry: paid, or failed with its block released. Returns 1 if it moved."""
    from boxoffice import stripe_gateway

    conference_id = purchase.conference_id
    if not purchase.checkout_session_id:
        # Its checkout never stored a session (Stripe timed out, or the function died) and the
        # planned expiry has passed: no session of it can still be paid, and one that was paid
        # still wins (payment evidence beats failure). Without this its block stays held.
        mark_failed(conference_id, {"id": None, "metadata": {"bulk_purchase_id": purchase.purchase_id}})
        return 1
    session = stripe_gateway.retrieve_checkout_session(secret_name, purchase.checkout_session_id)
    if session.get("status") == "open":
        session = stripe_gateway.expire_checkout_session(
            secret_name,
            purchase.checkout_session_id,
            idempotency_key=f"bulk-purchase-{purchase.purchase_id}-expire-{purchase.checkout_session_id}",
        )
    if session.get("payment_status") == "paid":
        on_session_paid(conference_id, session)
        return 1
    if session.get("status") == "expired":
        mark_failed(conference_id, session)
        return 1
    return 0
