"""Refunds in atomic phases with recovery points, and Stripe's refund events.

``create`` follows Stripe's own idempotency-key design:

1. **Reserve.** One transaction guards the owner's refundable balance (``refundable >= amount``,
   kept in step on the owner item: Stripe payments succeeded minus refunds pending or succeeded)
   and writes a pending Refund with its own id.
2. **Call Stripe** (card only) with keys derived from that id, split across the owner's payment
   intents from the newest, asking none for more than it has left. No lock is held meanwhile.
3. **Complete.** One transaction: the refund succeeded, the owner's refunded amount, each
   payment's refunded amount, the links from Stripe's refund ids (which let events and retries
   count it exactly once) and, for ``store_credit``, the new available Credit.

A Stripe error releases the reservation and fails the refund (502). A crash between phases is
finished by the same request retried with its ``Idempotency-Key`` (the refund id derives from it),
by an event carrying our refund id in its metadata, or by the expiry sweep. Refunds made in
Stripe's dashboard arrive as events and are recorded as ``external``. A refund that fails later
gives its amount back and the owner's status is recomputed from the records.

Owners are bulk purchases (card only) and orders (card or store credit).

Money that is not an order's own payment (a second payment, one after cancellation) is refunded
by naming that payment: the same phases, but the reservation, the completion and a release move
that Payment alone (its ``refund_reserved`` and ``amount_refunded``), never the order. The Refund
records it (``against=extra`` with the payment's intent), so a retry, an event or the sweep that
finishes it moves the same payment.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import ConfigDict, Field

from boxoffice import bulk_purchases, lazy, money, store
from boxoffice.errors import (
    IdempotencyConflict,
    InvalidState,
    NotFound,
    PaymentProviderError,
    ValidationFailed,
)
from boxoffice.observability import logger
from boxoffice.shapes import Shape

if TYPE_CHECKING:
    from pynamodb import exceptions as pynamodb_errors

    from boxoffice.store import bulk_purchases as purchases
    from boxoffice.store import credits as credit_records
    from boxoffice.store import orders as order_records
    from boxoffice.store import refunds as records
else:
    pynamodb_errors = lazy.module("pynamodb.exceptions")
    purchases = lazy.module("boxoffice.store.bulk_purchases")
    credit_records = lazy.module("boxoffice.store.credits")
    order_records = lazy.module("boxoffice.store.orders")
    records = lazy.module("boxoffice.store.refunds")

Reason = Literal["requested_by_customer", "duplicate", "fraudulent"]
STALE_PENDING = timedelta(minutes=5)


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
        amount=int(credit.amount),
        remaining_amount=int(credit.remaining_amount),
        currency=credit.currency,
        status=credit.status,
        source_order_id=credit.source_order_id,
        applications=[
            {"order_id": a.order_id, "amount": int(a.amount), "at": a.at.isoformat()}
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
        amount=int(refund.amount),
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


# --- owners -------------------------------------------------------------------------------------------------------


@dataclass
class Owner:
    """What a refund is against: a bulk purchase or an order (same money attributes on both)."""

    item: purchases.BulkPurchase | order_records.Order

    @property
    def model(self) -> Any:
        return type(self.item)

    @property
    def is_order(self) -> bool:
        return isinstance(self.item, order_records.Order)

    @property
    def record_id(self) -> str:
        return self.item.order_id if isinstance(self.item, order_records.Order) else self.item.purchase_id

    @property
    def refundable_states(self) -> tuple[str, ...]:
        return (order_records.PAID, order_records.PARTIALLY_REFUNDED) if self.is_order else (purchases.PAID,)

    def ids(self) -> dict[str, str | None]:
        return (
            {"order_id": self.record_id, "bulk_purchase_id": None}
            if self.is_order
            else {"order_id": None, "bulk_purchase_id": self.record_id}
        )

    def intents(self) -> list[tuple[str, int]]:
        """Payment intents with what each has left, newest first."""
        if isinstance(self.item, order_records.Order):
            payments = [
                p
                for p in order_records.payments_of(self.item.conference_id, self.item.order_id)
                if p.method == "stripe" and p.status == "succeeded" and p.payment_intent_id and p.is_own
            ]
            payments.sort(key=lambda p: p.created_at, reverse=True)
            return [(str(p.payment_intent_id), int(p.amount) - int(p.amount_refunded)) for p in payments]
        if self.item.payment_intent_id:
            return [
                (self.item.payment_intent_id, int(self.item.amount_paid) - int(self.item.amount_refunded))
            ]
        return []

    def counts_against(self, payment_intent_id: str | None) -> str:
        """What a Stripe refund on ``payment_intent_id`` counts against (docs/domain.md "Refunds": a refund is
        counted against the payment it refunded; a duplicate's refund never touches the kept one)."""
        if isinstance(self.item, order_records.Order):
            payment = self.payment_for(payment_intent_id) if payment_intent_id else None
            if payment is None:
                return records.UNMATCHED
            return records.OWNER if payment.is_own else records.EXTRA
        own = self.item.payment_intent_id
        if own is None and payment_intent_id:
            return records.UNMATCHED  # its payment is not recorded yet: it decides (bulk_purchases._fulfill)
        return records.OWNER if own is None or own == payment_intent_id else records.EXTRA

    def balance_actions(self, amount: int, destination: str) -> list[Any]:
        """Move the refundable balances by ``amount`` (negative to take) for a refund to ``destination``."""
        actions: list[Any] = []
        if destination == "card":
            actions.append(self.model.refundable.add(amount))
        if isinstance(self.item, order_records.Order):
            actions.append(order_records.Order.refundable_total.add(amount))
        return actions

    def balance(self, destination: str) -> int:
        """What may still be refunded to ``destination`` (docs/domain.md "Refunds")."""
        if not isinstance(self.item, order_records.Order):
            return int(self.item.refundable) if destination == "card" else 0
        total = int(self.item.refundable_total)
        return min(int(self.item.refundable), total) if destination == "card" else total

    def payment_for(self, payment_intent_id: str) -> order_records.Payment | None:
        if not isinstance(self.item, order_records.Order):
            return None
        return order_records.get_payment(
            self.item.conference_id, self.item.order_id, f"pay_{payment_intent_id}"
        )

    def reload(self) -> Owner | None:
        if isinstance(self.item, order_records.Order):
            fresh: Any = order_records.get(self.item.conference_id, self.item.order_id)
        else:
            fresh = purchases.get(self.item.conference_id, self.item.purchase_id)
        return Owner(fresh) if fresh is not None else None

    def settle(self) -> None:
        """Bring the owner's status in line with its refunded amount."""
        fresh = self.reload()
        if fresh is None:
            return
        if isinstance(fresh.item, order_records.Order):
            settle_order(fresh.item)
        else:
            bulk_purchases.settle_refunds(fresh.item)


def _owner_of(conference_id: str, obj: dict[str, Any]) -> Owner | None:
    """The owner an object names by our metadata ids, or by its payment intent's link."""
    metadata = obj.get("metadata") or {}
    if isinstance(metadata.get("order_id"), str):
        order = order_records.get(conference_id, metadata["order_id"])
        return Owner(order) if order else None
    if isinstance(metadata.get("bulk_purchase_id"), str):
        purchase = purchases.get(conference_id, metadata["bulk_purchase_id"])
        return Owner(purchase) if purchase else None
    intent = obj.get("payment_intent")
    if isinstance(intent, str) and intent:
        link = purchases.find_by_payment_intent(conference_id, intent)
        if link is not None and link.kind == "order":
            order = order_records.get(conference_id, link.record_id)
            return Owner(order) if order else None
        if link is not None and link.kind == "bulk_purchase":
            purchase = purchases.get(conference_id, link.record_id)
            return Owner(purchase) if purchase else None
        if link is None:
            # The payment's own events have not arrived yet (no link): the intent's metadata at
            # Stripe names the order or purchase, so a refund or dispute is never dropped.
            metadata = _intent_metadata(conference_id, intent)
            if metadata:
                return _owner_of(conference_id, {"metadata": metadata})
    return None


def _intent_metadata(conference_id: str, payment_intent_id: str) -> dict[str, str]:
    from boxoffice import stripe_gateway

    conference = store.get_conference(conference_id)
    if conference is None or conference.stripe_secret_name is None:
        return {}
    try:
        intent = stripe_gateway.retrieve_payment_intent(conference.stripe_secret_name, payment_intent_id)
    except PaymentProviderError as exc:
        if exc.refused:
            return {}  # Stripe has no such intent on this account: nothing of ours
        raise
    metadata = intent.get("metadata") or {}
    ours = {k: v for k, v in metadata.items() if k in ("order_id", "bulk_purchase_id") and isinstance(v, str)}
    if metadata.get("conference_id") not in (None, conference_id):
        return {}  # another conference's money: not ours to touch (docs/domain.md defect 17)
    return ours


def settle_order(order: order_records.Order) -> None:
    """paid / partially_refunded / refunded, from the recorded refunded amount (never from an event)."""
    for _ in range(3):
        refunded = int(order.amount_refunded)
        wanted = (
            order_records.REFUNDED
            if refunded >= int(order.total) and refunded > 0
            else order_records.PARTIALLY_REFUNDED
            if refunded > 0
            else order_records.PAID
        )
        if (
            order.status not in (order_records.PAID, order_records.PARTIALLY_REFUNDED, order_records.REFUNDED)
            or order.status == wanted
        ):
            break
        try:
            store.transition(order, wanted, order_records.MACHINE)
            break
        except store.TransitionRejected as exc:
            order = exc.current  # type: ignore[assignment]
    from boxoffice import orders

    if order.status == order_records.REFUNDED:
        orders.release_refunded_units(order)  # capacity: a fully refunded order's units, once
    elif order.units_released:
        orders.retake_units(order)  # paid again: the full refund failed at the bank


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


MAX_ATTEMPTS_PER_KEY = 20


def _existing_or_next_id(
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


def _split(owner: Owner, amount: int) -> dict[str, int]:
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


# --- the three phases -----------------------------------------------------------------------------------------


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


def _reserve(owner: Owner, refund: records.Refund) -> None:
    """One transaction: the amount is taken from what may be refunded, and the pending Refund saved."""
    if _is_stray(refund):
        _reserve_stray(owner, refund)
        return
    amount, model = int(refund.amount), owner.model
    condition = model.status.is_in(*owner.refundable_states)
    if refund.destination == "card":
        condition &= model.refundable >= amount
    if owner.is_order:
        condition &= order_records.Order.refundable_total >= amount
    with store.transaction() as tx:
        tx.update(
            owner.item,
            actions=[
                *owner.balance_actions(-amount, refund.destination),
                model.refund_reserved.add(amount),
                model.updated_at.set(store.now()),
            ],
            condition=condition,
            add_version_condition=False,
        )
        tx.save(refund, condition=records.Refund.PK.does_not_exist())


def _reserve_stray(owner: Owner, refund: records.Refund) -> None:
    """Reserve on the stray payment itself (``refund_reserved``), conditional on the amounts read:
    neither its refunded nor its reserved amount grew since, so what it had left still covers this
    refund. A refund of it that completed, failed or began meanwhile fails the condition, and the
    caller reads it again (``_reserve_with_retries``)."""
    payment, model = _stray_payment(owner, refund), order_records.Payment
    _require_left(payment, int(refund.amount))
    refunded, reserved = int(payment.amount_refunded or 0), int(payment.refund_reserved or 0)
    condition = (model.own == False) & (model.status == "succeeded")  # noqa: E712 (a DynamoDB condition)
    condition &= model.amount_refunded.does_not_exist() | (model.amount_refunded <= refunded)
    condition &= model.refund_reserved.does_not_exist() | (model.refund_reserved <= reserved)
    with store.transaction() as tx:
        tx.update(
            payment,
            actions=[model.refund_reserved.add(int(refund.amount))],
            condition=condition,
            add_version_condition=False,
        )
        tx.save(refund, condition=records.Refund.PK.does_not_exist())


def _reserve_with_retries(owner: Owner, refund: records.Refund) -> None:
    """Reserve; a transaction DynamoDB cancelled for a concurrent one is tried again after a pause.
    A stray payment's reservation whose condition failed is read and checked again too: its guard
    is the amounts read, which any other refund of that payment moves."""
    for attempt in range(5):
        try:
            _reserve(owner, refund)
            return
        except pynamodb_errors.TransactWriteError as exc:
            refused = store.is_condition_failure(exc)
            if refused and (not _is_stray(refund) or attempt == 4):
                raise InvalidState("the refundable balance changed; read it again and retry") from exc
            conflict = any(
                r is not None and r.code == "TransactionConflict" for r in exc.cancellation_reasons or []
            )
            if not (conflict or refused) or attempt == 4:
                raise
            store.back_off(attempt)


def _release(owner: Owner, refund: records.Refund, reason: str, amount: int | None = None) -> None:
    """Stripe said no: the refund fails and (that part of) its reservation is refundable again
    (on the owner, or on the stray payment it reserved on)."""
    amount, model = int(refund.amount) if amount is None else amount, owner.model
    try:
        with store.transaction() as tx:
            store.transition_in(
                tx,
                refund,
                records.FAILED,
                records.MACHINE,
                [
                    records.Refund.failure_reason.set(reason[:500]),
                    records.Refund.GSI1PK.remove(),
                    records.Refund.GSI1SK.remove(),
                ],
            )
            if _is_stray(refund):
                tx.update(
                    _stray_payment(owner, refund),
                    actions=[order_records.Payment.refund_reserved.add(-amount)],
                    add_version_condition=False,
                )
            else:
                tx.update(
                    owner.item,
                    actions=[
                        *owner.balance_actions(amount, refund.destination),
                        model.refund_reserved.add(-amount),
                    ],
                    add_version_condition=False,
                )
    except pynamodb_errors.TransactWriteError as exc:
        if not store.is_condition_failure(exc):
            raise


def _complete(
    owner: Owner,
    refund: records.Refund,
    stripe_parts: dict[str, tuple[str, int]],
    credit: credit_records.Credit | None = None,
) -> bool:
    """pending → succeeded with every amount it moves, once. ``stripe_parts``: intent → (re id, amount).
    A stray refund moves its payment alone (reserved → refunded), never the owner's amounts."""
    amount, model, stray = int(refund.amount), owner.model, _is_stray(refund)
    done = sum(part for _, part in stripe_parts.values()) if stripe_parts else amount
    extra = [
        records.Refund.stripe_refund_ids.set([re for re, _ in stripe_parts.values()]),
        records.Refund.GSI1PK.remove(),
        records.Refund.GSI1SK.remove(),
    ]
    if credit is not None:
        extra.append(records.Refund.credit_id.set(credit.credit_id))
    if done != amount:
        extra += [
            records.Refund.amount.set(done),
            records.Refund.failure_reason.set(f"only {done} of {amount} could be refunded"),
        ]
    try:
        with store.transaction() as tx:
            store.transition_in(tx, refund, records.SUCCEEDED, records.MACHINE, extra)
            if stray:
                tx.update(
                    _stray_payment(owner, refund),
                    actions=[
                        order_records.Payment.refund_reserved.add(-amount),
                        order_records.Payment.amount_refunded.add(done),
                    ],
                    add_version_condition=False,
                )
            else:
                tx.update(
                    owner.item,
                    actions=[
                        model.refund_reserved.add(-amount),
                        model.amount_refunded.add(done),
                        *owner.balance_actions(amount - done, refund.destination),
                    ],
                    add_version_condition=False,
                )
            for intent, (stripe_refund_id, part) in stripe_parts.items():
                link = records.StripeRefundLink(
                    *records.StripeRefundLink.key(refund.conference_id, stripe_refund_id),
                    owner_pk=refund.PK, refund_id=refund.refund_id, amount=part, payment_intent_id=intent,
                )  # fmt: skip
                tx.save(link, condition=records.StripeRefundLink.PK.does_not_exist())
                payment = None if stray else owner.payment_for(intent)
                if payment is not None:
                    tx.update(
                        payment,
                        actions=[order_records.Payment.amount_refunded.add(part)],
                        add_version_condition=False,
                    )
            if credit is not None:
                tx.save(credit, condition=credit_records.Credit.PK.does_not_exist())
    except pynamodb_errors.TransactWriteError as exc:
        if store.is_condition_failure(exc):
            return False
        raise
    return True


def _call_stripe(owner: Owner, refund: records.Refund, secret_name: str) -> dict[str, tuple[str, int]]:
    """Refund each part at Stripe; returns the parts done. Raises only when none could be done."""
    from boxoffice import stripe_gateway

    split = refund.split or {}
    done: dict[str, tuple[str, int]] = {}
    metadata = {"refund_id": refund.refund_id, "conference_id": refund.conference_id}
    metadata.update({k: v for k, v in owner.ids().items() if v})
    error: PaymentProviderError | None = None
    for intent, part in split.items():
        try:
            stripe_refund = stripe_gateway.create_refund(
                secret_name,
                payment_intent_id=intent,
                amount=int(part),
                reason=refund.reason,
                metadata=metadata,
                idempotency_key=refund.refund_id if len(split) == 1 else f"{refund.refund_id}:{intent}",
            )
        except PaymentProviderError as exc:
            error = exc
            break
        done[intent] = (stripe_refund["id"], int(part))
    if error is not None and not done:
        raise error
    return done


def _found_at_stripe(refund: records.Refund, secret_name: str) -> dict[str, tuple[str, int]]:
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


def _run(owner: Owner, refund: records.Refund, secret_name: str | None) -> records.Refund:
    """Phases 2 and 3 for a reserved refund; also how a retry or the sweep finishes one."""
    if refund.status != records.PENDING:
        owner.settle()  # a crash after completing may have left the status behind the amounts
        return refund
    if refund.destination == "store_credit":
        assert isinstance(owner.item, order_records.Order)
        credit = credit_records.Credit(
            *credit_records.Credit.key(refund.conference_id, f"cr_{refund.refund_id[3:]}"),
            conference_id=refund.conference_id,
            credit_id=f"cr_{refund.refund_id[3:]}",
            user_id=owner.item.user_id,
            amount=int(refund.amount),
            remaining_amount=int(refund.amount),
            currency=refund.currency,
            status=credit_records.AVAILABLE,
            source_order_id=owner.item.order_id,
            note=refund.note,
            created_at=store.now(),
        )
        credit.index()
        _complete(owner, refund, {}, credit)
        freeze_double_paid(owner)  # a dashboard refund may have landed while this one ran
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
                found = _found_at_stripe(refund, secret_name)
                if found:
                    _complete(owner, refund, found)
                    owner.settle()
                    return records.get_refund(refund.PK, refund.refund_id) or refund
            _release(owner, refund, exc.message)
            raise
        _complete(owner, refund, parts)
    owner.settle()
    return records.get_refund(refund.PK, refund.refund_id) or refund


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
    fingerprint = request_hash(**fields)
    refund_id, refund = _existing_or_next_id(owner.item.PK, staff_user, idempotency_key)
    if refund is not None and refund.request_hash not in (None, fingerprint):
        raise IdempotencyConflict("this Idempotency-Key was already used with a different request")
    if refund is None:
        asked = {"reason": reason, "destination": destination, "note": note, "staff_user": staff_user}
        if payment_id is None:
            owner, refund = _new_refund(owner, conference, amount, refund_id, fingerprint, **asked)
        else:
            assert amount is not None  # OrderRefundRequest requires it
            owner, refund = _new_stray_refund(
                owner, conference, payment_id, amount, refund_id, fingerprint, **asked
            )
        refund.GSI1PK, refund.GSI1SK = (
            f"REFUNDS_PENDING#{owner.item.conference_id}",
            f"{store.now().isoformat()}#{refund_id}",
        )
        _reserve_with_retries(owner, refund)
    return view(_run(owner, refund, conference.stripe_secret_name))


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
        raise InvalidState(
            f"a {owner.item.status} {'order' if owner.is_order else 'bulk purchase'} cannot be refunded"
        )
    if destination == "card" and conference.stripe_secret_name is None:
        raise InvalidState("this conference has no Stripe account configured")
    if owner.item.dispute:
        raise InvalidState(f"the payment is disputed ({owner.item.dispute}); refunds wait for the dispute")
    if conference.stripe_secret_name is not None:
        owner = sync_with_stripe(owner, conference.stripe_secret_name)
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
        split=_split(owner, amount) if destination == "card" else None,
        request_hash=fingerprint,
    )
    return owner, refund


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
    item = owner.item
    assert isinstance(item, order_records.Order)  # only an order's refund names a payment
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
    if item.dispute:
        raise InvalidState(f"a payment is disputed ({item.dispute}); refunds wait for the dispute")
    owner = sync_with_stripe(owner, conference.stripe_secret_name)  # dashboard refunds of it count first
    intent = str(payment.payment_intent_id)
    payment = order_records.get_payment(item.conference_id, item.order_id, payment_id) or payment
    _require_left(payment, amount)
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


def _require_left(payment: order_records.Payment, amount: int) -> None:
    """Refuse a stray refund the payment has not enough left for (refunds done and in flight count)."""
    left = payment.refund_left
    if left <= 0:
        raise InvalidState(f"payment {payment.payment_id} has nothing left to refund")
    if amount > left:
        raise ValidationFailed(
            f"amount is more than payment {payment.payment_id} has left to refund",
            details=[{"loc": ["body", "amount"], "msg": f"at most {left}", "type": "value_error"}],
        )


# --- staff refunds ------------------------------------------------------------------------------------------------


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
        Owner(purchase), amount=request.amount, reason=request.reason, destination="card", note="", staff_user=staff_user,
        idempotency_key=idempotency_key,
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
        Owner(order), amount=request.amount, reason=request.reason, destination=request.destination, note=note,
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
    """The sweep: refunds left pending by a crash are completed or released, asking Stripe which."""

    conference = store.get_conference(conference_id)
    cutoff = (store.now() - STALE_PENDING).isoformat()
    finished = 0
    for refund in records.Refund.gsi1.query(
        f"REFUNDS_PENDING#{conference_id}", records.Refund.GSI1SK < cutoff
    ):
        if not isinstance(refund, records.Refund) or refund.status != records.PENDING:
            continue
        owner = _owner_of(
            conference_id,
            {
                "metadata": {
                    k: v
                    for k, v in {
                        "order_id": refund.order_id,
                        "bulk_purchase_id": refund.bulk_purchase_id,
                    }.items()
                    if v
                }
            },
        )
        if owner is None:
            continue
        if refund.destination == "card" and conference is not None and conference.stripe_secret_name:
            found = _found_at_stripe(refund, conference.stripe_secret_name)
            if found:
                _complete(owner, refund, found)
            else:
                _release(owner, refund, "no refund reached Stripe before the request was interrupted")
        else:
            _run(owner, refund, None)
        owner.settle()
        finished += 1
    return finished


# --- Stripe's refund events --------------------------------------------------------------------------------------


def _record_external(owner: Owner, stripe_refund: dict[str, Any]) -> None:
    """A refund made outside our API (the dashboard): counted once, by its Stripe id, against the
    payment it refunded. A refund of money that is not the owner's own payment touches only that
    payment; one whose payment is not recorded yet waits, unmatched, until the payment's event
    arrives and takes it in (``orders.on_session_paid``)."""
    amount, model = int(stripe_refund["amount"]), owner.model
    intent = stripe_refund.get("payment_intent")
    intent = intent if isinstance(intent, str) else None
    against = owner.counts_against(intent)
    refund_id = f"rf_ext_{stripe_refund['id']}"
    refund = records.Refund(
        *records.Refund.key(owner.item.PK, refund_id),
        conference_id=owner.item.conference_id,
        refund_id=refund_id,
        **owner.ids(),
        payment_intent_id=intent,
        amount=amount,
        currency=str(stripe_refund.get("currency") or owner.item.currency),
        reason=str(stripe_refund.get("reason") or "requested_by_customer"),
        destination="card",
        status=records.SUCCEEDED,
        source="external",
        stripe_refund_ids=[stripe_refund["id"]],
        against=None if against == records.OWNER else against,
    )
    link = records.StripeRefundLink(
        *records.StripeRefundLink.key(owner.item.conference_id, stripe_refund["id"]),
        owner_pk=owner.item.PK, refund_id=refund_id, amount=amount, payment_intent_id=intent,
    )  # fmt: skip
    payment = owner.payment_for(intent) if intent else None
    try:
        with store.transaction() as tx:
            tx.save(link, condition=records.StripeRefundLink.PK.does_not_exist())
            tx.save(refund, condition=records.Refund.PK.does_not_exist())
            if against == records.OWNER:
                tx.update(
                    owner.item,
                    actions=[model.amount_refunded.add(amount), *owner.balance_actions(-amount, "card")],
                    add_version_condition=False,
                )
            elif against == records.UNMATCHED and not owner.is_order:
                # Waits for the purchase's payment, which reads this sum and takes it in.
                tx.update(
                    owner.item,
                    actions=[purchases.BulkPurchase.unmatched_refunds.add(amount)],
                    condition=purchases.BulkPurchase.payment_intent_id.does_not_exist(),
                    add_version_condition=False,
                )
            elif against == records.UNMATCHED:
                # Waits for its payment: the payment's transaction reads this sum and takes it in.
                tx.update(
                    owner.item,
                    actions=[order_records.Order.unmatched_refunds.add(amount)],
                    add_version_condition=False,
                )
                if intent:
                    tx.condition_check(
                        order_records.Payment,
                        *order_records.Payment.key(
                            owner.item.conference_id, owner.record_id, f"pay_{intent}"
                        ),
                        condition=order_records.Payment.PK.does_not_exist(),
                    )
            if payment is not None:
                tx.update(
                    payment,
                    actions=[order_records.Payment.amount_refunded.add(amount)],
                    add_version_condition=False,
                )
    except pynamodb_errors.TransactWriteError as exc:
        if not store.is_condition_failure(exc):
            raise
        if records.get_link(owner.item.conference_id, stripe_refund["id"]) is None:
            # Not a duplicate: the payment was recorded meanwhile. Decide again.
            fresh = owner.reload()
            if fresh is not None:
                _record_external(fresh, stripe_refund)
        return
    logger.info(
        "external refund recorded", extra={"owner": owner.item.PK, "amount": amount, "against": against}
    )
    if against == records.OWNER:
        freeze_double_paid(owner)


def freeze_double_paid(owner: Owner, charged_back: int = 0) -> None:
    """Money back now exceeds what was paid: a store credit issued for money that also went back to
    the card, by a refund or by a lost dispute (``charged_back``). The order and every credit it
    issued are flagged, and flagged credits cannot be applied."""
    fresh = owner.reload()
    if fresh is None or not isinstance(fresh.item, order_records.Order):
        return
    order = fresh.item
    back = int(order.amount_refunded) + charged_back
    if back <= int(order.amount_paid):
        return
    over = money.format_amount(back - int(order.amount_paid), order.currency)
    how = "a lost dispute" if charged_back else "a card refund"
    reason = f"money back exceeds what was paid by {over}: a store credit and {how} paid the same money"
    store.add_attention(order, reason)
    for credit in _credits_from(order):
        store.add_attention(credit, reason)
    logger.warning("money paid twice; credits frozen", extra={"order_id": order.order_id})


def _credits_from(order: order_records.Order, depth: int = 5) -> list[credit_records.Credit]:
    """Every credit the order's store-credit refunds issued, and the credits issued again from
    orders those credits paid for (the same money, passed on), a few generations deep."""
    found: list[credit_records.Credit] = []
    frontier, seen = [order.order_id], {order.order_id}
    for _ in range(depth):
        next_orders: list[str] = []
        for order_id in frontier:
            pk = order_records.Order.key(order.conference_id, order_id)[0]
            for refund in records.list_refunds(pk):
                if refund.destination != "store_credit" or not refund.credit_id:
                    continue
                credit = credit_records.get(order.conference_id, refund.credit_id)
                if credit is None:
                    continue
                found.append(credit)
                for application in credit.applications or []:
                    if application.order_id not in seen:
                        seen.add(application.order_id)
                        next_orders.append(application.order_id)
        if not next_orders:
            break
        frontier = next_orders
    return found


def _record_failure(owner: Owner, stripe_refund: dict[str, Any], attempts: int = 4) -> None:
    """A part of a refund that had succeeded failed at the bank: that part is refundable again.

    Each Stripe refund (one part of a split refund) is given back once, guarded by its link; the
    Refund itself becomes failed with the first failed part. What is given back is what was counted:
    the owner's amounts for its own payment, the payment's alone for a duplicate, nothing for a
    refund still waiting for its payment.
    """
    link = records.get_link(owner.item.conference_id, stripe_refund["id"])
    refund = records.get_refund(link.owner_pk, link.refund_id) if link else None
    if link is None or refund is None or link.failed:
        return
    amount, model = int(link.amount or refund.amount), owner.model
    reason = str(stripe_refund.get("failure_reason") or "failed")
    against = refund.counts_against
    try:
        with store.transaction() as tx:
            tx.update(
                link,
                actions=[records.StripeRefundLink.failed.set(True)],
                condition=records.StripeRefundLink.failed.does_not_exist(),
                add_version_condition=False,
            )
            refund_actions = [records.Refund.failure_reason.set(reason)]
            if refund.status == records.SUCCEEDED:
                # Versioned: a refund taken in by its payment meanwhile (against moved) is decided again.
                store.transition_in(tx, refund, records.FAILED, records.MACHINE, refund_actions)
            else:
                # Already failed by another part: what it counted against must still be what was read.
                tx.condition_check(
                    records.Refund,
                    refund.PK,
                    refund.SK,
                    records.Refund.against.does_not_exist()
                    if refund.against is None
                    else records.Refund.against == refund.against,
                )
            if against == records.OWNER:
                tx.update(
                    owner.item,
                    actions=[model.amount_refunded.add(-amount), *owner.balance_actions(amount, "card")],
                    add_version_condition=False,
                )
            elif against == records.UNMATCHED:
                tx.update(
                    owner.item,
                    actions=[model.unmatched_refunds.add(-amount)],
                    add_version_condition=False,
                )
            payment = owner.payment_for(link.payment_intent_id) if link.payment_intent_id else None
            if payment is not None and against != records.UNMATCHED:
                tx.update(
                    payment,
                    actions=[order_records.Payment.amount_refunded.add(-amount)],
                    add_version_condition=False,
                )
    except pynamodb_errors.TransactWriteError as exc:
        if not (store.is_condition_failure(exc) or store.is_conflict(exc)):
            raise
        fresh_link = records.get_link(owner.item.conference_id, stripe_refund["id"])
        if fresh_link is None or fresh_link.failed:
            return  # given back already (a duplicate delivery): nothing more to do
        if attempts <= 1:
            raise  # still racing: the event fails and is retried, never dropped
        # The refund moved meanwhile (its payment took it in, so what it counts against changed):
        # decide again on what it is now, never drop the failure.
        fresh = owner.reload()
        if fresh is not None:
            _record_failure(fresh, stripe_refund, attempts - 1)
        return
    store.add_attention(owner.item, f"refund {refund.refund_id} failed at the bank ({reason})")


def on_stripe_refund(conference_id: str, stripe_refund: dict[str, Any]) -> None:
    """``refund.created``/``updated``/``failed`` and ``charge.refund.updated``: bring our records in line.

    Our own pending refund is completed (single part; a split one completes through its request or
    the sweep). Any other Stripe refund we have no link for is counted once, as external: a
    dashboard refund, or one of ours whose outcome we never learned.
    """
    owner = _owner_of(conference_id, stripe_refund)
    if owner is None:
        return
    ours = (stripe_refund.get("metadata") or {}).get("refund_id")
    refund = records.get_refund(owner.item.PK, ours) if isinstance(ours, str) else None
    linked = records.get_link(conference_id, stripe_refund["id"]) is not None
    if linked and stripe_refund.get("status") in ("failed", "canceled"):
        _record_failure(owner, stripe_refund)
    elif not linked:
        # Not counted yet: what Stripe says now beats the event's snapshot, in either direction.
        now = _as_stripe_has_it(conference_id, stripe_refund)
        failed = now.get("status") in ("failed", "canceled")
        if refund is not None and refund.status == records.PENDING:
            intent = str(now.get("payment_intent"))
            if failed and set(refund.split or {}) == {intent}:
                _release(owner, refund, f"the refund failed at Stripe ({now.get('failure_reason')})")
            elif not failed and set(refund.split or {}) == {intent}:
                _complete(owner, refund, {intent: (now["id"], int(now["amount"]))})
        elif failed:
            logger.info("refund already failed at Stripe; not counted", extra={"refund": now.get("id")})
        else:
            _record_external(owner, now)
    owner.settle()
    freeze_double_paid(owner)  # also on a retry whose first run died before it froze anything


def _as_stripe_has_it(conference_id: str, stripe_refund: dict[str, Any]) -> dict[str, Any]:
    """The refund as Stripe has it now (an event carries a snapshot), with the event's owner ids."""
    from boxoffice import stripe_gateway

    conference = store.get_conference(conference_id)
    if conference is None or conference.stripe_secret_name is None:
        return stripe_refund
    fresh = stripe_gateway.retrieve_refund(conference.stripe_secret_name, stripe_refund["id"])
    metadata = {**(stripe_refund.get("metadata") or {}), **(fresh.get("metadata") or {})}
    return {**fresh, "metadata": metadata}


def sync_with_stripe(owner: Owner, secret_name: str) -> Owner:
    """Before money leaves in any form: every refund Stripe has on the owner's payments is recorded,
    so the balance is the one Stripe would confirm now (a dashboard refund whose events are late
    cannot be paid out again as store credit)."""
    from boxoffice import stripe_gateway

    if isinstance(owner.item, order_records.Order):
        intents = {
            str(p.payment_intent_id)
            for p in order_records.payments_of(owner.item.conference_id, owner.item.order_id)
            if p.method == "stripe" and p.payment_intent_id
        }
    else:
        intents = {owner.item.payment_intent_id} if owner.item.payment_intent_id else set()
    owner_ids = {k: v for k, v in owner.ids().items() if v}
    for intent in sorted(intents):
        for stripe_refund in stripe_gateway.list_refunds(secret_name, intent):
            if records.get_link(owner.item.conference_id, stripe_refund["id"]) is not None:
                if stripe_refund.get("status") in ("failed", "canceled"):
                    _record_failure(owner, stripe_refund)
                continue
            if (stripe_refund.get("metadata") or {}).get("refund_id"):
                continue  # one of ours still in flight: its own request, event or the sweep completes it
            if stripe_refund.get("status") not in ("failed", "canceled"):
                _record_external(owner, {**stripe_refund, "metadata": owner_ids})
    owner.settle()
    return owner.reload() or owner


DISPUTE_OPEN = frozenset({"warning_needs_response", "warning_under_review", "needs_response", "under_review"})


def on_dispute(conference_id: str, dispute: dict[str, Any]) -> None:
    """``charge.dispute.*``: the disputed payment's order or purchase follows the dispute as Stripe
    has it now (events may come in any order): flagged while open, refunds refused while open or
    after it was lost (the cardholder already has the money back), cleared when won."""
    from boxoffice import stripe_gateway

    owner = _owner_of(conference_id, dispute)
    conference = store.get_conference(conference_id)
    if owner is None or conference is None:
        return
    if conference.stripe_secret_name is not None and isinstance(dispute.get("id"), str):
        dispute = {**dispute, **stripe_gateway.retrieve_dispute(conference.stripe_secret_name, dispute["id"])}
    status, dispute_id = str(dispute.get("status")), str(dispute.get("id"))
    amount = money.format_amount(
        int(dispute.get("amount") or 0), str(dispute.get("currency") or owner.item.currency)
    )
    model = owner.model
    if status in DISPUTE_OPEN:
        state: str | None = f"open:{dispute_id}"
        reason = f"dispute {dispute_id} open ({dispute.get('reason')}) for {amount}; refunds wait for it"
    elif status == "lost":
        state = f"lost:{dispute_id}"
        reason = f"dispute {dispute_id} lost: the cardholder got {amount} back through the bank"
    else:
        state, reason = None, f"dispute {dispute_id} {status} for {amount}"
    mine = (model.dispute == f"open:{dispute_id}") | (model.dispute == f"lost:{dispute_id}")
    action = model.dispute.set(state) if state else model.dispute.remove()
    if store.update_if(owner.item, [action], model.dispute.does_not_exist() | mine):
        store.add_attention(owner.item, reason)
    intent = dispute.get("payment_intent")
    stray = owner.counts_against(intent if isinstance(intent, str) else None) == records.EXTRA
    if status == "lost" and not stray:
        # A lost dispute of money nobody keeps (a second tab) gave back that payment, not the money
        # the order's credits stand for: only the order's own payment can make a credit paid twice.
        freeze_double_paid(owner, charged_back=int(dispute.get("amount") or 0))
    logger.warning(
        "payment disputed", extra={"owner": owner.item.PK, "dispute": dispute_id, "status": status}
    )


def on_charge_refunded(conference_id: str, charge: dict[str, Any]) -> None:
    """``charge.refunded``: Stripe's list of the payment's refunds is the truth; record each once."""
    from boxoffice import stripe_gateway

    conference = store.get_conference(conference_id)
    intent = charge.get("payment_intent")
    if conference is None or conference.stripe_secret_name is None or not isinstance(intent, str):
        return
    owner = _owner_of(conference_id, {"payment_intent": intent, "metadata": charge.get("metadata") or {}})
    if owner is None:
        return
    owner_ids = {k: v for k, v in owner.ids().items() if v}
    for stripe_refund in stripe_gateway.list_refunds(conference.stripe_secret_name, intent):
        on_stripe_refund(
            conference_id,
            {**stripe_refund, "metadata": {**owner_ids, **(stripe_refund.get("metadata") or {})}},
        )
