"""What a refund is against: an order (card or store credit) or a bulk purchase (card only).

Both carry the same money attributes (``refundable``, ``refund_reserved``, ``amount_refunded``,
``unmatched_refunds``, ``dispute``); what differs is behind the :class:`Owner` protocol: where
their payments are, what a Stripe refund counts against, how the status follows the refunded
amount, and (orders only) store credit and the freeze of money paid back twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypedDict

from boxoffice import lazy, money, store
from boxoffice import owners as resolver
from boxoffice.observability import logger
from boxoffice.orders.payments import paid_again, settle_refunded, status_from_amounts

if TYPE_CHECKING:
    from boxoffice import bulk_purchases
    from boxoffice.store import bulk_purchases as purchases
    from boxoffice.store import credits as credit_records
    from boxoffice.store import orders as order_records
    from boxoffice.store import refund_writes
    from boxoffice.store import refunds as records
else:
    # Settling a purchase's refunds is fulfilment's (codes on or off): loaded by the first purchase
    # settled, so a function that only reads refunds (the api function) does not load fulfilment.
    bulk_purchases = lazy.module("boxoffice.bulk_purchases")
    purchases = lazy.module("boxoffice.store.bulk_purchases")
    credit_records = lazy.module("boxoffice.store.credits")
    order_records = lazy.module("boxoffice.store.orders")
    records = lazy.module("boxoffice.store.refunds")
    refund_writes = lazy.module("boxoffice.store.refund_writes")


class OwnerIds(TypedDict):
    """The owner ids a refund record and Stripe's metadata carry: exactly one is set."""

    order_id: str | None
    bulk_purchase_id: str | None


class Owner(Protocol):
    """What a refund is against."""

    @property
    def item(self) -> refund_writes.OwnerItem: ...

    @property
    def noun(self) -> str:
        """How an error message names it."""
        ...

    @property
    def refundable_states(self) -> tuple[str, ...]: ...

    def ids(self) -> OwnerIds:
        """The refund's and Stripe metadata's owner ids: ``order_id`` and ``bulk_purchase_id``."""
        ...

    def intents(self) -> list[tuple[str, int]]:
        """The own payments' intents with what each has left to refund, newest first."""
        ...

    def stripe_intents(self) -> set[str]:
        """Every payment intent that paid it, own or not: where Stripe may hold refunds of it."""
        ...

    def counts_against(self, payment_intent_id: str | None) -> str:
        """What a Stripe refund on ``payment_intent_id`` counts against (docs/domain.md "Refunds": a
        refund is counted against the payment it refunded; a duplicate's refund never touches the
        kept one): ``records.OWNER``, ``EXTRA`` or ``UNMATCHED``."""
        ...

    def balance(self, destination: str) -> int:
        """What may still be refunded to ``destination`` (docs/domain.md "Refunds")."""
        ...

    def payment_for(self, payment_intent_id: str) -> order_records.Payment | None:
        """The recorded payment of ``payment_intent_id``, when the owner records payments."""
        ...

    def reload(self) -> Owner | None: ...

    def settle(self) -> None:
        """Bring the owner's status in line with its refunded amount (read fresh)."""
        ...

    def freeze_double_paid(self, charged_back: int = 0) -> None:
        """Flag money paid back twice (store credit and the card): see :meth:`OrderOwner.freeze_double_paid`."""
        ...

    def store_credit(self, refund: records.Refund) -> credit_records.Credit:
        """The available Credit a store-credit refund issues (not saved)."""
        ...


@dataclass(frozen=True)
class OrderOwner:
    item: order_records.Order

    noun = "order"

    @property
    def refundable_states(self) -> tuple[str, ...]:
        return refund_writes.ORDER_REFUNDABLE

    def ids(self) -> OwnerIds:
        return {"order_id": self.item.order_id, "bulk_purchase_id": None}

    def intents(self) -> list[tuple[str, int]]:
        payments = [
            p
            for p in order_records.payments_of(self.item.conference_id, self.item.order_id)
            if p.method == "stripe" and p.status == "succeeded" and p.payment_intent_id and p.is_own
        ]
        payments.sort(key=lambda p: p.created_at, reverse=True)
        return [(str(p.payment_intent_id), p.amount - p.amount_refunded) for p in payments]

    def stripe_intents(self) -> set[str]:
        return {
            str(p.payment_intent_id)
            for p in order_records.payments_of(self.item.conference_id, self.item.order_id)
            if p.method == "stripe" and p.payment_intent_id
        }

    def counts_against(self, payment_intent_id: str | None) -> str:
        payment = self.payment_for(payment_intent_id) if payment_intent_id else None
        if payment is None:
            return records.UNMATCHED
        return records.OWNER if payment.is_own else records.EXTRA

    def balance(self, destination: str) -> int:
        total = self.item.refundable_total
        return min(self.item.refundable, total) if destination == "card" else total

    def payment_for(self, payment_intent_id: str) -> order_records.Payment | None:
        return order_records.get_payment(
            self.item.conference_id, self.item.order_id, f"pay_{payment_intent_id}"
        )

    def reload(self) -> OrderOwner | None:
        fresh = order_records.get(self.item.conference_id, self.item.order_id)
        return OrderOwner(fresh) if fresh is not None else None

    def settle(self) -> None:
        fresh = self.reload()
        if fresh is not None:
            settle_order(fresh.item)

    def freeze_double_paid(self, charged_back: int = 0) -> None:
        """Money back now exceeds what was paid: a store credit issued for money that also went back
        to the card, by a refund or by a lost dispute (``charged_back``). The order and every credit
        it issued are flagged, and flagged credits cannot be applied."""
        fresh = self.reload()
        if fresh is None:
            return
        order = fresh.item
        back = order.amount_refunded + max(charged_back, order.charged_back or 0)  # every one counted
        if back <= order.amount_paid:
            return
        over = money.format_amount(back - order.amount_paid, order.currency)
        how = "a lost dispute" if charged_back else "a card refund"
        reason = f"money back exceeds what was paid by {over}: a store credit and {how} paid the same money"
        store.add_attention(order, reason)
        for credit in _credits_from(order):
            store.add_attention(credit, reason)
        logger.warning("money paid twice; credits frozen", extra={"order_id": order.order_id})

    def store_credit(self, refund: records.Refund) -> credit_records.Credit:
        """The credit is born frozen when the order was paid with a frozen credit: that money also
        went back to a card, so issuing it again as spendable credit would pay it out once more."""
        credit_id = f"cr_{refund.refund_id[3:]}"
        frozen = sorted(c.credit_id for c in _credits_paying(self.item) if c.attention is not None)
        credit = credit_records.Credit(
            *credit_records.Credit.key(refund.conference_id, credit_id),
            conference_id=refund.conference_id,
            credit_id=credit_id,
            user_id=self.item.user_id,
            amount=refund.amount,
            remaining_amount=refund.amount,
            currency=refund.currency,
            status=credit_records.AVAILABLE,
            source_order_id=self.item.order_id,
            note=refund.note,
            attention=(
                f"issued for an order paid with frozen credit {', '.join(frozen)}: that money also went back to a card"
                if frozen
                else None
            ),
            created_at=store.now(),
        )
        credit.index()
        return credit


@dataclass(frozen=True)
class PurchaseOwner:
    item: purchases.BulkPurchase

    noun = "bulk purchase"

    @property
    def refundable_states(self) -> tuple[str, ...]:
        return refund_writes.PURCHASE_REFUNDABLE

    def ids(self) -> OwnerIds:
        return {"order_id": None, "bulk_purchase_id": self.item.purchase_id}

    def intents(self) -> list[tuple[str, int]]:
        if not self.item.payment_intent_id:
            return []
        return [(self.item.payment_intent_id, self.item.amount_paid - self.item.amount_refunded)]

    def stripe_intents(self) -> set[str]:
        return {self.item.payment_intent_id} if self.item.payment_intent_id else set()

    def counts_against(self, payment_intent_id: str | None) -> str:
        own = self.item.payment_intent_id
        if own is None and payment_intent_id:
            return records.UNMATCHED  # its payment is not recorded yet: it decides (bulk_purchases._fulfill)
        return records.OWNER if own is None or own == payment_intent_id else records.EXTRA

    def balance(self, destination: str) -> int:
        return self.item.refundable if destination == "card" else 0

    def payment_for(self, payment_intent_id: str) -> order_records.Payment | None:
        return None  # a purchase records its one payment on itself

    def reload(self) -> PurchaseOwner | None:
        fresh = purchases.get(self.item.conference_id, self.item.purchase_id)
        return PurchaseOwner(fresh) if fresh is not None else None

    def settle(self) -> None:
        fresh = self.reload()
        if fresh is not None:
            bulk_purchases.settle_refunds(fresh.item)

    def freeze_double_paid(self, charged_back: int = 0) -> None:
        """Nothing: a purchase never issues store credit, so it cannot pay the same money back twice."""

    def store_credit(self, refund: records.Refund) -> credit_records.Credit:
        raise AssertionError("a bulk purchase is refunded to the card only")


def owner_for(item: Any) -> Owner:
    """The owner of an order or a bulk purchase record."""
    return OrderOwner(item) if isinstance(item, order_records.Order) else PurchaseOwner(item)


def owner_of(conference_id: str, obj: dict[str, Any]) -> Owner | None:
    """The owner a Stripe object names by our metadata ids, or by its payment intent (asking Stripe
    for the intent's metadata when its own events have not arrived yet)."""
    item = resolver.find(conference_id, obj, ask_stripe=True)
    return owner_for(item) if item is not None else None


def settle_order(order: order_records.Order) -> None:
    """paid / partially_refunded / refunded, from the recorded refunded amount (never from an event)."""
    for _ in range(3):
        # A settled order was paid in full; what it has refunded decides the rest.
        wanted = status_from_amounts(order.total, order.total, order.amount_refunded)
        if (
            order.status not in (order_records.PAID, order_records.PARTIALLY_REFUNDED, order_records.REFUNDED)
            or order.status == wanted
        ):
            break
        try:
            store.transition(order, wanted, order_records.MACHINE)
            break
        except store.TransitionRejected as exc:
            order = exc.current_as(order_records.Order)
    if order.status == order_records.REFUNDED:
        # A kept second payment becomes its own, or its units go back (once).
        settle_refunded(order)
    else:
        paid_again(order)  # its full refund failed at the bank: units back and announced, once


def _credits_paying(order: order_records.Order) -> list[credit_records.Credit]:
    """The credits the order's credit payments were taken from."""
    ids = {
        p.credit_id
        for p in order_records.payments_of(order.conference_id, order.order_id)
        if p.method == "credit" and p.credit_id
    }
    return [c for c in (credit_records.get(order.conference_id, i) for i in sorted(ids)) if c is not None]


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
