"""Every write of a refund, each one function whose condition is the rule it keeps.

The reservation against the owner's refundable balance (or a stray payment's amounts), its release,
its completion, a refund made outside our API, a part that failed at the bank, a dispute's mark
(on the owner, or on the Payment it disputed when that is not the owner's own).
A guard that failed is reported as a domain error, a ``False`` or :class:`StaleRead` (read again
and decide again), never as PynamoDB's exception. The records are :mod:`boxoffice.store.refunds`'.
"""

from collections.abc import Mapping
from typing import Any

from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from boxoffice.errors import InvalidState
from boxoffice.store import base, bulk_purchases, orders
from boxoffice.store.base import (
    StaleRead,
    is_condition_failure,
    transaction,
    transition_in,
    update_if,
)
from boxoffice.store.bulk_purchases import BulkPurchase
from boxoffice.store.credits import Credit
from boxoffice.store.orders import Order, Payment
from boxoffice.store.refunds import (
    FAILED,
    MACHINE,
    OWNER,
    SUCCEEDED,
    UNMATCHED,
    Refund,
    StripeRefundLink,
    pending_pk,
)

ORDER_REFUNDABLE = (orders.PAID, orders.PARTIALLY_REFUNDED)
PURCHASE_REFUNDABLE = (bulk_purchases.PAID,)
"""The states in which an owner's own payments may be refunded."""

type OwnerItem = Order | BulkPurchase
"""What a refund is against: an order or a bulk purchase (the same money attributes on both)."""


def _refundable_states(owner: OwnerItem) -> tuple[str, ...]:
    return ORDER_REFUNDABLE if isinstance(owner, Order) else PURCHASE_REFUNDABLE


def _balance_actions(owner: OwnerItem, amount: int, destination: str) -> list[Action]:
    """Move the refundable balances by ``amount`` (negative to take) for a refund to ``destination``:
    the card balance for a card refund, and an order's total balance for either."""
    actions: list[Action] = []
    if destination == "card":
        actions.append(type(owner).refundable.add(amount))
    if isinstance(owner, Order):
        actions.append(Order.refundable_total.add(amount))
    return actions


def _index_pending(refund: Refund) -> None:
    """List the refund among its conference's pending ones (the sweep's query), once."""
    if refund.GSI1PK is None:
        refund.GSI1PK = pending_pk(refund.conference_id)
        refund.GSI1SK = f"{base.now().isoformat()}#{refund.refund_id}"  # base.now: a test clock replaces it


def reserve_refund(owner: OwnerItem, refund: Refund) -> None:
    """Phase one of a refund of the owner's own payments, in one transaction: the amount is taken
    from what may be refunded (the owner in a refundable state, ``refundable >= amount`` for the
    card and an order's ``refundable_total >= amount``, its own payment not disputed, but for store
    credit of what a lost dispute left, its chargeback counted) and the pending Refund saved. Raises InvalidState when the guard failed; a transaction cancelled for a concurrent one raises as it
    is (retry it)."""
    amount, model = refund.amount, type(owner)
    condition = model.status.is_in(*_refundable_states(owner)) & _undisputed_for(owner, refund.destination)
    if refund.destination == "card":
        condition &= model.refundable >= amount
    if isinstance(owner, Order):
        condition &= Order.refundable_total >= amount
    _index_pending(refund)
    try:
        with transaction() as tx:
            tx.update(
                owner,
                actions=[
                    *_balance_actions(owner, -amount, refund.destination),
                    model.refund_reserved.add(amount),
                    model.updated_at.set(base.now()),
                ],
                condition=condition,
                add_version_condition=False,
            )
            tx.save(refund, condition=Refund.PK.does_not_exist())
    except TransactWriteError as exc:
        if is_condition_failure(exc):
            raise InvalidState(
                "the refundable balance or a dispute changed; read it again and retry"
            ) from exc
        raise


def _undisputed_for(owner: OwnerItem, destination: str) -> Any:
    """No dispute mark refuses a refund to ``destination``: none at all, or for an order's store
    credit a lost dispute already counted in ``charged_back`` (taken from ``refundable_total``)."""
    if isinstance(owner, Order) and destination == "store_credit":
        return orders.credit_allowed(owner)
    return type(owner).dispute.does_not_exist()


def _credit_still_covered(owner: OwnerItem) -> Any:
    """Completing a store-credit refund: no dispute mark but a counted lost one, and nothing charged
    back since it was reserved that leaves less than it (refunded, reserved and charged back ≤ paid)."""
    condition = _undisputed_for(owner, "store_credit")
    if isinstance(owner, Order):
        condition &= Order.refundable_total >= 0
    return condition


def count_chargeback(order: Order, dispute_id: str, amount: int) -> bool:
    """A lost dispute of the order's own payment gave ``amount`` back through the bank: counted
    once (``chargebacks``) in ``charged_back`` and taken from what may still be refunded, to the
    card and as store credit. Returns whether it wrote (False: counted already)."""
    actions = [
        Order.charged_back.add(amount),
        Order.chargebacks.add({dispute_id}),
        Order.refundable.add(-amount),
        Order.refundable_total.add(-amount),
    ]
    counted = Order.chargebacks.exists() & Order.chargebacks.contains(dispute_id)
    return update_if(order, actions, ~counted)


def reserve_stray_refund(payment: Payment, refund: Refund) -> None:
    """Phase one of a refund of money that is not the owner's own payment: reserved on that payment
    (``refund_reserved``), conditional on the amounts read: neither its refunded nor its reserved
    amount grew since, so what it had left still covers this refund, and it is not disputed. Raises
    StaleRead when they moved (a refund of it completed, failed or began meanwhile, or a dispute of
    it arrived): read the payment again."""
    refunded, reserved = payment.amount_refunded or 0, payment.refund_reserved or 0
    condition = (Payment.own == False) & (Payment.status == "succeeded")  # noqa: E712 (a DynamoDB condition)
    condition &= Payment.dispute.does_not_exist()
    condition &= Payment.amount_refunded.does_not_exist() | (Payment.amount_refunded <= refunded)
    condition &= Payment.refund_reserved.does_not_exist() | (Payment.refund_reserved <= reserved)
    _index_pending(refund)
    try:
        with transaction() as tx:
            tx.update(
                payment,
                actions=[Payment.refund_reserved.add(refund.amount)],
                condition=condition,
                add_version_condition=False,
            )
            tx.save(refund, condition=Refund.PK.does_not_exist())
    except TransactWriteError as exc:
        if is_condition_failure(exc):
            raise StaleRead(f"payment {payment.payment_id} moved since it was read") from exc
        raise


def _fail_pending_in(tx: TransactWrite, refund: Refund, reason: str) -> None:
    transition_in(
        tx,
        refund,
        FAILED,
        MACHINE,
        [Refund.failure_reason.set(reason[:500]), Refund.GSI1PK.remove(), Refund.GSI1SK.remove()],
    )


def release_refund(owner: OwnerItem, refund: Refund, reason: str, amount: int) -> bool:
    """Stripe said no: the pending refund fails and ``amount`` of its reservation is refundable on
    the owner again. False, with nothing written, when the refund was no longer pending."""
    model = type(owner)
    try:
        with transaction() as tx:
            _fail_pending_in(tx, refund, reason)
            tx.update(
                owner,
                actions=[
                    *_balance_actions(owner, amount, refund.destination),
                    model.refund_reserved.add(-amount),
                ],
                add_version_condition=False,
            )
    except TransactWriteError as exc:
        if is_condition_failure(exc):
            return False
        raise
    return True


def release_stray_refund(payment: Payment, refund: Refund, reason: str, amount: int) -> bool:
    """:func:`release_refund` for a refund reserved on a stray payment: the payment's reservation
    shrinks by ``amount``. False, with nothing written, when the refund was no longer pending."""
    try:
        with transaction() as tx:
            _fail_pending_in(tx, refund, reason)
            tx.update(payment, actions=[Payment.refund_reserved.add(-amount)], add_version_condition=False)
    except TransactWriteError as exc:
        if is_condition_failure(exc):
            return False
        raise
    return True


def complete_refund(
    owner: OwnerItem,
    refund: Refund,
    parts: Mapping[str, tuple[str, int]],
    payments: Mapping[str, Payment],
    credit: Credit | None = None,
) -> bool:
    """Phase three, once: pending → succeeded with every amount it moves. ``parts``: payment intent →
    (Stripe refund id, amount), none for store credit; ``payments``: the owner's payment of each
    intent, whose refunded amount moves too. The owner's reservation becomes refunded (what Stripe
    did not refund is refundable again), each Stripe refund is linked (so events and retries count
    it once), and ``credit`` is saved, only while the owner's own payment is not disputed (the bank
    may give that money back; no Stripe refusal stands behind a credit) but a lost one counted
    that leaves enough. False, with nothing written, when it was no longer pending, or a credit
    met a dispute."""
    amount, done, model = refund.amount, _done(refund, parts), type(owner)

    def owner_moves(tx: TransactWrite) -> None:
        tx.update(
            owner,
            actions=[
                model.refund_reserved.add(-amount),
                model.amount_refunded.add(done),
                *_balance_actions(owner, amount - done, refund.destination),
            ],
            # A credit: no dispute but a counted lost one, and nothing charged back since it was
            # reserved that leaves less than it (what is refunded, reserved and charged back ≤ paid).
            condition=_credit_still_covered(owner) if credit is not None else None,
            add_version_condition=False,
        )
        for intent, (_, part) in parts.items():
            payment = payments.get(intent)
            if payment is not None:
                tx.update(payment, actions=[Payment.amount_refunded.add(part)], add_version_condition=False)
        if credit is not None:
            tx.save(credit, condition=Credit.PK.does_not_exist())

    return _complete(refund, parts, owner_moves, credit)


def complete_stray_refund(payment: Payment, refund: Refund, parts: Mapping[str, tuple[str, int]]) -> bool:
    """:func:`complete_refund` for a refund reserved on a stray payment: that payment alone moves
    (reserved → refunded), never the owner's amounts."""
    amount, done = refund.amount, _done(refund, parts)

    def payment_moves(tx: TransactWrite) -> None:
        tx.update(
            payment,
            actions=[Payment.refund_reserved.add(-amount), Payment.amount_refunded.add(done)],
            add_version_condition=False,
        )

    return _complete(refund, parts, payment_moves, None)


def _done(refund: Refund, parts: Mapping[str, tuple[str, int]]) -> int:
    """What was refunded: the parts Stripe did, or (store credit, no parts) the whole amount."""
    return sum(part for _, part in parts.values()) if parts else refund.amount


def _complete(
    refund: Refund,
    parts: Mapping[str, tuple[str, int]],
    moves: Any,
    credit: Credit | None,
) -> bool:
    amount, done = refund.amount, _done(refund, parts)
    extra: list[Action] = [
        Refund.stripe_refund_ids.set([re for re, _ in parts.values()]),
        Refund.GSI1PK.remove(),
        Refund.GSI1SK.remove(),
    ]
    if credit is not None:
        extra.append(Refund.credit_id.set(credit.credit_id))
    if done != amount:
        extra += [
            Refund.amount.set(done),
            Refund.failure_reason.set(f"only {done} of {amount} could be refunded"),
        ]
    try:
        with transaction() as tx:
            transition_in(tx, refund, SUCCEEDED, MACHINE, extra)
            moves(tx)
            for intent, (stripe_refund_id, part) in parts.items():
                link = StripeRefundLink(
                    *StripeRefundLink.key(refund.conference_id, stripe_refund_id),
                    owner_pk=refund.PK, refund_id=refund.refund_id, amount=part, payment_intent_id=intent,
                )  # fmt: skip
                tx.save(link, condition=StripeRefundLink.PK.does_not_exist())
    except TransactWriteError as exc:
        if is_condition_failure(exc):
            return False
        raise
    return True


def record_external_refund(
    owner: OwnerItem, refund: Refund, link: StripeRefundLink, payment: Payment | None
) -> bool:
    """A refund made outside our API, counted once (guarded by its link and its record) against what
    ``refund.against`` says: the owner's amounts for its own payment; ``payment`` alone for money
    that is not its own; for a payment not recorded yet, the owner's ``unmatched_refunds``, which
    that payment's write takes in (guarded here: the payment is still not recorded). False, with
    nothing written, when the guard failed: counted already, or the payment was recorded meanwhile."""
    amount, against, intent = refund.amount, refund.counts_against, link.payment_intent_id
    try:
        with transaction() as tx:
            tx.save(link, condition=StripeRefundLink.PK.does_not_exist())
            tx.save(refund, condition=Refund.PK.does_not_exist())
            if against == OWNER:
                tx.update(
                    owner,
                    actions=[
                        type(owner).amount_refunded.add(amount),
                        *_balance_actions(owner, -amount, "card"),
                    ],
                    add_version_condition=False,
                )
            elif against == UNMATCHED and isinstance(owner, BulkPurchase):
                tx.update(
                    owner,
                    actions=[BulkPurchase.unmatched_refunds.add(amount)],
                    condition=BulkPurchase.payment_intent_id.does_not_exist(),
                    add_version_condition=False,
                )
            elif against == UNMATCHED and isinstance(owner, Order):
                tx.update(owner, actions=[Order.unmatched_refunds.add(amount)], add_version_condition=False)
                if intent:
                    tx.condition_check(
                        Payment,
                        *Payment.key(owner.conference_id, owner.order_id, f"pay_{intent}"),
                        condition=Payment.PK.does_not_exist(),
                    )
            if payment is not None:
                # Counted against what the payment was when read: one that became the order's own
                # (or stopped being it) meanwhile is decided again.
                tx.update(
                    payment,
                    actions=[Payment.amount_refunded.add(amount)],
                    condition=_ownership_as_read(payment),
                    add_version_condition=False,
                )
    except TransactWriteError as exc:
        if is_condition_failure(exc):
            return False
        raise
    return True


def _ownership_as_read(payment: Payment) -> Any:
    """The payment is still the order's own, or still not, as read (``orders.adopt_kept_payment``
    may swap which of two card payments is the order's own)."""
    if payment.is_own:
        return Payment.own.does_not_exist() | (Payment.own == True)  # noqa: E712 (a DynamoDB condition)
    return Payment.own == False  # noqa: E712 (a DynamoDB condition)


def record_refund_failure(
    owner: OwnerItem, link: StripeRefundLink, refund: Refund, reason: str, payment: Payment | None
) -> None:
    """One part of a refund failed at the bank: its amount is given back once (guarded by its link)
    to what it was counted against: the owner's amounts for its own payment, ``payment``'s alone for
    money that is not the owner's own, the owner's ``unmatched_refunds`` for a refund still waiting
    for its payment. The Refund fails with the first failed part. Raises StaleRead when the guard
    failed: the link was given back meanwhile, or the refund moved (its payment took it in)."""
    amount, against, model = link.amount or refund.amount, refund.counts_against, type(owner)
    try:
        with transaction() as tx:
            tx.update(
                link,
                actions=[StripeRefundLink.failed.set(True)],
                condition=StripeRefundLink.failed.does_not_exist(),
                add_version_condition=False,
            )
            refund_actions = [Refund.failure_reason.set(reason)]
            if refund.status == SUCCEEDED:
                # Versioned: a refund taken in by its payment meanwhile (against moved) is decided again.
                transition_in(tx, refund, FAILED, MACHINE, refund_actions)
            else:
                # Already failed by another part: what it counted against must still be what was read.
                tx.condition_check(
                    Refund,
                    refund.PK,
                    refund.SK,
                    Refund.against.does_not_exist()
                    if refund.against is None
                    else Refund.against == refund.against,
                )
            if against == OWNER:
                tx.update(
                    owner,
                    actions=[model.amount_refunded.add(-amount), *_balance_actions(owner, amount, "card")],
                    add_version_condition=False,
                )
            elif against == UNMATCHED:
                tx.update(owner, actions=[model.unmatched_refunds.add(-amount)], add_version_condition=False)
            if payment is not None and against != UNMATCHED:
                tx.update(
                    payment, actions=[Payment.amount_refunded.add(-amount)], add_version_condition=False
                )
    except TransactWriteError as exc:
        if is_condition_failure(exc):
            raise StaleRead(f"refund {refund.refund_id} moved since it was read") from exc
        raise


def mark_dispute(
    item: OwnerItem | Payment, dispute_id: str, state: str | None, *, prevails: bool = False
) -> bool:
    """Set the dispute mark of an owner (its own payment disputed) or of a Payment that is not the
    order's own to ``state`` (``open:{id}`` or ``lost:{id}``; None clears it), unless another dispute
    holds the mark. A mark that ``prevails`` (the owner's own payment charged back) takes the place
    of another dispute's open mark: that dispute's end must not clear it. An order's open mark takes
    the place of a lost one whose chargeback is counted (as read). Returns whether it wrote."""
    model = type(item)
    mine = (model.dispute == f"open:{dispute_id}") | (model.dispute == f"lost:{dispute_id}")
    free = model.dispute.does_not_exist() | mine
    if prevails:
        free |= model.dispute.startswith("open:")
    if isinstance(item, Order) and (state or "").startswith("open:") and orders.chargeback_counted(item):
        # A counted lost mark lets store credit through: an open dispute must refuse it, so it
        # takes that mark's place (its end hands the mark back: the chargeback stays counted).
        free |= orders.credit_allowed(item) & model.dispute.exists()
    if isinstance(item, Payment):
        free &= _ownership_as_read(item)  # one that became the order's own is marked on the order
    action = model.dispute.set(state) if state else model.dispute.remove()
    return update_if(item, [action], free)


def drop_dispute_mark(owner: OwnerItem, dispute_id: str, successor: str | None = None) -> bool:
    """Clear the owner's mark when this dispute holds it: set while its payment was not recorded
    yet, the dispute turned out to be of money that is not the owner's own. In the same write the
    mark becomes ``successor`` when given: a dispute of the owner's own payment that could not take
    the mark while this one held it. Returns whether it wrote."""
    model = type(owner)
    mine = (model.dispute == f"open:{dispute_id}") | (model.dispute == f"lost:{dispute_id}")
    action = model.dispute.set(successor) if successor else model.dispute.remove()
    return update_if(owner, [action], mine)
