"""A refund's phases: reserve, call Stripe, then complete or release.

1. **Reserve.** One guarded write takes the amount from what may be refunded (the owner's
   refundable balance, or a stray payment's amounts) and saves the pending Refund with its own id.
2. **Call Stripe** (card only) with keys derived from that id, split across the owner's payment
   intents from the newest, asking none for more than it has left. No lock is held meanwhile.
3. **Complete** (one guarded write: the refund succeeded, every amount it moved, the links from
   Stripe's refund ids, the store credit) or **release** (Stripe said no: the reservation is
   refundable again).

A crash between phases is finished by the same request retried with its ``Idempotency-Key``
(the refund id derives from it), by an event carrying our refund id in its metadata, or by the
sweep: each runs :func:`run` (or completes or releases) again, and each write counts once.

A stray refund (``against=extra``: money that is not the owner's own payment, named by staff)
reserves, completes and releases on that Payment alone, never the owner.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import TYPE_CHECKING

from boxoffice import lazy, store
from boxoffice.errors import InvalidState, PaymentProviderError, ValidationFailed
from boxoffice.refunds.owners import Owner

if TYPE_CHECKING:
    from boxoffice.store import credits as credit_records
    from boxoffice.store import orders as order_records
    from boxoffice.store import refund_writes
    from boxoffice.store import refunds as records
else:
    credit_records = lazy.module("boxoffice.store.credits")
    order_records = lazy.module("boxoffice.store.orders")
    records = lazy.module("boxoffice.store.refunds")
    refund_writes = lazy.module("boxoffice.store.refund_writes")

MAX_ATTEMPTS_PER_KEY = 20


def refund_id_for(owner_pk: str, caller: str, idempotency_key: str | None, attempt: int = 0) -> str:
    """The refund's id: derived from the caller's Idempotency-Key (and the attempt, after a refund
    Stripe refused), so a retry resumes the same refund instead of starting another. The key names
    one request of one caller: another staff member's same key is another refund."""
    if idempotency_key is None:
        return f"rf_{secrets.token_hex(8)}"
    material = f"{owner_pk}|{caller}|{idempotency_key}|{attempt}"
    return "rf_" + hashlib.sha256(material.encode()).hexdigest()[:16]


def request_hash(**fields: object) -> str:
    """A fingerprint of a refund request's body, to refuse a reused key with another body."""
    return hashlib.sha256(repr(sorted(fields.items())).encode()).hexdigest()[:24]


def existing_or_next_id(
    owner_pk: str, caller: str, idempotency_key: str | None
) -> tuple[str, records.Refund | None]:
    """The refund this key already started (to resume or return), or the id for a new one.

    A refund that failed because Stripe said no (502, "safe to retry") does not stop a retry with
    the same key: the retry becomes the key's next attempt.
    """
    for attempt in range(MAX_ATTEMPTS_PER_KEY):
        refund_id = refund_id_for(owner_pk, caller, idempotency_key, attempt)
        refund = records.get_refund(owner_pk, refund_id)
        released = refund is not None and refund.status == records.FAILED and not refund.stripe_refund_ids
        if idempotency_key is None or not released:
            return refund_id, refund
    raise InvalidState("this Idempotency-Key has been retried too often; use a new one")


def split(owner: Owner, amount: int) -> dict[str, int]:
    """The amount across payment intents, newest first, none asked for more than it has left."""
    parts: dict[str, int] = {}
    left = amount
    for intent, available in owner.intents():
        take = min(left, max(available, 0))
        if take > 0:
            parts[intent] = take
            left -= take
        if left == 0:
            break
    if left:
        raise InvalidState("the payments have less left to refund than asked; a refund may be in flight")
    return parts


def require_left(payment: order_records.Payment, amount: int) -> None:
    """Refuse a stray refund the payment has not enough left for (refunds done and in flight count)."""
    left = payment.refund_left
    if left <= 0:
        raise InvalidState(f"payment {payment.payment_id} has nothing left to refund")
    if amount > left:
        raise ValidationFailed(
            f"amount is more than payment {payment.payment_id} has left to refund",
            details=[{"loc": ["body", "amount"], "msg": f"at most {left}", "type": "value_error"}],
        )


def _is_stray(refund: records.Refund) -> bool:
    """A staff refund of money that is not the owner's own payment: it moves that payment alone."""
    return refund.counts_against == records.EXTRA


def _stray_payment(owner: Owner, refund: records.Refund) -> order_records.Payment:
    payment = owner.payment_for(str(refund.payment_intent_id))
    if payment is None:  # payments are never deleted: a stray refund without one is a bug
        raise RuntimeError(
            f"refund {refund.refund_id} names payment intent {refund.payment_intent_id} of no payment"
        )
    return payment


# --- phase one: reserve -------------------------------------------------------------------------------------------


def reserve(owner: Owner, refund: records.Refund) -> None:
    """Reserve, trying again after a pause when DynamoDB cancelled the write for a concurrent one.
    A stray payment's reservation whose guard failed is read and checked again too: its guard is
    the amounts read, which any other refund of that payment moves."""
    try:
        store.retry_on_conflict(lambda: _reserve(owner, refund))
    except store.StaleRead as exc:
        raise InvalidState("the refundable balance changed; read it again and retry") from exc


def _reserve(owner: Owner, refund: records.Refund) -> None:
    """One attempt: the amount is taken from what may be refunded, and the pending Refund saved."""
    if _is_stray(refund):
        _reserve_stray(owner, refund)
    else:
        refund_writes.reserve_refund(owner.item, refund)


def _reserve_stray(owner: Owner, refund: records.Refund) -> None:
    """Reserve on the stray payment itself, read now, if it has enough left."""
    payment = _stray_payment(owner, refund)
    if payment.dispute:  # disputed since it was checked: read now, and guarded by the write
        raise InvalidState(
            f"payment {payment.payment_id} is disputed ({payment.dispute}); refunds wait for the dispute"
        )
    require_left(payment, refund.amount)
    refund_writes.reserve_stray_refund(payment, refund)


# --- phase two: Stripe --------------------------------------------------------------------------------------------


def _call_stripe(owner: Owner, refund: records.Refund, secret_name: str) -> dict[str, tuple[str, int]]:
    """Refund each part at Stripe; returns the parts done. Raises only when none could be done."""
    from boxoffice import stripe_gateway

    parts = refund.split or {}
    done: dict[str, tuple[str, int]] = {}
    metadata = {"refund_id": refund.refund_id, "conference_id": refund.conference_id}
    ids = owner.ids()
    metadata.update(
        {k: v for k, v in (("order_id", ids["order_id"]), ("bulk_purchase_id", ids["bulk_purchase_id"])) if v}
    )
    error: PaymentProviderError | None = None
    for intent, part in parts.items():
        try:
            stripe_refund = stripe_gateway.create_refund(
                secret_name,
                payment_intent_id=intent,
                amount=int(part),
                reason=refund.reason,
                metadata=metadata,
                idempotency_key=refund.refund_id if len(parts) == 1 else f"{refund.refund_id}:{intent}",
            )
        except PaymentProviderError as exc:
            error = exc
            break
        done[intent] = (stripe_refund["id"], int(part))
    if error is not None and not done:
        raise error
    return done


def found_at_stripe(refund: records.Refund, secret_name: str) -> dict[str, tuple[str, int]]:
    """The Stripe refunds made under our refund's id, by payment intent: (Stripe id, amount)."""
    from boxoffice import stripe_gateway

    found: dict[str, tuple[str, int]] = {}
    for intent in refund.split or {}:
        for stripe_refund in stripe_gateway.list_refunds(secret_name, intent):
            if stripe_refund.get("status") in ("failed", "canceled"):
                continue  # it happened and came back: nothing to complete
            if (stripe_refund.get("metadata") or {}).get("refund_id") == refund.refund_id:
                found[intent] = (stripe_refund["id"], int(stripe_refund["amount"]))
    return found


# --- phase three: complete or release -----------------------------------------------------------------------------


def release(owner: Owner, refund: records.Refund, reason: str, amount: int | None = None) -> None:
    """Stripe said no: the refund fails and (that part of) its reservation is refundable again
    (on the owner, or on the stray payment it reserved on). Nothing, when it is no longer pending."""
    amount = refund.amount if amount is None else amount
    if _is_stray(refund):
        refund_writes.release_stray_refund(_stray_payment(owner, refund), refund, reason, amount)
    else:
        refund_writes.release_refund(owner.item, refund, reason, amount)


def complete(
    owner: Owner,
    refund: records.Refund,
    stripe_parts: dict[str, tuple[str, int]],
    credit: credit_records.Credit | None = None,
) -> bool:
    """pending → succeeded with every amount it moves, once. ``stripe_parts``: intent → (re id, amount).
    A stray refund moves its payment alone (reserved → refunded), never the owner's amounts."""
    if _is_stray(refund):
        return refund_writes.complete_stray_refund(_stray_payment(owner, refund), refund, stripe_parts)
    payments = {intent: owner.payment_for(intent) for intent in stripe_parts}
    return refund_writes.complete_refund(
        owner.item, refund, stripe_parts, {i: p for i, p in payments.items() if p is not None}, credit
    )


def _still_pending(refund: records.Refund) -> bool:
    current = records.get_refund(refund.PK, refund.refund_id)
    return current is not None and current.status == records.PENDING


def run(owner: Owner, refund: records.Refund, secret_name: str | None) -> records.Refund:
    """Phases 2 and 3 for a reserved refund; also how a retry or the sweep finishes one."""
    if refund.status != records.PENDING:
        owner.settle()  # a crash after completing may have left the status behind the amounts
        return refund
    if refund.destination == "store_credit":
        if not complete(owner, refund, {}, owner.store_credit(refund)):
            # Refused while still pending: disputed since it was reserved (the bank may give or gave
            # that money back), or a refund outside our API (the dashboard) took what it was
            # reserved from. No credit is issued for money that is already back: released.
            fresh = owner.reload()
            if fresh is not None and _still_pending(refund):
                why = (
                    f"the payment is disputed ({fresh.item.dispute}); refunds wait for it"
                    if fresh.item.dispute
                    else "the money was refunded meanwhile outside boxoffice; no credit is issued for it"
                )
                release(fresh, refund, why)
        owner.freeze_double_paid()  # a dashboard refund may have landed while this one ran
    else:
        assert secret_name is not None
        try:
            parts = _call_stripe(owner, refund, secret_name)
        except PaymentProviderError as exc:
            if not exc.refused:
                # The outcome is unknown (a 5xx, a dropped connection): ask Stripe what it holds
                # under this refund's id. Found: it happened, complete it. Not found: release.
                # If Stripe cannot even be asked, the refund stays pending and reserved for a
                # retry with the same key, Stripe's refund event or the sweep.
                found = found_at_stripe(refund, secret_name)
                if found:
                    complete(owner, refund, found)
                    owner.settle()
                    return records.get_refund(refund.PK, refund.refund_id) or refund
            release(owner, refund, exc.message)
            raise
        complete(owner, refund, parts)
    owner.settle()
    return records.get_refund(refund.PK, refund.refund_id) or refund
