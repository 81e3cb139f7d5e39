"""Refunds in atomic phases with recovery points, and Stripe's refund events.

``create`` follows Stripe's own idempotency-key design:

1. **Reserve.** One transaction guards the owner's refundable balance (``refundable >= amount``,
   kept in step on the owner item) and writes a pending Refund with its own id.
2. **Call Stripe** with that id as the idempotency key; no lock is held while Stripe answers.
3. **Complete.** One transaction: the refund succeeded, the owner's refunded amount, and the link
   from Stripe's refund id, which is what lets events and retries count it exactly once.

A Stripe error releases the reservation and fails the refund (502). A crash between phases is
finished by the same request retried with its ``Idempotency-Key`` (the refund id derives from it)
or by an event carrying our refund id in its metadata. Refunds made in Stripe's dashboard arrive
as events and are recorded as ``external``. A refund that fails later gives its amount back.

Today the owner is a bulk purchase; orders join with their issue.
"""

import hashlib
import secrets
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pynamodb.exceptions import TransactWriteError

from boxoffice import bulk_purchases, store
from boxoffice.errors import InvalidState, NotFound, PaymentProviderError, ValidationFailed
from boxoffice.observability import logger
from boxoffice.store import bulk_purchases as purchases
from boxoffice.store import refunds as records

Reason = Literal["requested_by_customer", "duplicate", "fraudulent"]


class BulkRefundRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    amount: Annotated[int, Field(ge=1)] | None = None
    reason: Reason


class RefundView(BaseModel):
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
    credit: dict[str, Any] | None
    created_by: str | None
    failure_reason: str | None
    created_at: datetime


def view(refund: records.Refund) -> RefundView:
    return RefundView(
        id=refund.refund_id,
        order_id=refund.order_id,
        bulk_purchase_id=refund.bulk_purchase_id,
        amount=int(refund.amount),
        currency=refund.currency,
        reason=refund.reason,
        note=refund.note,
        destination=refund.destination,
        status=refund.status,
        source=refund.source,
        stripe_refund_ids=list(refund.stripe_refund_ids or []),
        credit=None,
        created_by=refund.created_by,
        failure_reason=refund.failure_reason,
        created_at=refund.created_at,
    )


def refund_id_for(owner_pk: str, idempotency_key: str | None) -> str:
    """The refund's id: derived from the request's Idempotency-Key, so a retry resumes the same refund."""
    if idempotency_key is None:
        return f"rf_{secrets.token_hex(8)}"
    return "rf_" + hashlib.sha256(f"{owner_pk}|{idempotency_key}".encode()).hexdigest()[:16]


def _is_conflict(exc: TransactWriteError) -> bool:
    return store.is_condition_failure(exc)


# --- the three phases -----------------------------------------------------------------------------------------


def _reserve(purchase: purchases.BulkPurchase, refund: records.Refund) -> None:
    amount = int(refund.amount)
    with store.transaction() as tx:
        tx.update(
            purchase,
            actions=[
                purchases.BulkPurchase.refundable.add(-amount),
                purchases.BulkPurchase.refund_reserved.add(amount),
                purchases.BulkPurchase.updated_at.set(store.now()),
            ],
            condition=(purchases.BulkPurchase.status == purchases.PAID)
            & (purchases.BulkPurchase.refundable >= amount),
            add_version_condition=False,
        )
        tx.save(refund, condition=records.Refund.PK.does_not_exist())


def _release(purchase: purchases.BulkPurchase, refund: records.Refund, reason: str) -> None:
    """Stripe said no: the refund fails and its reservation goes back to the refundable balance."""
    amount = int(refund.amount)
    try:
        with store.transaction() as tx:
            store.transition_in(
                tx, refund, records.FAILED, records.MACHINE, [records.Refund.failure_reason.set(reason[:500])]
            )
            tx.update(
                purchase,
                actions=[
                    purchases.BulkPurchase.refundable.add(amount),
                    purchases.BulkPurchase.refund_reserved.add(-amount),
                ],
                add_version_condition=False,
            )
    except TransactWriteError as exc:
        if not _is_conflict(exc):
            raise


def _complete(purchase: purchases.BulkPurchase, refund: records.Refund, stripe_refund_id: str) -> bool:
    """pending → succeeded with the owner's amounts and the Stripe link, once. False if already done."""
    amount = int(refund.amount)
    link = records.StripeRefundLink(
        *records.StripeRefundLink.key(refund.conference_id, stripe_refund_id),
        owner_pk=refund.PK,
        refund_id=refund.refund_id,
    )
    try:
        with store.transaction() as tx:
            store.transition_in(
                tx,
                refund,
                records.SUCCEEDED,
                records.MACHINE,
                [records.Refund.stripe_refund_ids.set([stripe_refund_id])],
            )
            tx.update(
                purchase,
                actions=[
                    purchases.BulkPurchase.refund_reserved.add(-amount),
                    purchases.BulkPurchase.amount_refunded.add(amount),
                ],
                add_version_condition=False,
            )
            tx.save(link, condition=records.StripeRefundLink.PK.does_not_exist())
    except TransactWriteError as exc:
        if _is_conflict(exc):
            return False
        raise
    return True


def _settle(conference_id: str, purchase_id: str) -> None:
    """After the refunded amount changed: a fully refunded purchase becomes refunded, codes off."""
    purchase = purchases.get(conference_id, purchase_id)
    if purchase is not None:
        bulk_purchases.settle_refunds(purchase)


# --- staff refund ------------------------------------------------------------------------------------------------


def refund_bulk_purchase(
    conference_id: str,
    purchase_id: str,
    request: BulkRefundRequest,
    *,
    staff_user: str,
    idempotency_key: str | None,
) -> RefundView:
    """Refund a paid purchase's card payment (all that is refundable when no amount is given)."""
    from boxoffice import stripe_gateway

    conference = store.require_conference(conference_id)
    purchase = purchases.get(conference_id, purchase_id)
    if purchase is None:
        raise NotFound(f"bulk purchase {purchase_id} not found")
    refund_id = refund_id_for(purchase.PK, idempotency_key)
    refund = records.get_refund(purchase.PK, refund_id)
    if refund is None:
        if (
            purchase.status != purchases.PAID
            or not purchase.payment_intent_id
            or conference.stripe_secret_name is None
        ):
            raise InvalidState(f"bulk purchase is {purchase.status} with no card payment to refund")
        amount = request.amount if request.amount is not None else int(purchase.refundable)
        if amount <= 0:
            raise InvalidState("nothing is left to refund")
        if amount > int(purchase.refundable):
            raise ValidationFailed(
                "amount is more than the refundable balance",
                details=[
                    {
                        "loc": ["body", "amount"],
                        "msg": f"at most {int(purchase.refundable)}",
                        "type": "value_error",
                    }
                ],
            )
        refund = records.Refund(
            *records.Refund.key(purchase.PK, refund_id),
            conference_id=conference_id,
            refund_id=refund_id,
            bulk_purchase_id=purchase_id,
            payment_intent_id=purchase.payment_intent_id,
            amount=amount,
            currency=purchase.currency,
            reason=request.reason,
            destination="card",
            status=records.PENDING,
            source="api",
            created_by=staff_user,
        )
        try:
            _reserve(purchase, refund)
        except TransactWriteError as exc:
            if _is_conflict(exc):
                raise InvalidState("the refundable balance changed; read the purchase and retry") from exc
            raise
    if refund.status != records.PENDING:
        return view(refund)
    assert conference.stripe_secret_name is not None
    try:
        stripe_refund = stripe_gateway.create_refund(
            conference.stripe_secret_name,
            payment_intent_id=str(refund.payment_intent_id),
            amount=int(refund.amount),
            reason=refund.reason,
            metadata={
                "refund_id": refund.refund_id,
                "conference_id": conference_id,
                "bulk_purchase_id": purchase_id,
            },
            idempotency_key=refund.refund_id,
        )
    except PaymentProviderError as exc:
        _release(purchase, refund, exc.message)
        raise
    _complete(purchase, refund, stripe_refund["id"])
    _settle(conference_id, purchase_id)
    return view(records.get_refund(purchase.PK, refund_id) or refund)


def list_for_purchase(conference_id: str, purchase_id: str) -> list[RefundView]:
    purchase = purchases.get(conference_id, purchase_id)
    if purchase is None:
        raise NotFound(f"bulk purchase {purchase_id} not found")
    return [view(r) for r in records.list_refunds(purchase.PK)]


# --- Stripe's refund events --------------------------------------------------------------------------------------


def _owner(conference_id: str, stripe_refund: dict[str, Any]) -> purchases.BulkPurchase | None:
    metadata = stripe_refund.get("metadata") or {}
    if isinstance(metadata.get("bulk_purchase_id"), str):
        return purchases.get(conference_id, metadata["bulk_purchase_id"])
    intent = stripe_refund.get("payment_intent")
    if isinstance(intent, str) and intent:
        link = purchases.find_by_payment_intent(conference_id, intent)
        if link is not None and link.kind == "bulk_purchase":
            return purchases.get(conference_id, link.record_id)
    return None


def _record_external(purchase: purchases.BulkPurchase, stripe_refund: dict[str, Any]) -> None:
    """A refund made outside our API (the dashboard): counted once, by its Stripe id."""
    amount = int(stripe_refund["amount"])
    refund_id = f"rf_ext_{stripe_refund['id']}"
    refund = records.Refund(
        *records.Refund.key(purchase.PK, refund_id),
        conference_id=purchase.conference_id,
        refund_id=refund_id,
        bulk_purchase_id=purchase.purchase_id,
        payment_intent_id=stripe_refund.get("payment_intent"),
        amount=amount,
        currency=str(stripe_refund.get("currency") or purchase.currency),
        reason=str(stripe_refund.get("reason") or "requested_by_customer"),
        destination="card",
        status=records.SUCCEEDED,
        source="external",
        stripe_refund_ids=[stripe_refund["id"]],
    )
    link = records.StripeRefundLink(
        *records.StripeRefundLink.key(purchase.conference_id, stripe_refund["id"]),
        owner_pk=purchase.PK,
        refund_id=refund_id,
    )
    try:
        with store.transaction() as tx:
            tx.save(link, condition=records.StripeRefundLink.PK.does_not_exist())
            tx.save(refund, condition=records.Refund.PK.does_not_exist())
            tx.update(
                purchase,
                actions=[
                    purchases.BulkPurchase.amount_refunded.add(amount),
                    purchases.BulkPurchase.refundable.add(-amount),
                ],
                add_version_condition=False,
            )
    except TransactWriteError as exc:
        if not _is_conflict(exc):
            raise
        return
    logger.info(
        "external refund recorded", extra={"bulk_purchase_id": purchase.purchase_id, "amount": amount}
    )


def _record_failure(purchase: purchases.BulkPurchase, stripe_refund: dict[str, Any]) -> None:
    """A refund that had succeeded failed at the bank: its amount is refundable again."""
    link = records.get_link(purchase.conference_id, stripe_refund["id"])
    refund = records.get_refund(link.owner_pk, link.refund_id) if link else None
    if refund is None or refund.status != records.SUCCEEDED:
        return
    amount = int(refund.amount)
    reason = str(stripe_refund.get("failure_reason") or "failed")
    try:
        with store.transaction() as tx:
            store.transition_in(
                tx, refund, records.FAILED, records.MACHINE, [records.Refund.failure_reason.set(reason)]
            )
            tx.update(
                purchase,
                actions=[
                    purchases.BulkPurchase.amount_refunded.add(-amount),
                    purchases.BulkPurchase.refundable.add(amount),
                ],
                add_version_condition=False,
            )
    except TransactWriteError as exc:
        if not _is_conflict(exc):
            raise
        return
    if purchase.status == purchases.REFUNDED:
        purchases.update_guarded(
            purchase,
            [
                purchases.BulkPurchase.attention.set(
                    f"refund {refund.refund_id} failed ({reason}) after the codes were deactivated"
                )
            ],
            purchases.BulkPurchase.PK.exists(),
        )


def on_stripe_refund(conference_id: str, stripe_refund: dict[str, Any]) -> None:
    """``refund.created``/``updated``/``failed`` and ``charge.refund.updated``: bring our records in line."""
    purchase = _owner(conference_id, stripe_refund)
    if purchase is None:
        return
    if stripe_refund.get("status") in ("failed", "canceled"):
        _record_failure(purchase, stripe_refund)
    else:
        ours = (stripe_refund.get("metadata") or {}).get("refund_id")
        refund = records.get_refund(purchase.PK, ours) if isinstance(ours, str) else None
        if refund is not None:
            if refund.status == records.PENDING:
                _complete(purchase, refund, stripe_refund["id"])
        elif records.get_link(conference_id, stripe_refund["id"]) is None:
            _record_external(purchase, stripe_refund)
    _settle(conference_id, purchase.purchase_id)


def on_charge_refunded(conference_id: str, charge: dict[str, Any]) -> None:
    """``charge.refunded``: Stripe's list of the payment's refunds is the truth; record each once."""
    from boxoffice import stripe_gateway

    conference = store.get_conference(conference_id)
    intent = charge.get("payment_intent")
    if conference is None or conference.stripe_secret_name is None or not isinstance(intent, str):
        return
    if _owner(conference_id, {"payment_intent": intent, "metadata": charge.get("metadata") or {}}) is None:
        return
    for stripe_refund in stripe_gateway.list_refunds(conference.stripe_secret_name, intent):
        on_stripe_refund(
            conference_id,
            {
                **stripe_refund,
                "metadata": {**(charge.get("metadata") or {}), **(stripe_refund.get("metadata") or {})},
            },
        )
