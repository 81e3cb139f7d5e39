"""Staff refunds: of an order (to the card or as store credit; or one payment of it that is not its
own) and of a bulk purchase (to the card), the lists of refunds, and the sweep of refunds a crash
left pending.

A refund is checked, reserved, sent to Stripe and completed in the phases of
:mod:`boxoffice.refunds.phases`. The same caller's same ``Idempotency-Key`` resumes or returns the
refund it started; another body under that key is refused.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from boxoffice import lazy, money, store, sweeping
from boxoffice import owners as resolver
from boxoffice.errors import IdempotencyConflict, InvalidState, NotFound, ValidationFailed
from boxoffice.refunds import phases, stripe_events
from boxoffice.refunds.owners import OrderOwner, Owner, PurchaseOwner, owner_for
from boxoffice.refunds.shapes import BulkRefundRequest, OrderRefundRequest, RefundView, view

if TYPE_CHECKING:
    from boxoffice.store import bulk_purchases as purchases
    from boxoffice.store import orders as order_records
    from boxoffice.store import refunds as records
else:
    purchases = lazy.module("boxoffice.store.bulk_purchases")
    order_records = lazy.module("boxoffice.store.orders")
    records = lazy.module("boxoffice.store.refunds")

STALE_PENDING = timedelta(minutes=5)


def refund_bulk_purchase(
    conference_id: str,
    purchase_id: str,
    request: BulkRefundRequest,
    *,
    staff_user: str,
    idempotency_key: str | None,
) -> RefundView:
    """Refund a paid purchase's card payment (all that is refundable when no amount is given)."""
    store.require_conference(conference_id)
    purchase = purchases.get(conference_id, purchase_id)
    if purchase is None:
        raise NotFound(f"bulk purchase {purchase_id} not found")
    return _create(
        PurchaseOwner(purchase), amount=request.amount, reason=request.reason, destination="card", note="",
        staff_user=staff_user, idempotency_key=idempotency_key,
    )  # fmt: skip


def refund_order(
    conference_id: str,
    order_id: str,
    request: OrderRefundRequest,
    *,
    staff_user: str,
    idempotency_key: str | None,
) -> RefundView:
    """Refund an order to the card or as store credit (never both: docs/domain.md defect 9); with
    ``payment_id``, one payment of it that is not its own, to that payment's card."""
    store.require_conference(conference_id)
    order = order_records.get(conference_id, order_id)
    if order is None:
        raise NotFound(f"order {order_id} not found")
    what = f"payment {request.payment_id} of order" if request.payment_id else "order"
    note = f"Refund for {what} {order.reference} ({request.reason}) by {staff_user}"
    if request.note:
        note += f": {request.note}"
    return _create(
        OrderOwner(order), amount=request.amount, reason=request.reason, destination=request.destination, note=note,
        staff_user=staff_user, idempotency_key=idempotency_key, payment_id=request.payment_id,
    )  # fmt: skip


def list_refunds(conference_id: str, owner_pk: str) -> list[RefundView]:
    return [view(r) for r in records.list_refunds(owner_pk)]


def list_for_order(conference_id: str, order_id: str, *, user_id: str, is_staff: bool) -> list[RefundView]:
    store.require_conference(conference_id)
    order = order_records.get(conference_id, order_id)
    if order is None or (not is_staff and order.user_id != user_id):
        raise NotFound(f"order {order_id} not found")
    return list_refunds(conference_id, order.PK)


def finish_stale_pending(conference_id: str) -> int:
    """The sweep: refunds left pending by a crash are completed or released, asking Stripe which;
    each on its own, so one Stripe cannot answer for never keeps the others' money reserved."""
    conference = store.get_conference(conference_id)
    secret_name = conference.stripe_secret_name if conference is not None else None

    def finish(refund: records.Refund) -> int:
        if refund.status != records.PENDING:
            return 0
        ids = {"order_id": refund.order_id, "bulk_purchase_id": refund.bulk_purchase_id}
        item = resolver.find(conference_id, {"metadata": {k: v for k, v in ids.items() if v}})
        if item is None:
            return 0
        owner = owner_for(item)
        if refund.destination == "card" and secret_name:
            found = phases.found_at_stripe(refund, secret_name)
            if found:
                phases.complete(owner, refund, found)
            else:
                phases.release(owner, refund, "no refund reached Stripe before the request was interrupted")
        else:
            phases.run(owner, refund, None)
        owner.settle()
        return 1

    return sweeping.settle_each(
        records.stale_pending(conference_id, store.now() - STALE_PENDING),
        finish,
        what="pending refund",
        key=lambda r: r.refund_id,
    )


# --- one refund: checked, reserved, run ---------------------------------------------------------------------------


def _create(
    owner: Owner,
    *,
    amount: int | None,
    reason: str,
    destination: str,
    note: str,
    staff_user: str,
    idempotency_key: str | None,
    payment_id: str | None = None,
) -> RefundView:
    """Refund ``amount`` (None: all that is refundable to ``destination``), or resume the refund
    this caller's Idempotency-Key already started. With ``payment_id``, the money refunded is that
    payment of the order's that is not its own (``_new_stray_refund``)."""
    conference = store.require_conference(owner.item.conference_id)
    fields: dict[str, object] = {"amount": amount, "reason": reason, "destination": destination, "note": note}
    if payment_id is not None:  # only when given: other requests keep the fingerprints they had
        fields["payment_id"] = payment_id
    fingerprint = phases.request_hash(**fields)
    refund_id, refund = phases.existing_or_next_id(owner.item.PK, staff_user, idempotency_key)
    if refund is not None and refund.request_hash not in (None, fingerprint):
        raise IdempotencyConflict("this Idempotency-Key was already used with a different request")
    if refund is None:
        if owner.item.dispute and conference.stripe_secret_name is not None:
            owner = stripe_events.recheck_dispute(owner)  # marked before its payment was recorded?
        asked = {"reason": reason, "destination": destination, "note": note, "staff_user": staff_user}
        if payment_id is None:
            owner, refund = _new_refund(owner, conference, amount, refund_id, fingerprint, **asked)
        else:
            assert amount is not None  # OrderRefundRequest requires it
            owner, refund = _new_stray_refund(
                owner, conference, payment_id, amount, refund_id, fingerprint, **asked
            )
        phases.reserve(owner, refund)
    return view(phases.run(owner, refund, conference.stripe_secret_name))


def _new_refund(
    owner: Owner,
    conference: store.Conference,
    amount: int | None,
    refund_id: str,
    fingerprint: str,
    *,
    reason: str,
    destination: str,
    note: str,
    staff_user: str,
) -> tuple[Owner, records.Refund]:
    """The checks of a refund of the owner's own payments, and its pending record (not saved)."""
    if amount is not None:
        money.require_on_grid(amount, owner.item.currency, ["body", "amount"])
    if owner.item.status not in owner.refundable_states:
        raise InvalidState(f"a {owner.item.status} {owner.noun} cannot be refunded")
    if destination == "card" and conference.stripe_secret_name is None:
        raise InvalidState("this conference has no Stripe account configured")
    _require_undisputed(owner, destination, counted=False)
    if conference.stripe_secret_name is not None:
        owner = stripe_events.sync_with_stripe(owner, conference.stripe_secret_name)
        _require_undisputed(owner, destination)
    balance = owner.balance(destination)
    if balance <= 0 or (destination == "card" and not owner.intents()):
        what = "card payment" if destination == "card" else "payment"
        raise InvalidState(f"there is no {what} left to refund")
    amount = balance if amount is None else amount
    if amount > balance:
        raise ValidationFailed(
            "amount is more than the refundable balance",
            details=[{"loc": ["body", "amount"], "msg": f"at most {balance}", "type": "value_error"}],
        )
    refund = records.Refund(
        *records.Refund.key(owner.item.PK, refund_id),
        conference_id=owner.item.conference_id,
        refund_id=refund_id,
        **owner.ids(),
        amount=amount,
        currency=owner.item.currency,
        reason=reason,
        note=note,
        destination=destination,
        status=records.PENDING,
        source="api",
        created_by=staff_user,
        split=phases.split(owner, amount) if destination == "card" else None,
        request_hash=fingerprint,
    )
    return owner, refund


def _require_undisputed(owner: Owner, destination: str, *, counted: bool = True) -> None:
    """Refused while the owner's own payment is disputed; but an order's store credit of what a lost
    dispute left (its chargeback counted, ``counted`` once synced with Stripe: its events may be
    late), the rest being the attendee's. The card stays refused: Stripe refuses a disputed charge."""
    mark = owner.item.dispute
    if not mark:
        return
    item = owner.item
    if (
        destination == "store_credit"
        and isinstance(item, order_records.Order)
        and (order_records.chargeback_counted(item) or (mark.startswith("lost:") and not counted))
    ):
        return
    raise InvalidState(f"the payment is disputed ({mark}); refunds wait for the dispute")


def _payment_id_problem(message: str, msg: str, field: str = "payment_id") -> ValidationFailed:
    return ValidationFailed(message, details=[{"loc": ["body", field], "msg": msg, "type": "value_error"}])


def _new_stray_refund(
    owner: Owner,
    conference: store.Conference,
    payment_id: str,
    amount: int,
    refund_id: str,
    fingerprint: str,
    *,
    reason: str,
    destination: str,
    note: str,
    staff_user: str,
) -> tuple[Owner, records.Refund]:
    """The checks of a refund of money that is not the order's own payment (docs/domain.md
    "Refunds (staff)"), and its pending record (not saved): to that payment's card only, whatever the order's
    status, for at most what the payment has left. It counts against that payment alone
    (``against=extra``): the order's amounts, balances and status never move."""
    assert isinstance(owner, OrderOwner)  # only an order's refund names a payment
    item = owner.item
    payment = order_records.get_payment(item.conference_id, item.order_id, payment_id)
    if payment is None:
        raise _payment_id_problem(
            f"order {item.order_id} has no payment {payment_id}", "not one of the order's payments"
        )
    if payment.is_own:
        raise _payment_id_problem(
            "the order's own payments are refunded without payment_id",
            "names the order's own payment; omit payment_id to refund it",
        )
    if payment.method != "stripe" or payment.status != "succeeded" or not payment.payment_intent_id:
        raise _payment_id_problem(
            f"payment {payment_id} is not a succeeded card payment", "not a succeeded card payment"
        )
    if destination != "card":
        raise _payment_id_problem(
            "money that is not the order's own payment goes back only to the card it came from",
            "must be card with payment_id",
            field="destination",
        )
    money.require_on_grid(amount, item.currency, ["body", "amount"])
    if conference.stripe_secret_name is None:
        raise InvalidState("this conference has no Stripe account configured")
    if payment.dispute:  # only its own dispute: one of the order's own payment does not hold this money
        raise InvalidState(
            f"payment {payment_id} is disputed ({payment.dispute}); refunds wait for the dispute"
        )
    owner = stripe_events.sync_with_stripe(
        owner, conference.stripe_secret_name
    )  # dashboard refunds of it count first
    intent = str(payment.payment_intent_id)
    payment = order_records.get_payment(item.conference_id, item.order_id, payment_id) or payment
    phases.require_left(payment, amount)
    refund = records.Refund(
        *records.Refund.key(item.PK, refund_id),
        conference_id=item.conference_id,
        refund_id=refund_id,
        **owner.ids(),
        payment_intent_id=intent,
        amount=amount,
        currency=item.currency,
        reason=reason,
        note=note,
        destination="card",
        status=records.PENDING,
        source="api",
        created_by=staff_user,
        split={intent: amount},
        against=records.EXTRA,
        request_hash=fingerprint,
    )
    return owner, refund
