"""Paying an order through Stripe Checkout, and what Stripe says about the payment.

- Checkout creates a session carrying ``order_id``, ``conference_id`` and ``reference`` on the
  session and the payment intent, with an idempotency key from the order; while it is open, a
  repeated call returns the same URL.
- A paid session records one ``stripe`` payment (keyed by its payment intent, so duplicates and
  reordering change nothing) and makes the order paid; ``order.paid`` is announced once. An amount
  or currency mismatch, or a payment after cancellation, sets ``attention``: money is never kept
  silently.
- Before an order's balance changes or it is cancelled, its open session is expired at Stripe
  (:func:`close_open_session`); a session found paid meanwhile is recorded instead.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from boxoffice import bus, lazy, money, store
from boxoffice.checkout_sessions import CheckoutRequest, CheckoutView, Collected, session_params
from boxoffice.errors import InvalidState
from boxoffice.observability import logger
from boxoffice.orders import own_payment, units
from boxoffice.orders.views import OrderViewer, require

if TYPE_CHECKING:
    from boxoffice.store import bulk_purchases as purchase_records
    from boxoffice.store import orders as records
else:
    purchase_records = lazy.module("boxoffice.store.bulk_purchases")
    records = lazy.module("boxoffice.store.orders")

TRANSACTION_ATTEMPTS = 6


def checkout(conference_id: str, order_id: str, user_id: str, request: CheckoutRequest) -> CheckoutView:
    """A Checkout Session for the order's total; while it is open, a repeated call returns it."""
    from boxoffice import stripe_gateway

    conference = store.require_conference(conference_id)
    order = require(conference_id, order_id, OrderViewer(user_id, is_staff=False))
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
        order = require(conference_id, order_id, None)
    due = order.total - order.amount_paid
    metadata = {"order_id": order.order_id, "conference_id": conference_id, "reference": order.reference}
    # The session's expiry is planned once per session it replaces, and planned again only when it
    # has come too close for Stripe (30 minutes). The idempotency key hashes every parameter, so a
    # retried create sends Stripe exactly what the first one sent, and a changed order gets a new one.
    follows = order.checkout_session_id or "first"
    soonest = int((now + timedelta(minutes=31)).timestamp())
    if order.checkout_follows != follows or (order.checkout_planned_expiry or 0) < soonest:
        planned = int((now + timedelta(minutes=conference.checkout_expiry_minutes)).timestamp())
        if not records.plan_checkout(order, follows, planned):
            order = require(conference_id, order_id, None)
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
        expires_at=order.checkout_planned_expiry or 0,
    )
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:20]
    session = stripe_gateway.create_checkout_session(
        conference.stripe_secret_name, params, idempotency_key=f"order-{order.order_id}-checkout-{digest}"
    )
    expires_at = datetime.fromtimestamp(session["expires_at"], tz=now.tzinfo)
    if not records.attach_checkout_session(order, session["id"], session["url"], expires_at):
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
    if not records.claim_announcement_of(order):
        return False
    try:
        bus.publish_domain_event(
            "order.paid",
            {
                "conference_id": order.conference_id,
                "order_id": order.order_id,
                "reference": order.reference,
                "user_id": order.user_id,
                "total": order.total,
                "currency": order.currency,
            },
        )
    except Exception:
        logger.exception(
            "order.paid not published; the sweep will try again", extra={"order_id": order.order_id}
        )
        records.await_announcement_again(order)
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


def status_from_amounts(total: int, paid: int, refunded: int) -> str:
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
            _mark_settling(order, session)
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
            # A retry: finish what the first run may have died before (each is once), also when
            # it died after this payment became the order's own (its seats not taken back yet).
            if order.status in (records.PAID, records.PARTIALLY_REFUNDED):
                paid_again(order)
                announce_paid(order)
            elif order.status == records.REFUNDED:
                settle_refunded(order)
            return
        if charge_id is None:
            charge_id = _charge_of(conference_id, collected.payment_intent_id)
        try:
            status = _record_session_payment(order, collected, payment_id, charge_id, session)
        except records.OrderMoved:
            continue  # the order or one of its refunds moved: read again
        if status in (records.PAID, records.PARTIALLY_REFUNDED):
            order.status = status
            announce_paid(order)
        else:
            fresh = records.get(conference_id, order_id)
            if fresh is not None and fresh.status == records.REFUNDED:
                settle_refunded(fresh)  # refunded before this payment, or by it: see own_payment
        return
    raise InvalidState("the order changed while its payment was recorded; the event will be retried")


def _record_session_payment(
    order: records.Order,
    collected: Collected,
    payment_id: str,
    charge_id: str | None,
    session: dict[str, Any],
) -> str | None:
    """One transaction: the payment, its intent's link, its early refunds, and the order's amounts.
    Returns the order's new status when the payment is its own, else None (flagged money)."""
    conference_id = order.conference_id
    due = order.total - order.amount_paid
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
    early = records.early_refunds(order, intent)
    early_amount = sum(r.amount for r in early)
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
        currency=collected.currency,
        own=None if own else False,
    )
    link = purchase_records.PaymentIntentLink(
        *purchase_records.PaymentIntentLink.key(conference_id, str(intent)),
        kind="order",
        record_id=order.order_id,
    )
    status = None
    if own:
        paid = order.amount_paid + collected.amount
        refunded = order.amount_refunded + early_amount
        status = status_from_amounts(order.total, paid, refunded)
    records.record_stripe_payment(
        order, payment, link if intent else None, early, status=status, problem=problem
    )
    if not own:
        logger.warning("order payment needs staff", extra={"order_id": order.order_id, "problem": problem})
        return None
    if status == records.REFUNDED:
        logger.warning(
            "payment recorded after its refund; order.paid not announced",
            extra={"order_id": order.order_id, "session": session.get("id")},
        )
    return status


def settle_refunded(order: records.Order) -> None:
    """A refunded order: it takes an untouched second payment as its own when its own was refunded
    in full outside our API (``own_payment``), and is paid again; otherwise its units go back, once."""
    swapped = own_payment.adopt_kept_payment(order)
    if swapped is None:
        units.release_refunded_units(order)
    else:
        paid_again(swapped)


def paid_again(order: records.Order) -> None:
    """A refunded order paid again (its full refund failed at the bank, or it took a kept payment as
    its own) takes its units back, and ``order.paid``, never announced while it was refunded, goes
    out once."""
    if order.units_released:
        units.retake_units(order)
    paid = order.status in (records.PAID, records.PARTIALLY_REFUNDED)
    if paid and order.paid_announced is None and records.await_first_announcement(order):
        announce_paid(order)


def _mark_settling(order: records.Order, session: dict[str, Any]) -> None:
    """A delayed payment (a bank debit) was submitted: the order is not cancelled while it settles.

    Marked first, then checked at Stripe: a debit that failed already (its failure event came
    first, or ran meanwhile and found nothing marked) is unmarked again, so the order is never left
    settling for ever. One that succeeded is unmarked too; its payment is recorded by its event or
    by the session check of a cancel.
    """
    session_id = str(session.get("id"))
    if not records.mark_settling(order, session_id):
        return
    logger.info("order payment settling", extra={"order_id": order.order_id, "session": session_id})
    conference = store.get_conference(order.conference_id)
    if conference is None or conference.stripe_secret_name is None:
        return
    if not _still_settling(conference.stripe_secret_name, session):
        fresh = records.get(order.conference_id, order.order_id)
        if fresh is not None and fresh.settling == session_id:
            records.stop_settling(fresh)


def on_payment_failed(conference_id: str, obj: dict[str, Any]) -> None:
    """``payment_intent.payment_failed`` / ``async_payment_failed``: a failed payment is recorded; the order stays pending."""
    order_id = (obj.get("metadata") or {}).get("order_id")
    order = records.get(conference_id, order_id) if isinstance(order_id, str) else None
    if order is None:
        return
    if obj.get("object") == "checkout.session" and order.settling == obj.get("id"):
        # The settling debit failed: the order may be cancelled again once its hold has ended.
        records.stop_settling(order)
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
    records.record_failed_payment(payment)


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
        _mark_settling(order, session)
        raise InvalidState("the order's payment is still settling at the bank")
    if order.checkout_expires_at is None or order.checkout_expires_at > store.now():
        records.mark_checkout_closed(order)


def _still_settling(secret_name: str, session: dict[str, Any]) -> bool:
    """A completed, unpaid session whose payment intent is still processing (a bank debit)."""
    from boxoffice import stripe_gateway

    intent = session.get("payment_intent")
    intent_id = intent.get("id") if isinstance(intent, dict) else intent
    if not isinstance(intent_id, str):
        return False
    return stripe_gateway.retrieve_payment_intent(secret_name, intent_id).get("status") == "processing"
