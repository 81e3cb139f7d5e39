"""Orders, their payments, and the guards of redemption.

- ``ORDER#{cid}#{id}`` holds the order; its payments live in the same partition
  (``PAYMENT#{payment_id}``), so an order and its payments are one query.
- ``ORDREF#{cid}#{reference}`` reserves the human-readable reference in the creation transaction.
- ``GSI1`` lists a conference's pending orders by hold expiry (sparse: only while pending), which
  is what the expiry sweep reads; ``GSI2`` lists a user's orders.
- ``ORDERS#{cid}`` has a write-once entry per order for staff listings.

Redemption is a conditional update on the voucher item inside the order's creation transaction:
active, inside its window (both ends inclusive), and ``times_used + units <= max_uses`` (a use
is one unit: one ticket or one add-on).
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.exceptions import TransactWriteError

from boxoffice.store import capacity
from boxoffice.store.base import IntAttribute, Item, StateMachine, get_or_none, now, transaction
from boxoffice.store.bulk_purchases import BulkPurchase
from boxoffice.store.vouchers import Voucher

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
    """``open:{id}`` or ``lost:{id}`` while the payment is disputed or was charged back."""
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


def redemption_condition(at: datetime, units: int, max_uses: int) -> Any:
    """The voucher may give ``units`` uses now: active, in its window (inclusive), and
    ``times_used + units <= max_uses`` (``max_uses`` as read, and unchanged since)."""
    return (
        (Voucher.is_active == True)  # noqa: E712 - a DynamoDB condition, not a Python comparison
        & (Voucher.max_uses == max_uses)
        & (Voucher.times_used <= max_uses - units)
        & (Voucher.valid_from.does_not_exist() | (Voucher.valid_from <= at))
        & (Voucher.valid_until.does_not_exist() | (Voucher.valid_until >= at))
    )


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
                voucher = Voucher(*Voucher.key(order.conference_id, voucher_code))
                tx.update(
                    voucher,
                    actions=[Voucher.times_used.add(units), Voucher.updated_at.set(at)],
                    condition=Voucher.PK.exists() & redemption_condition(at, units, voucher_max_uses),
                    add_version_condition=False,
                )
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
