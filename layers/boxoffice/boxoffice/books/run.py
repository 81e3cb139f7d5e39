"""What one audit of the books reads once (:class:`Run`), the break it reports, and its page.

``Run`` holds the Stripe refunds per payment intent, the credits, and the units each code redeemed
(which needs every order of the conference). Each ``check_*`` module checks one kind of record
against it and returns the invariants that do not hold, as :class:`Break` items.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from boxoffice import store
from boxoffice.books.records import book_records, credit_records, order_records
from boxoffice.errors import NotFound
from boxoffice.shapes import Shape

LIVE_STRIPE_REFUND = ("succeeded", "pending", "requires_action")
"""Stripe refund statuses that take (or will take) money back; failed and canceled ones do not."""
STRIPE_EVENT_WINDOW = 30 * 24 * 3600
"""Stripe lists an account's events for 30 days."""
MAX_LIMIT = 200


class Break(Shape):
    """One invariant that does not hold for one record."""

    kind: str
    record: str
    invariant: str
    ours: Any
    stripe: Any
    detail: str


class Audit(Shape):
    """One page of a conference's audit: what was checked, what broke, where the next page starts."""

    checked: dict[str, int]
    items: list[Break]
    next: str | None


# --- context: what one audit run reads once ------------------------------------------------------------------


@dataclass
class Run:
    conference_id: str
    secret: str | None
    """The conference's Stripe secret name, or None when Stripe is not consulted."""
    checked: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    _refunds: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _usage: dict[str, int] | None = None
    _orders: list[order_records.Order] | None = None
    _credits: dict[str, credit_records.Credit | None] = field(default_factory=dict)

    def stripe_refunds(self, payment_intent_id: str) -> list[dict[str, Any]]:
        from boxoffice import stripe_gateway

        assert self.secret is not None
        if payment_intent_id not in self._refunds:
            self._refunds[payment_intent_id] = stripe_gateway.list_refunds(self.secret, payment_intent_id)
        return self._refunds[payment_intent_id]

    def charged_back(self, dispute: str | None, own_intents: set[str]) -> int:
        """What the lost disputes of ``own_intents`` gave the cardholders back, as Stripe has them
        (every one: a payment may be disputed in parts); 0 when the record's mark (``dispute``)
        names none lost, or Stripe is not consulted."""
        from boxoffice import stripe_gateway

        if not dispute or self.secret is None:
            return 0
        return sum(
            int(found.get("amount") or 0)
            for intent in sorted(own_intents)
            for found in stripe_gateway.list_disputes(self.secret, intent)
            if found.get("status") == "lost"
        )

    def credit(self, credit_id: str) -> credit_records.Credit | None:
        if credit_id not in self._credits:
            self._credits[credit_id] = credit_records.get(self.conference_id, credit_id)
        return self._credits[credit_id]

    def all_orders(self) -> list[order_records.Order]:
        """Every order of the conference, read once per run."""
        if self._orders is None:
            ids = book_records.all_order_ids(self.conference_id)
            self._orders = book_records.get_many_orders(self.conference_id, ids)
        return self._orders

    def usage(self) -> dict[str, int]:
        """Units each code has redeemed on orders that are not cancelled (every order of the conference)."""
        if self._usage is None:
            usage: dict[str, int] = defaultdict(int)
            for order in self.all_orders():
                if order.voucher_code and order.status != order_records.CANCELLED:
                    usage[order.voucher_code] += voucher_units(order)
            self._usage = dict(usage)
        return self._usage


def voucher_units(order: order_records.Order) -> int:
    """Uses of its code the order took: ``voucher_units`` when recorded, else 1 with a code."""
    units = getattr(order, "voucher_units", None)
    if units is not None:
        return int(units)
    return 1 if order.voucher_code else 0


def is_own(payment: order_records.Payment) -> bool:
    return getattr(payment, "own", None) is not False


def new_break(kind: str, record: str, invariant: str, ours: Any, stripe: Any, detail: str) -> Break:
    return Break(kind=kind, record=record, invariant=invariant, ours=ours, stripe=stripe, detail=detail)


def intent_of(obj: dict[str, Any]) -> str | None:
    intent = obj.get("payment_intent")
    return intent.get("id") if isinstance(intent, dict) else intent


def run_for(conference_id: str, with_stripe: bool) -> Run:
    conference = store.get_conference(conference_id)
    if conference is None:
        raise NotFound(f"conference {conference_id} not found")
    return Run(conference_id, conference.stripe_secret_name if with_stripe else None)
