"""Orders, their payments, and the guards of redemption.

- ``ORDER#{cid}#{id}`` holds the order; its payments live in the same partition
  (``PAYMENT#{payment_id}``), so an order and its payments are one query.
- ``ORDREF#{cid}#{reference}`` reserves the human-readable reference in the creation transaction.
- ``GSI1`` lists a conference's pending orders by hold expiry (sparse: only while pending), which
  is what the expiry sweep reads; ``GSI2`` lists a user's orders.
- ``ORDERS#{cid}`` has a write-once entry per order for staff listings.

Redemption is a conditional update on the voucher item inside the order's creation transaction
(``vouchers.redeem_in``): active, inside its window (both ends inclusive), and ``times_used +
units <= max_uses`` (a use is one unit: one ticket or one add-on).
"""

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.exceptions import PutError, TransactWriteError
from pynamodb.expressions.update import Action

from boxoffice.store import capacity, credits, vouchers
from boxoffice.store import refunds as refund_records
from boxoffice.store.base import (
    MAX_ATTENTION,
    IntAttribute,
    Item,
    StaleRead,
    StateMachine,
    get_or_none,
    is_condition_failure,
    is_conflict,
    now,
    transaction,
    transition_in,
    update_if,
)
from boxoffice.store.bulk_purchases import BulkPurchase, PaymentIntentLink

BLOCK_HELD, BLOCK_RELEASED = "held", "released"

PENDING, PAID, CANCELLED, PARTIALLY_REFUNDED, REFUNDED = (
    "pending",
    "paid",
    "cancelled",
    "partially_refunded",
    "refunded",
)
MACHINE = StateMachine.of(
    {
        PENDING: {PAID, CANCELLED, PARTIALLY_REFUNDED, REFUNDED},
        PAID: {PARTIALLY_REFUNDED, REFUNDED},
        PARTIALLY_REFUNDED: {PAID, REFUNDED},
        REFUNDED: {PARTIALLY_REFUNDED, PAID},
    }
)
"""Refund states follow the recorded refunds: a refund that fails later may move them back; a late
event never does, because the status is computed from our records, not from the event. A pending
order whose payment is recorded after its refunds (events out of order) goes straight to the
status its amounts give."""


class Order(Item, discriminator="order"):
    conference_id = UnicodeAttribute()
    order_id = UnicodeAttribute()
    reference = UnicodeAttribute()
    user_id = UnicodeAttribute()
    status = UnicodeAttribute()
    currency = UnicodeAttribute()
    lines = JSONAttribute()
    subtotal = IntAttribute()
    discount_amount = IntAttribute()
    total = IntAttribute()
    amount_paid = IntAttribute(default=0)
    amount_refunded = IntAttribute(default=0)
    refundable = IntAttribute(default=0)
    """What may still go back to the card: own Stripe payments minus card refunds pending or succeeded."""
    refundable_total = IntAttribute(default=0)
    """What may still go back as store credit: everything paid (Stripe and credit) minus every refund."""
    refund_reserved = IntAttribute(default=0)
    unmatched_refunds = IntAttribute(default=0)
    """Refunds seen at Stripe whose payment is not recorded yet; its event takes them in."""
    voucher_code = UnicodeAttribute(null=True)
    voucher_units = IntAttribute(null=True)
    """How many of the voucher's uses (units) the order took; given back exactly on cancel."""
    hold_expires_at = UTCDateTimeAttribute(null=True)
    checkout_session_id = UnicodeAttribute(null=True)
    checkout_url = UnicodeAttribute(null=True)
    checkout_expires_at = UTCDateTimeAttribute(null=True)
    checkout_follows = UnicodeAttribute(null=True)
    """The session the next one replaces ("first" for none): names the Stripe idempotency key."""
    checkout_planned_expiry = IntAttribute(null=True)
    """The expiry sent with that key, fixed once so a retried create sends the same parameters."""
    attention = UnicodeAttribute(null=True)
    paid_announced = BooleanAttribute(null=True)
    dispute = UnicodeAttribute(null=True)
    """``open:{id}`` or ``lost:{id}`` while its own payment (or one not recorded yet) is disputed or
    was charged back; a dispute of money that is not its own marks that Payment instead."""
    charged_back = IntAttribute(default=0)
    """What lost disputes of its own payments gave the cardholders back through the bank, each
    counted once (``chargebacks``) and taken from ``refundable`` and ``refundable_total`` then."""
    chargebacks = UnicodeSetAttribute(null=True)
    """The lost disputes counted in ``charged_back``, by Stripe id."""
    settling = UnicodeAttribute(null=True)
    """The session whose delayed payment (a bank debit) is still settling: the order is not cancelled."""
    held_units = JSONAttribute(null=True)
    """Units the order took from capacity counters, per scope; given back exactly on release."""
    block_purchase_id = UnicodeAttribute(null=True)
    block_draws = JSONAttribute(null=True)
    """Units drawn from its code's sponsor block: ``{"ticket": n, "addon": m}``."""
    block_units = JSONAttribute(null=True)
    """The counter scopes those drawn units are held on (by the block), ``{scope: n}``."""
    units_released = BooleanAttribute(null=True)
    """Set, in the same write, when a fully refunded order gave its units back: it happens once."""

    @classmethod
    def key(cls, conference_id: str, order_id: str) -> tuple[str, str]:
        return f"ORDER#{conference_id}#{order_id}", "ORDER"


class Payment(Item, discriminator="payment"):
    conference_id = UnicodeAttribute()
    order_id = UnicodeAttribute()
    payment_id = UnicodeAttribute()
    method = UnicodeAttribute()
    status = UnicodeAttribute()
    amount = IntAttribute()
    amount_refunded = IntAttribute(default=0)
    payment_intent_id = UnicodeAttribute(null=True)
    charge_id = UnicodeAttribute(null=True)
    credit_id = UnicodeAttribute(null=True)
    own = BooleanAttribute(null=True)
    """False for money that is not the order's payment (a second tab, after cancellation, a wrong
    amount): refundable to its card, never counted in the order's amounts. Absent means own."""
    refund_reserved = IntAttribute(null=True)
    """For money that is not the order's own: staff refunds of it in flight (reserved before Stripe
    is called), so concurrent refunds never ask for more than it has left. Absent means 0."""
    dispute = UnicodeAttribute(null=True)
    """For money that is not the order's own: ``open:{id}`` or ``lost:{id}`` while this payment is
    disputed or was charged back (its refunds wait). The order's own payments' disputes mark the order."""
    currency = UnicodeAttribute(null=True)
    """What a card payment was collected in (absent on records from before it was kept)."""

    @property
    def is_own(self) -> bool:
        return self.own is not False

    @property
    def refund_left(self) -> int:
        """What may still be refunded from this payment: its amount minus refunds done and in flight."""
        return self.amount - (self.amount_refunded or 0) - (self.refund_reserved or 0)

    @classmethod
    def key(cls, conference_id: str, order_id: str, payment_id: str) -> tuple[str, str]:
        return f"ORDER#{conference_id}#{order_id}", f"PAYMENT#{payment_id}"


class OrderReference(Item, discriminator="order_reference"):
    order_id = UnicodeAttribute()

    @classmethod
    def key(cls, conference_id: str, reference: str) -> tuple[str, str]:
        return f"ORDREF#{conference_id}#{reference}", "ORDREF"


class OrderListEntry(Item, discriminator="order_entry"):
    order_id = UnicodeAttribute()

    @classmethod
    def key(cls, conference_id: str, created: datetime, order_id: str) -> tuple[str, str]:
        return f"ORDERS#{conference_id}", f"{created.isoformat()}#{order_id}"


def pending_index(order: Order) -> None:
    """While pending, the order is in the sweep's list, ordered by when its hold ends."""
    assert order.hold_expires_at is not None
    order.GSI1PK = f"PENDING_ORDERS#{order.conference_id}"
    order.GSI1SK = f"{order.hold_expires_at.isoformat()}#{order.order_id}"


def leave_pending_index() -> list[Any]:
    return [Order.GSI1PK.remove(), Order.GSI1SK.remove(), Order.hold_expires_at.remove()]


def _unannounced_pk(conference_id: str) -> str:
    return f"UNANNOUNCED_ORDERS#{conference_id}"


def await_announcement(order: Order) -> list[Any]:
    """Leaving pending for paid: ``order.paid`` is due. Until it is published the order sits in a
    sparse list the sweep reads, so a bus that refused the first try is tried again."""
    return [
        Order.GSI1PK.set(_unannounced_pk(order.conference_id)),
        Order.GSI1SK.set(order.order_id),
        Order.hold_expires_at.remove(),
        Order.paid_announced.set(False),
    ]


def mark_awaiting_announcement(order: Order) -> None:
    """The same for an order created paid (a total of 0)."""
    order.GSI1PK, order.GSI1SK = _unannounced_pk(order.conference_id), order.order_id
    order.paid_announced = False


def claim_announcement() -> tuple[list[Any], Any]:
    """The actions and condition that claim the right to publish ``order.paid`` (once)."""
    return [Order.paid_announced.set(True), Order.GSI1PK.remove(), Order.GSI1SK.remove()], (
        Order.paid_announced == False  # noqa: E712 - a DynamoDB condition
    )


def unannounced(conference_id: str) -> list[Order]:
    """Paid orders whose ``order.paid`` has not been published yet."""
    return [o for o in Order.gsi1.query(_unannounced_pk(conference_id)) if isinstance(o, Order)]


def voucher_units(order: Order) -> int:
    """The voucher uses the order holds (records from before units were counted took one)."""
    if order.voucher_code is None:
        return 0
    return 1 if order.voucher_units is None else order.voucher_units


class ReferenceTaken(Exception):
    """The drawn reference exists; draw again."""


class VoucherRefused(Exception):
    """The voucher's guard failed inside the creation transaction."""


class BlockMoved(Exception):
    """The sponsor block's guard failed (released, or drawn by racers): plan the draw again."""


@dataclass(frozen=True)
class BlockDraw:
    """Units an order takes from its code's sponsor block instead of the counters."""

    purchase: BulkPurchase
    ticket: int
    addon: int


def block_draw_in(tx: Any, draw: BlockDraw) -> None:
    """Take the draw from the block: it must still be held and have the units left."""
    actions: list[Any] = []
    condition = BulkPurchase.block_state == BLOCK_HELD
    if draw.ticket:
        actions.append(BulkPurchase.block_left_ticket.add(-draw.ticket))
        condition &= BulkPurchase.block_left_ticket >= draw.ticket
    if draw.addon:
        actions.append(BulkPurchase.block_left_addon.add(-draw.addon))
        condition &= BulkPurchase.block_left_addon >= draw.addon
    tx.update(draw.purchase, actions=actions, condition=condition, add_version_condition=False)


def release_in(tx: Any, order: Order, purchase: BulkPurchase | None, *, to_block: bool = True) -> None:
    """Add the order's units going back to ``tx``: its counter units, and its block draw back to the
    block while the block is held (``purchase`` as read, guarded), else to the counters. A refunded
    order's draw goes to the counters (``to_block=False``): its code's use is not given back.

    The caller's write on the order (its state move or ``units_released`` flag) makes this once.
    """
    capacity.give_back_in(tx, order.conference_id, {k: int(v) for k, v in (order.held_units or {}).items()})
    draws = order.block_draws or {}
    if not order.block_purchase_id or not any(draws.values()):
        return
    if not to_block:
        capacity.give_back_in(
            tx, order.conference_id, {k: int(v) for k, v in (order.block_units or {}).items()}
        )
        return
    assert purchase is not None, "the block's purchase is read before its units go back"
    if purchase.block_state == BLOCK_HELD:
        tx.update(
            purchase,
            actions=[
                BulkPurchase.block_left_ticket.add(int(draws.get("ticket", 0))),
                BulkPurchase.block_left_addon.add(int(draws.get("addon", 0))),
            ],
            condition=BulkPurchase.block_state == BLOCK_HELD,
            add_version_condition=False,
        )
    else:
        tx.condition_check(BulkPurchase, purchase.PK, purchase.SK, BulkPurchase.block_state != BLOCK_HELD)
        units = {k: int(v) for k, v in (order.block_units or {}).items()}
        capacity.give_back_in(tx, order.conference_id, units)


def create(
    order: Order,
    payment: Payment | None,
    voucher_max_uses: int | None = None,
    block: BlockDraw | None = None,
) -> None:
    """Order, reference, list entry, (comp payment), the voucher's uses and the order's units, all or nothing.

    The order's ``voucher_units`` uses are taken from its ``voucher_code``, guarded against
    ``voucher_max_uses`` as read; ``VoucherRefused`` when they are no longer there. Its
    ``held_units`` are taken from the capacity counters (``capacity.SoldOut`` when they do not
    fit), and ``block`` from its code's sponsor block (``BlockMoved`` when that changed).
    """
    voucher_code = order.voucher_code
    units = voucher_units(order)
    entry = OrderListEntry(
        *OrderListEntry.key(order.conference_id, order.created_at, order.order_id), order_id=order.order_id
    )
    reference = OrderReference(
        *OrderReference.key(order.conference_id, order.reference), order_id=order.order_id
    )
    at = now()
    wanted = {k: int(v) for k, v in (order.held_units or {}).items()}
    voucher_at = block_at = None
    index, scopes = 3, list[str]()
    try:
        with transaction() as tx:
            tx.save(order, condition=Order.PK.does_not_exist())
            tx.save(reference, condition=OrderReference.PK.does_not_exist())
            tx.save(entry)
            if payment is not None:
                tx.save(payment, condition=Payment.PK.does_not_exist())
                index += 1
            if voucher_code is not None and units > 0:
                assert voucher_max_uses is not None
                vouchers.redeem_in(tx, order.conference_id, voucher_code, units, voucher_max_uses, at)
                voucher_at, index = index, index + 1
            if block is not None and (block.ticket or block.addon):
                block_draw_in(tx, block)
                block_at, index = index, index + 1
            scopes = capacity.take_in(tx, order.conference_id, wanted)
    except TransactWriteError as exc:
        reasons = exc.cancellation_reasons or []
        failed = [i for i, r in enumerate(reasons) if r is not None and r.code == "ConditionalCheckFailed"]
        if 1 in failed:
            raise ReferenceTaken(order.reference) from exc
        if voucher_at is not None and voucher_at in failed:
            raise VoucherRefused(str(voucher_code)) from exc
        if block_at is not None and block_at in failed:
            raise BlockMoved(order.block_purchase_id) from exc
        short = capacity.sold_out(exc, index, scopes, wanted) if reasons else None
        if short is not None:
            raise short from exc
        raise


def get(conference_id: str, order_id: str) -> Order | None:
    return get_or_none(Order, Order.key(conference_id, order_id))


def get_payment(conference_id: str, order_id: str, payment_id: str) -> Payment | None:
    return get_or_none(Payment, Payment.key(conference_id, order_id, payment_id))


def payments_of(conference_id: str, order_id: str) -> list[Payment]:
    pk = Order.key(conference_id, order_id)[0]
    return [
        p
        for p in Payment.query(pk, Payment.SK.startswith("PAYMENT#"), consistent_read=True)
        if isinstance(p, Payment)
    ]


def pending_past_hold(conference_id: str, at: datetime) -> list[Order]:
    found = Order.gsi1.query(f"PENDING_ORDERS#{conference_id}", Order.GSI1SK < at.isoformat())
    return [o for o in found if isinstance(o, Order)]


def list_entries(
    conference_id: str, *, limit: int, cursor: dict[str, Any] | None
) -> tuple[list[OrderListEntry], dict[str, Any] | None]:
    results = OrderListEntry.query(f"ORDERS#{conference_id}", limit=limit, last_evaluated_key=cursor)
    return [e for e in results if isinstance(e, OrderListEntry)], results.last_evaluated_key


def list_user_orders(
    conference_id: str, user_id: str, *, limit: int, cursor: dict[str, Any] | None
) -> tuple[list[Order], dict[str, Any] | None]:
    results = Order.gsi2.query(f"UORDERS#{conference_id}#{user_id}", limit=limit, last_evaluated_key=cursor)
    return [o for o in results if isinstance(o, Order)], results.last_evaluated_key


def get_many(conference_id: str, order_ids: list[str]) -> dict[str, Order]:
    keys = [Order.key(conference_id, oid) for oid in order_ids]
    return {o.order_id: o for o in Order.batch_get(keys) if isinstance(o, Order)}


# --- payments, checkout and announcement -------------------------------------------------------------------------


class OrderMoved(StaleRead):
    """A write on the order was cancelled: the order, its voucher, a credit, a refund or a counter
    moved meanwhile (or a concurrent transaction held one of them). Read again and decide again.
    ``voucher_short`` says the voucher had fewer uses recorded than a cancel was giving back."""

    def __init__(self, message: str, *, voucher_short: bool = False) -> None:
        super().__init__(message)
        self.voucher_short = voucher_short


def claim_announcement_of(order: Order) -> bool:
    """Claim the right to publish ``order.paid`` (once); False when it was claimed already."""
    actions, unannounced_yet = claim_announcement()
    return update_if(order, actions, unannounced_yet)


def await_first_announcement(order: Order) -> bool:
    """An order that became paid without ever being due its announcement (it was recorded refunded
    before it was paid, and that refund then failed): ``order.paid`` is due now, once. False when
    it was due or published already, or the order is not paid."""
    return update_if(
        order,
        await_announcement(order),
        Order.paid_announced.does_not_exist() & Order.status.is_in(PAID, PARTIALLY_REFUNDED),
    )


def await_announcement_again(order: Order) -> None:
    """The bus refused ``order.paid``: back in the list the sweep reads."""
    update_if(order, await_announcement(order), Order.PK.exists())


def plan_checkout(order: Order, follows: str, planned_expiry: int) -> bool:
    """Fix the session expiry (and the session it replaces) the next checkout sends Stripe. Guarded
    on the order being pending and the planned expiry read; False when either moved."""
    seen = order.checkout_planned_expiry
    return update_if(
        order,
        [Order.checkout_follows.set(follows), Order.checkout_planned_expiry.set(planned_expiry)],
        (Order.status == PENDING)
        & (
            Order.checkout_planned_expiry.does_not_exist()
            if seen is None
            else Order.checkout_planned_expiry == seen
        ),
    )


def attach_checkout_session(order: Order, session_id: str, url: str, expires_at: datetime) -> bool:
    """Keep the created session on the order, while it is pending with the amount paid that was
    read; False when it was cancelled or partly paid meanwhile (the session must then be expired)."""
    return update_if(
        order,
        [
            Order.checkout_session_id.set(session_id),
            Order.checkout_url.set(url),
            Order.checkout_expires_at.set(expires_at),
        ],
        (Order.status == PENDING) & (Order.amount_paid == order.amount_paid),
    )


def mark_checkout_closed(order: Order) -> None:
    """The order's Checkout Session was expired at Stripe: it ends now."""
    update_if(order, [Order.checkout_expires_at.set(now())], Order.PK.exists())


def mark_settling(order: Order, session_id: str) -> bool:
    """A pending order's delayed payment (a bank debit) was submitted; False when not pending."""
    return update_if(order, [Order.settling.set(session_id)], Order.status == PENDING)


def stop_settling(order: Order) -> None:
    """The settling debit (as read) failed: the order may be cancelled again."""
    update_if(order, [Order.settling.remove()], Order.settling == order.settling)


def record_failed_payment(payment: Payment) -> None:
    """Record a failed payment once; a duplicate event changes nothing."""
    try:
        payment.save(condition=Payment.PK.does_not_exist())
    except PutError as exc:
        if not is_condition_failure(exc):
            raise


def early_refunds(order: Order, payment_intent_id: str | None) -> list[refund_records.Refund]:
    """Refunds Stripe made on this payment intent before its payment was recorded (not failed)."""
    return [
        r
        for r in refund_records.list_refunds(order.PK)
        if r.counts_against == refund_records.UNMATCHED
        and r.payment_intent_id == payment_intent_id
        and r.status != refund_records.FAILED
    ]


def record_stripe_payment(
    order: Order,
    payment: Payment,
    link: PaymentIntentLink | None,
    early: Sequence[refund_records.Refund],
    *,
    status: str | None,
    problem: str | None,
) -> None:
    """One transaction: the payment, its intent's link, its early refunds matched, and the order.

    With a ``status`` the payment is the order's own: its amounts grow by the payment (less its
    early refunds) and the order moves to ``status``. Without one it is money that is not the
    order's: ``problem`` is appended to what staff were told (guarded by the text read, never
    clobbered). Either way the order is guarded by the unmatched refunds read. Raises OrderMoved
    when the order or a refund moved meanwhile.
    """
    own = status is not None
    amount, early_amount = payment.amount, payment.amount_refunded or 0
    unmatched = order.unmatched_refunds
    try:
        with transaction() as tx:
            tx.save(payment, condition=Payment.PK.does_not_exist())
            if link is not None:
                tx.save(link, condition=PaymentIntentLink.PK.does_not_exist())
            for refund in early:
                tx.update(
                    refund,
                    actions=[
                        refund_records.Refund.against.set(
                            refund_records.OWNER if own else refund_records.EXTRA
                        )
                    ],
                    condition=refund_records.Refund.against == refund_records.UNMATCHED,
                )
            order_actions: list[Any] = [Order.unmatched_refunds.add(-early_amount)]
            guard = (
                Order.unmatched_refunds == unmatched
                if unmatched
                else (Order.unmatched_refunds.does_not_exist() | (Order.unmatched_refunds == 0))
            )
            if status is not None:
                order_actions += [
                    Order.amount_paid.add(amount),
                    Order.amount_refunded.add(early_amount),
                    Order.refundable.add(amount - early_amount),
                    Order.refundable_total.add(amount - early_amount),
                    Order.settling.remove(),
                    *(
                        await_announcement(order)
                        if status in (PAID, PARTIALLY_REFUNDED)
                        else leave_pending_index()
                    ),
                ]
                transition_in(tx, order, status, MACHINE, order_actions, also=guard)
            else:
                told = order.attention
                text = (f"{told}; {problem}" if told else str(problem))[:MAX_ATTENTION]
                order_actions.append(Order.attention.set(text))
                same_text = Order.attention.does_not_exist() if told is None else Order.attention == told
                tx.update(
                    order, actions=order_actions, condition=guard & same_text, add_version_condition=False
                )
    except TransactWriteError as exc:
        if is_condition_failure(exc) or is_conflict(exc):
            raise OrderMoved("the order or one of its refunds moved while its payment was recorded") from exc
        raise


def adopt_kept_payment(
    order: Order,
    refunded: Payment,
    kept: Payment,
    refunds: Sequence[refund_records.Refund],
    units: dict[str, int] | None = None,
) -> None:
    """One transaction: ``kept`` (money beside the order, untouched) becomes the order's own payment
    and ``refunded`` (its own, refunded in full by ``refunds``) money beside it, those refunds
    counted against it alone; the order's refunded amount drops by them, its balances grow by
    ``kept`` and it is paid again. Every record is guarded by what made the swap right when read:
    the order refunded by those refunds alone, nothing reserved, no dispute nor chargeback counted
    (one landing meanwhile is decided again); ``refunded`` still its
    own and refunded in full; ``kept`` still not its own, with nothing refunded, reserved or
    disputed; each refund still succeeded and counted against the order. An order whose units went
    back takes ``units`` again in the same transaction, guarded by what is free: seats sold to
    someone else meanwhile are never held twice (raises capacity.SoldOut, and nothing moves).
    Raises OrderMoved when any of them moved: read again and decide again."""
    back = refunded.amount_refunded or 0
    released = bool(order.units_released)
    order_actions: list[Any] = [
        Order.amount_refunded.add(-back),
        Order.refundable.add(kept.amount),
        Order.refundable_total.add(kept.amount),
    ]
    if released:
        order_actions.append(Order.units_released.remove())
    scopes: list[str] = []
    nothing_reserved = Payment.refund_reserved.does_not_exist() | (Payment.refund_reserved == 0)
    try:
        with transaction() as tx:
            transition_in(
                tx, order, PAID, MACHINE, order_actions,
                also=(Order.status == REFUNDED) & (Order.amount_refunded == back)
                & (Order.amount_paid == order.amount_paid) & Order.dispute.does_not_exist()
                & (Order.charged_back.does_not_exist() | (Order.charged_back == 0))
                & (Order.refund_reserved.does_not_exist() | (Order.refund_reserved == 0))
                & (Order.units_released.exists() if released else Order.units_released.does_not_exist()),
            )  # fmt: skip
            tx.update(
                refunded,
                actions=[Payment.own.set(False)],
                condition=(Payment.own.does_not_exist() | (Payment.own == True))  # noqa: E712 (a DynamoDB condition)
                & (Payment.status == "succeeded") & (Payment.amount_refunded == refunded.amount)
                & nothing_reserved & Payment.dispute.does_not_exist(),
                add_version_condition=False,
            )  # fmt: skip
            tx.update(
                kept,
                actions=[Payment.own.remove()],
                condition=(Payment.own == False)  # noqa: E712 (a DynamoDB condition)
                & (Payment.status == "succeeded") & (Payment.amount == kept.amount)
                & (Payment.amount_refunded.does_not_exist() | (Payment.amount_refunded == 0))
                & nothing_reserved & Payment.dispute.does_not_exist(),
                add_version_condition=False,
            )  # fmt: skip
            if released:
                scopes = capacity.take_in(tx, order.conference_id, units or {})  # writes 3.. (sold_out)
            for refund in refunds:
                tx.update(
                    refund,
                    actions=[refund_records.Refund.against.set(refund_records.EXTRA)],
                    condition=(refund_records.Refund.status == refund_records.SUCCEEDED)
                    & (
                        refund_records.Refund.against.does_not_exist()
                        | (refund_records.Refund.against == refund_records.OWNER)
                    ),
                    add_version_condition=False,
                )
    except TransactWriteError as exc:
        short = capacity.sold_out(exc, 3, scopes, units or {}) if scopes else None
        if short is not None:
            raise short from exc
        if is_condition_failure(exc) or is_conflict(exc):
            raise OrderMoved(
                "the order, its payments or refunds moved while its own payment changed"
            ) from exc
        raise


# --- store credit ---------------------------------------------------------------------------------------------------


def chargeback_counted(order: Order) -> bool:
    """The order's mark is a lost dispute whose chargeback is counted: what is left after it is
    still the attendee's, and may go back (or be spent) as store credit."""
    mark = order.dispute or ""
    return mark.startswith("lost:") and mark[5:] in (order.chargebacks or set())


def credit_allowed(order: Order) -> Any:
    """The condition that the order's dispute mark, as read, lets store credit through: none, or a
    lost dispute whose chargeback is counted (an open one, or any other mark, refuses it)."""
    condition = Order.dispute.does_not_exist()
    if chargeback_counted(order):
        mark = str(order.dispute)
        condition |= (Order.dispute == mark) & Order.chargebacks.contains(mark[5:])
    return condition


def apply_credit(credit: credits.Credit, order: Order, amount: int, sources: Sequence[Order] = ()) -> Payment:
    """One transaction: a ``credit`` payment of ``amount``, the credit spent by it, and the order's
    amounts (paid, its hold cleared, when it covers the balance). Both are guarded by the amounts
    read, and the order by the session it had and by no bank debit settling, so concurrent
    applications, checkouts and debits can neither overspend the credit nor over-cover the order;
    the ``sources`` (the orders the credit's money came through, as read) by no dispute of their
    payment but a lost one already counted (credits issued before it are frozen by attention).
    Raises OrderMoved when any moved."""
    at = now()
    payment_id = f"pay_cr_{secrets.token_hex(6)}"
    payment = Payment(
        *Payment.key(order.conference_id, order.order_id, payment_id),
        conference_id=order.conference_id, order_id=order.order_id, payment_id=payment_id,
        method="credit", status="succeeded", amount=amount, credit_id=credit.credit_id,
    )  # fmt: skip
    covered = amount == order.total - order.amount_paid
    try:
        with transaction() as tx:
            credits.spend_in(tx, credit, order.order_id, amount, at)
            order_actions: list[Action] = [
                Order.amount_paid.add(amount),
                Order.refundable_total.add(amount),
                Order.updated_at.set(at),
            ]
            if covered:
                order_actions += [Order.status.set(PAID), *await_announcement(order)]
            tx.update(
                order,
                actions=order_actions,
                condition=(Order.status == PENDING)
                & (Order.amount_paid == order.amount_paid)
                & Order.settling.does_not_exist()  # a bank debit submitted meanwhile may still land
                # A checkout that opened a session meanwhile asks for the old balance: read again, close it.
                & (
                    Order.checkout_session_id.does_not_exist()
                    if order.checkout_session_id is None
                    else Order.checkout_session_id == order.checkout_session_id
                ),
                add_version_condition=False,
            )
            tx.save(payment, condition=Payment.PK.does_not_exist())
            for source in sources:  # the orders its money came through: disputed meanwhile, it waits
                key = Order.key(order.conference_id, source.order_id)
                tx.condition_check(Order, *key, condition=credit_allowed(source))
    except TransactWriteError as exc:
        if is_condition_failure(exc) or is_conflict(exc):
            raise OrderMoved("the credit or the order moved while the credit was applied") from exc
        raise
    return payment


type CreditReturn = tuple[Payment, credits.Credit, int]
"""A credit payment of an order, its credit, and what cancelling the order gives back to it."""


def credit_returns(order: Order) -> list[CreditReturn]:
    """What cancelling ``order`` gives back: each succeeded credit payment, capped at its credit's amount."""
    found: list[CreditReturn] = []
    for payment in payments_of(order.conference_id, order.order_id):
        if payment.method != "credit" or payment.status != "succeeded" or not payment.credit_id:
            continue
        credit = credits.get(order.conference_id, payment.credit_id)
        if credit is not None:
            found.append((payment, credit, min(payment.amount, credit.amount - credit.remaining_amount)))
    return found


# --- cancel and units ---------------------------------------------------------------------------------------------


def cancel_order(
    order: Order, returns: Sequence[CreditReturn], block: BulkPurchase | None, *, voucher_uses: int
) -> None:
    """pending → cancelled in one transaction: ``voucher_uses`` of its voucher given back (never
    below 0), every credit payment in ``returns`` marked refunded and its amount returned to its
    credit, and its units back to the counters or its sponsor ``block``. Guarded on the order not
    settling and on everything read. Raises OrderMoved (``voucher_short`` when the voucher's guard
    failed) for any cancelled transaction: the caller reads again and decides again.
    """
    returned = sum(payment.amount for payment, _, _ in returns)
    try:
        with transaction() as tx:
            transition_in(
                tx, order, CANCELLED, MACHINE,
                [*leave_pending_index(), Order.amount_paid.add(-returned), Order.refundable_total.add(-returned)],
                also=Order.settling.does_not_exist(),
            )  # fmt: skip
            if voucher_uses:
                vouchers.give_back_in(tx, order.conference_id, str(order.voucher_code), voucher_uses)
            for payment, credit, back in returns:
                tx.update(
                    payment,
                    actions=[Payment.status.set("refunded")],
                    condition=Payment.status == "succeeded",
                    add_version_condition=False,
                )
                credits.give_back_in(tx, credit, back)
            release_in(tx, order, block)
    except TransactWriteError as exc:
        reasons = exc.cancellation_reasons or []
        voucher_failed = (
            bool(voucher_uses)
            and len(reasons) > 1
            and reasons[1] is not None
            and reasons[1].code == "ConditionalCheckFailed"
        )
        raise OrderMoved(
            "the order, its voucher or a credit moved while it was cancelled", voucher_short=voucher_failed
        ) from exc


def release_units(order: Order) -> bool:
    """A fully refunded order's units go back, once: ``units_released`` is set in the same
    transaction, guarded on the order being refunded and not released yet. Its block draw goes to
    the counters. False when the guard failed; OrderMoved when a busy counter cancelled it."""
    try:
        with transaction() as tx:
            tx.update(
                order,
                actions=[Order.units_released.set(True)],
                condition=(Order.status == REFUNDED) & Order.units_released.does_not_exist(),
                add_version_condition=False,
            )
            release_in(tx, order, None, to_block=False)
    except TransactWriteError as exc:
        if is_condition_failure(exc):
            return False
        raise OrderMoved("a counter moved while the order's units were released") from exc
    return True


def retake_units(order: Order, units: dict[str, int]) -> bool:
    """A refunded order paid again takes ``units`` back, once, never refused (the attendee paid):
    ``units_released`` is removed in the same transaction, guarded on the order being paid and
    released. False when the guard failed; OrderMoved when a busy counter cancelled it."""
    try:
        with transaction() as tx:
            tx.update(
                order,
                actions=[Order.units_released.remove()],
                condition=Order.status.is_in(PAID, PARTIALLY_REFUNDED) & Order.units_released.exists(),
                add_version_condition=False,
            )
            capacity.take_unguarded_in(tx, order.conference_id, units)
    except TransactWriteError as exc:
        if is_condition_failure(exc):
            return False
        raise OrderMoved("a counter moved while the order took its units back") from exc
    return True
