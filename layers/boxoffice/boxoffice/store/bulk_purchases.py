"""Bulk purchases: the record, its list entry, its code segment, and its payment-intent link.

Keys are chosen so fulfillment stays cheap (see the voucher budget in the README):

- the purchase item ``BP#{cid}#{id}`` carries no index keys, so each of its writes costs one WCU;
- a list entry in the conference's purchase partition ``BPS#{cid}``, written once at creation,
  lets staff and sponsors list purchases (the current state is then read by primary key);
- the segment ``CODESEG#{cid}#{segment}`` is reserved in the same creation transaction, which is
  what makes every code of the conference unique;
- ``PI#{cid}#{payment_intent}`` points refund and dispute events at the purchase they are about.
"""

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.exceptions import PutError, TransactWriteError
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from boxoffice.store import capacity
from boxoffice.store.base import (
    IntAttribute,
    Item,
    StaleRead,
    StateMachine,
    TransitionRejected,
    get_or_none,
    is_condition_failure,
    is_conflict,
    now,
    transaction,
    transition,
    transition_in,
    update_if,
)

PENDING, APPROVED, PROCESSING, PAID, FAILED, REFUNDED = (
    "pending",
    "approved",
    "processing",
    "paid",
    "failed",
    "refunded",
)

MACHINE = StateMachine.of(
    {
        PENDING: {APPROVED, PROCESSING, FAILED, PAID},
        APPROVED: {PAID},
        PROCESSING: {PENDING, PAID, FAILED},
        FAILED: {PAID},  # payment evidence beats failure: the money was taken
        PAID: {REFUNDED},
        REFUNDED: {PAID},  # the refund failed at the bank: the sponsor paid, the codes work again
    }
)
"""Allowed moves. processing → pending only when Stripe refused to create the session; pending →
paid when payment evidence arrives for a purchase whose checkout never recorded its move."""


class BulkPurchase(Item, discriminator="bulk_purchase"):
    """What fulfilment reads and writes. Stored names are short and display-only fields live in
    PurchaseDetails, so the item stays under 1 KB and each of its writes costs one WCU."""

    conference_id = UnicodeAttribute(attr_name="cid")
    purchase_id = UnicodeAttribute(attr_name="bid")
    sponsor_id = UnicodeAttribute(null=True, attr_name="sp")
    quantity = IntAttribute(attr_name="q")
    ticket_type_id = UnicodeAttribute(null=True, attr_name="tt")
    addon_id = UnicodeAttribute(null=True, attr_name="ao")
    unit_price = IntAttribute(attr_name="up")
    total_amount = IntAttribute(attr_name="ta")
    amount_paid = IntAttribute(default=0, attr_name="ap")
    amount_refunded = IntAttribute(default=0, attr_name="ar")
    refund_reserved = IntAttribute(default=0, attr_name="rr")
    refundable = IntAttribute(default=0, attr_name="rf")
    """amount_paid - amount_refunded - refund_reserved, kept in step so a condition can guard it."""
    unmatched_refunds = IntAttribute(default=0, attr_name="um")
    """Dashboard refunds seen before the purchase's payment: not counted until the payment says
    whether they refunded it (its own intent) or a duplicate's (another intent)."""
    currency = UnicodeAttribute(attr_name="cu")
    status = UnicodeAttribute(attr_name="st")
    voucher_config = JSONAttribute(attr_name="vc")
    code_prefix = UnicodeAttribute(attr_name="cp")
    code_segment = UnicodeAttribute(attr_name="cs")
    code_key = UnicodeAttribute(attr_name="ck")
    checkout_session_id = UnicodeAttribute(null=True, attr_name="sid")
    checkout_expires_at = UTCDateTimeAttribute(null=True, attr_name="sx")
    payment_intent_id = UnicodeAttribute(null=True, attr_name="pi")
    vouchers_generated = IntAttribute(default=0, attr_name="vg")
    fulfillment_attempts = IntAttribute(default=0, attr_name="fa")
    fulfillment_lease_until = UTCDateTimeAttribute(null=True, attr_name="fl")
    fulfilled_announced = BooleanAttribute(null=True, attr_name="fan")
    vouchers_deactivated = BooleanAttribute(null=True, attr_name="vd")
    refund_announced = BooleanAttribute(null=True, attr_name="ran")
    attention = UnicodeAttribute(null=True, attr_name="at")
    dispute = UnicodeAttribute(null=True, attr_name="dp")
    """``open:{id}`` or ``lost:{id}`` while its own payment (or one not recorded yet) is disputed or
    was charged back; a dispute of a second tab's payment only flags the purchase for staff."""
    requested_by = UnicodeAttribute(attr_name="rb")
    approved_by = UnicodeAttribute(null=True, attr_name="ab")
    block = JSONAttribute(null=True, attr_name="bk")
    """The sponsor block: units held per capacity scope (``quantity`` on each limited scope of its items)."""
    block_state = UnicodeAttribute(null=True, attr_name="bks")
    """``held`` from checkout (approval for a comp deal); ``released`` once given back. Absent: none."""
    block_left_ticket = IntAttribute(null=True, attr_name="blt")
    """Block units of the ticket type not yet drawn by orders redeeming its codes."""
    block_left_addon = IntAttribute(null=True, attr_name="bla")
    """Block units of the add-on not yet drawn by orders redeeming its codes."""

    @classmethod
    def key(cls, conference_id: str, purchase_id: str) -> tuple[str, str]:
        return f"BP#{conference_id}#{purchase_id}", "BULK_PURCHASE"


class PurchaseDetails(Item, discriminator="bulk_purchase_details"):
    """Display-only fields, in the purchase's partition: fulfilment never reads or writes them."""

    description = UnicodeAttribute(default="")
    checkout_url = UnicodeAttribute(null=True)

    @classmethod
    def key(cls, conference_id: str, purchase_id: str) -> tuple[str, str]:
        return f"BP#{conference_id}#{purchase_id}", "DETAILS"


class PurchaseListEntry(Item, discriminator="bulk_purchase_entry"):
    """Written once: lets a conference's (or a sponsor's) purchases be listed without an index."""

    purchase_id = UnicodeAttribute()
    sponsor_id = UnicodeAttribute(null=True)

    @classmethod
    def key(
        cls, conference_id: str, sponsor_id: str | None, created: datetime, purchase_id: str
    ) -> tuple[str, str]:
        return f"BPS#{conference_id}", f"{sponsor_id or '-'}#{created.isoformat()}#{purchase_id}"


class CodeSegment(Item, discriminator="code_segment"):
    purchase_id = UnicodeAttribute()

    @classmethod
    def key(cls, conference_id: str, segment: str) -> tuple[str, str]:
        return f"CODESEG#{conference_id}#{segment}", "CODESEG"


class PaymentIntentLink(Item, discriminator="payment_intent_link"):
    """Which purchase (or, later, order) a Stripe payment intent paid for."""

    kind = UnicodeAttribute()
    record_id = UnicodeAttribute()

    @classmethod
    def key(cls, conference_id: str, payment_intent_id: str) -> tuple[str, str]:
        return f"PI#{conference_id}#{payment_intent_id}", "PI"


class SegmentTaken(Exception):
    """The drawn code segment belongs to another purchase; draw again."""


def create(purchase: BulkPurchase, details: PurchaseDetails) -> None:
    """Write the purchase, its details, list entry and segment in one transaction, or raise SegmentTaken."""
    entry = PurchaseListEntry(
        *PurchaseListEntry.key(
            purchase.conference_id, purchase.sponsor_id, purchase.created_at, purchase.purchase_id
        ),
        purchase_id=purchase.purchase_id,
        sponsor_id=purchase.sponsor_id,
    )
    segment = CodeSegment(
        *CodeSegment.key(purchase.conference_id, purchase.code_segment), purchase_id=purchase.purchase_id
    )
    try:
        with transaction() as tx:
            tx.save(purchase, condition=BulkPurchase.PK.does_not_exist())
            tx.save(entry)
            tx.save(segment, condition=CodeSegment.PK.does_not_exist())
            tx.save(details)
    except TransactWriteError as exc:
        reasons = exc.cancellation_reasons or []
        if len(reasons) == 4 and reasons[2] is not None and reasons[2].code == "ConditionalCheckFailed":
            raise SegmentTaken(purchase.code_segment) from exc
        raise


def get(conference_id: str, purchase_id: str) -> BulkPurchase | None:
    return get_or_none(BulkPurchase, BulkPurchase.key(conference_id, purchase_id))


def get_with_details(conference_id: str, purchase_id: str) -> tuple[BulkPurchase, PurchaseDetails] | None:
    """The purchase and its details in one query of its partition."""
    purchase = details = None
    for item in Item.query(BulkPurchase.key(conference_id, purchase_id)[0], consistent_read=True):
        if isinstance(item, BulkPurchase):
            purchase = item
        elif isinstance(item, PurchaseDetails):
            details = item
    if purchase is None:
        return None
    return purchase, details or PurchaseDetails(*PurchaseDetails.key(conference_id, purchase_id))


def details_of_many(conference_id: str, purchase_ids: Sequence[str]) -> dict[str, PurchaseDetails]:
    keys = [PurchaseDetails.key(conference_id, pid) for pid in purchase_ids]
    return {
        d.PK.rsplit("#", 1)[1]: d for d in PurchaseDetails.batch_get(keys) if isinstance(d, PurchaseDetails)
    }


def set_checkout_url(conference_id: str, purchase_id: str, url: str) -> None:
    PurchaseDetails(*PurchaseDetails.key(conference_id, purchase_id)).update(
        actions=[PurchaseDetails.checkout_url.set(url), PurchaseDetails.updated_at.set(now())],
        add_version_condition=False,
    )


def list_entries(
    conference_id: str, sponsor_id: str | None, *, limit: int, cursor: dict[str, Any] | None
) -> tuple[list[PurchaseListEntry], dict[str, Any] | None]:
    """A page of list entries, newest last; a sponsor's own when ``sponsor_id`` is given."""
    condition = PurchaseListEntry.SK.startswith(f"{sponsor_id}#") if sponsor_id else None
    results = PurchaseListEntry.query(
        f"BPS#{conference_id}", range_key_condition=condition, limit=limit, last_evaluated_key=cursor
    )
    entries = [e for e in results if isinstance(e, PurchaseListEntry)]
    return entries, results.last_evaluated_key


def get_many(conference_id: str, purchase_ids: Sequence[str]) -> dict[str, BulkPurchase]:
    keys = [BulkPurchase.key(conference_id, pid) for pid in purchase_ids]
    return {p.purchase_id: p for p in BulkPurchase.batch_get(keys) if isinstance(p, BulkPurchase)}


def update_guarded(purchase: BulkPurchase, actions: list[Action], condition: Any) -> bool:
    """One conditional update of the purchase; False when the condition does not hold."""
    return update_if(purchase, actions, condition)


def mark_paid(
    purchase: BulkPurchase, actions: list[Action], condition: Any, payment_intent_id: str | None, amount: int
) -> int | None:
    """One transaction: the purchase paid ``amount`` (``actions`` under ``condition``), taking in the refunds
    seen before its payment. Those of ``payment_intent_id`` count against it; the others refunded a
    duplicate (another tab's payment) and never touch it. Guarded by the unmatched sum read, so a
    refund recorded meanwhile makes this fail (None) and the caller reads again. Returns the amount
    of early refunds that counted against this payment."""
    from boxoffice.store import refunds as refund_records

    early = [
        r
        for r in refund_records.list_refunds(purchase.PK)
        if r.counts_against == refund_records.UNMATCHED and r.status != refund_records.FAILED
    ]
    own = sum(r.amount for r in early if payment_intent_id and r.payment_intent_id == payment_intent_id)
    unmatched = purchase.unmatched_refunds or 0
    guard = (
        BulkPurchase.unmatched_refunds == unmatched
        if unmatched
        else BulkPurchase.unmatched_refunds.does_not_exist() | (BulkPurchase.unmatched_refunds == 0)
    )
    taken = [BulkPurchase.refundable.add(amount - own)]  # added: a refund may be in flight (reserved)
    if early:
        taken += [
            BulkPurchase.unmatched_refunds.add(-sum(r.amount for r in early)),
            BulkPurchase.amount_refunded.add(own),
        ]
    if not early:
        # The common case: one conditional write (a transaction would cost twice the units).
        return own if update_if(purchase, [*actions, *taken], condition & guard) else None
    try:
        with transaction() as tx:
            for refund in early:
                mine = payment_intent_id is not None and refund.payment_intent_id == payment_intent_id
                tx.update(
                    refund,
                    actions=[
                        refund_records.Refund.against.set(
                            refund_records.OWNER if mine else refund_records.EXTRA
                        )
                    ],
                    condition=refund_records.Refund.against == refund_records.UNMATCHED,
                )
            tx.update(
                purchase, actions=[*actions, *taken], condition=condition & guard, add_version_condition=False
            )
    except TransactWriteError as exc:
        if is_condition_failure(exc) or is_conflict(exc):
            return None
        raise
    return own


def claim_fulfillment(purchase: BulkPurchase, from_states: Sequence[str], lease: timedelta) -> bool:
    """Take the purchase's fulfillment lease: from an allowed state, and no live lease held."""
    at = now()
    condition = BulkPurchase.status.is_in(*from_states) & (
        BulkPurchase.fulfillment_lease_until.does_not_exist() | (BulkPurchase.fulfillment_lease_until < at)
    )
    return update_guarded(
        purchase,
        [BulkPurchase.fulfillment_lease_until.set(at + lease), BulkPurchase.fulfillment_attempts.add(1)],
        condition,
    )


def link_payment_intent(conference_id: str, payment_intent_id: str, purchase_id: str) -> None:
    """Point ``payment_intent_id`` at the purchase; an existing identical link is left as it is."""
    link = PaymentIntentLink(
        *PaymentIntentLink.key(conference_id, payment_intent_id), kind="bulk_purchase", record_id=purchase_id
    )
    try:
        # No version condition: re-putting the same link must pass, and PynamoDB's would refuse it.
        link.save(
            condition=PaymentIntentLink.PK.does_not_exist() | (PaymentIntentLink.record_id == purchase_id),
            add_version_condition=False,
        )
    except PutError as exc:
        if not is_condition_failure(exc):
            raise
        raise ValueError(f"payment intent {payment_intent_id} already belongs to another record") from exc


def find_by_payment_intent(conference_id: str, payment_intent_id: str) -> PaymentIntentLink | None:
    return get_or_none(PaymentIntentLink, PaymentIntentLink.key(conference_id, payment_intent_id))


# --- the service's writes: checkout, fulfilment, refunds ---------------------------------------------------------


BLOCK_HELD, BLOCK_RELEASED = "held", "released"


class BlockMoved(StaleRead):
    """A move of the purchase with its sponsor block was cancelled: the purchase, its block (an
    order drew or gave back) or a counter moved meanwhile. ``cancelled`` is False when DynamoDB
    refused the transaction for another reason (nothing to read again)."""

    def __init__(self, message: str, *, cancelled: bool) -> None:
        super().__init__(message)
        self.cancelled = cancelled


def _hold_actions(purchase: BulkPurchase, units: dict[str, int]) -> list[Action]:
    quantity = purchase.quantity
    return [
        BulkPurchase.block.set(units),
        BulkPurchase.block_state.set(BLOCK_HELD),
        BulkPurchase.block_left_ticket.set(quantity if purchase.ticket_type_id else 0),
        BulkPurchase.block_left_addon.set(quantity if purchase.addon_id else 0),
    ]


def _no_block_held() -> Any:
    return BulkPurchase.block_state.does_not_exist() | (BulkPurchase.block_state == BLOCK_RELEASED)


def _block_guard(purchase: BulkPurchase) -> Any:
    """The block is held, and no order drew from it or gave back since it was read."""
    return (
        (BulkPurchase.block_state == BLOCK_HELD)
        & (BulkPurchase.block_left_ticket == (purchase.block_left_ticket or 0))
        & (BulkPurchase.block_left_addon == (purchase.block_left_addon or 0))
    )


def undrawn(purchase: BulkPurchase) -> dict[str, int]:
    """What releasing the block now gives back per scope: the units orders have not drawn."""
    left = {"ticket": purchase.block_left_ticket or 0, "addon": purchase.block_left_addon or 0}
    return {
        scope: left["addon" if scope.startswith("addon#") else "ticket"] for scope in (purchase.block or {})
    }


def _state_actions(approved_by: str | None, checkout_expires_at: datetime | None) -> list[Action]:
    actions: list[Action] = []
    if approved_by is not None:
        actions.append(BulkPurchase.approved_by.set(approved_by))
    if checkout_expires_at is not None:
        actions.append(BulkPurchase.checkout_expires_at.set(checkout_expires_at))
    return actions


def move_holding_block(
    purchase: BulkPurchase,
    to_state: str,
    units: dict[str, int],
    *,
    approved_by: str | None = None,
    checkout_expires_at: datetime | None = None,
) -> BulkPurchase:
    """Move the purchase to ``to_state`` (recording who approved it, or its planned session expiry)
    and hold its block of ``units``, in one transaction; returns the purchase read again.

    The units are taken from the counters guarded by what is free: ``capacity.SoldOut`` when they
    do not fit, and nothing changes. TransitionRejected (with the current record) when the purchase
    moved. A conflict on a busy counter is raised as it is, for ``retry_on_conflict``.
    """
    actions = _state_actions(approved_by, checkout_expires_at)
    if not units:
        return transition(purchase, to_state, MACHINE, actions)
    scopes: list[str] = []
    try:
        with transaction() as tx:
            transition_in(
                tx, purchase, to_state, MACHINE, [*actions, *_hold_actions(purchase, units)],
                attr="status", also=_no_block_held(),
            )  # fmt: skip
            scopes = capacity.take_in(tx, purchase.conference_id, units)
    except TransactWriteError as exc:
        reasons = exc.cancellation_reasons or []
        short = capacity.sold_out(exc, 1, scopes, units) if reasons else None
        if short is not None:
            raise short from exc
        if reasons and reasons[0] is not None and reasons[0].code == "ConditionalCheckFailed":
            current = get(purchase.conference_id, purchase.purchase_id)
            raise TransitionRejected(
                f"bulk purchase is {current.status if current else 'gone'}; cannot move to {to_state}",
                current=current,
            ) from exc
        raise
    fresh = get(purchase.conference_id, purchase.purchase_id)
    assert fresh is not None
    return fresh


def move_releasing_block(purchase: BulkPurchase, to_state: str) -> bool:
    """Move the purchase to ``to_state`` (failed, or back to pending) and release its block (the
    undrawn units back to the counters) at once, guarded on the block as read. Returns whether a
    block was released. TransitionRejected when the purchase moved (no block held); BlockMoved
    when the transaction was refused."""
    if purchase.block_state != BLOCK_HELD:
        transition(purchase, to_state, MACHINE)
        return False
    _release_block(
        purchase,
        lambda tx: transition_in(
            tx, purchase, to_state, MACHINE,
            [BulkPurchase.block_state.set(BLOCK_RELEASED)], also=_block_guard(purchase),
        ),
    )  # fmt: skip
    return True


def release_unredeemed(purchase: BulkPurchase) -> None:
    """A refunded purchase's block is released: its undrawn units back to the counters, once,
    guarded on the purchase being refunded and the block as read. BlockMoved when refused."""
    _release_block(
        purchase,
        lambda tx: tx.update(
            purchase,
            actions=[BulkPurchase.block_state.set(BLOCK_RELEASED)],
            condition=_block_guard(purchase) & (BulkPurchase.status == REFUNDED),
            add_version_condition=False,
        ),
    )


def _release_block(purchase: BulkPurchase, mark_released: Callable[[TransactWrite], None]) -> None:
    """One transaction: ``mark_released`` marks the purchase's block released under its guard, and
    the block's undrawn units go back to the counters. BlockMoved when the transaction was refused."""
    try:
        with transaction() as tx:
            mark_released(tx)
            capacity.give_back_in(tx, purchase.conference_id, undrawn(purchase))
    except TransactWriteError as exc:
        raise BlockMoved(
            f"bulk purchase {purchase.purchase_id} or its block moved",
            cancelled=bool(exc.cancellation_reasons),
        ) from exc


def rehold_block(purchase: BulkPurchase, status: str, units: dict[str, int]) -> bool:
    """The released block comes back with the purchase in ``status``: ``units`` taken even past
    capacity (the money was taken), once, guarded on the status and the block released. False
    when the guard failed."""
    try:
        with transaction() as tx:
            tx.update(
                purchase,
                actions=[BulkPurchase.block_state.set(BLOCK_HELD)],
                condition=(BulkPurchase.status == status) & (BulkPurchase.block_state == BLOCK_RELEASED),
                add_version_condition=False,
            )
            capacity.take_unguarded_in(tx, purchase.conference_id, units)
    except TransactWriteError as exc:
        if not is_condition_failure(exc):
            raise
        return False
    return True


def attach_checkout_session(purchase: BulkPurchase, session_id: str, expires_at: datetime) -> bool:
    """Keep the created session on the purchase while it is processing; False when it moved on."""
    return update_if(
        purchase,
        [BulkPurchase.checkout_session_id.set(session_id), BulkPurchase.checkout_expires_at.set(expires_at)],
        BulkPurchase.status == PROCESSING,
    )


def mark_fulfilled_announced(purchase: BulkPurchase) -> None:
    """``bulk_purchase.fulfilled`` was published for the paid purchase."""
    update_if(purchase, [BulkPurchase.fulfilled_announced.set(True)], BulkPurchase.status == PAID)


def drop_fulfillment_lease(purchase: BulkPurchase) -> None:
    """Give up the fulfilment lease this run holds (its attempt count as read), so a retry resumes at once."""
    update_if(
        purchase,
        [BulkPurchase.fulfillment_lease_until.remove()],
        BulkPurchase.fulfillment_attempts == purchase.fulfillment_attempts,
    )


def mark_fulfilled(
    purchase: BulkPurchase,
    from_states: Sequence[str],
    *,
    amount_paid: int | None,
    payment_intent_id: str | None,
) -> int | None:
    """The purchase paid with all its codes written, its lease dropped, ``bulk_purchase.fulfilled``
    due; guarded on its state and on this run's lease (its attempt count as read). Early refunds
    are taken in (:func:`mark_paid`). None when the guard failed or a refund was recorded meanwhile."""
    actions: list[Action] = [
        BulkPurchase.status.set(PAID),
        BulkPurchase.vouchers_generated.set(purchase.quantity),
        BulkPurchase.fulfillment_lease_until.remove(),
        BulkPurchase.fulfilled_announced.set(False),
    ]
    if amount_paid is not None:
        actions.append(BulkPurchase.amount_paid.set(amount_paid))
        if payment_intent_id:
            actions.append(BulkPurchase.payment_intent_id.set(payment_intent_id))
    guard = BulkPurchase.status.is_in(*from_states) & (
        BulkPurchase.fulfillment_attempts == purchase.fulfillment_attempts
    )
    return mark_paid(purchase, actions, guard, payment_intent_id, amount_paid or 0)


def mark_refund_announced(purchase: BulkPurchase) -> None:
    """``bulk_purchase.refunded`` was published."""
    update_if(purchase, [BulkPurchase.refund_announced.set(True)], BulkPurchase.PK.exists())


def mark_vouchers_deactivated(purchase: BulkPurchase, deactivated: bool) -> None:
    """Every code of the purchase was turned off (or on again)."""
    update_if(purchase, [BulkPurchase.vouchers_deactivated.set(deactivated)], BulkPurchase.PK.exists())
