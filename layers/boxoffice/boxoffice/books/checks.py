"""The checks of the books, one record (or one Stripe object) at a time.

Each ``check_*`` reads the record's primary facts (its partition, its Stripe links, Stripe's own
objects) and returns the invariants that do not hold, as :class:`Break` items. ``Run`` holds what
one audit reads once: the Stripe refunds per payment intent, the credits, and the units each code
redeemed (which needs every order of the conference).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from boxoffice import lazy, store, voucher_codes
from boxoffice.errors import NotFound
from boxoffice.shapes import Shape

if TYPE_CHECKING:
    from boxoffice.store import books as book_records
    from boxoffice.store import bulk_purchases as purchases
    from boxoffice.store import credits as credit_records
    from boxoffice.store import orders as order_records
    from boxoffice.store import refunds as refund_records
    from boxoffice.store import stripe_events as event_records
    from boxoffice.store import vouchers as voucher_store
else:
    book_records = lazy.module("boxoffice.store.books")
    purchases = lazy.module("boxoffice.store.bulk_purchases")
    credit_records = lazy.module("boxoffice.store.credits")
    order_records = lazy.module("boxoffice.store.orders")
    refund_records = lazy.module("boxoffice.store.refunds")
    event_records = lazy.module("boxoffice.store.stripe_events")
    voucher_store = lazy.module("boxoffice.store.vouchers")

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
        """What a lost dispute (``lost:{id}``) of one of ``own_intents`` gave the cardholder back; 0
        when none, when it disputed money that was not the record's own, or Stripe is not consulted."""
        from boxoffice import stripe_gateway

        if not dispute or not dispute.startswith("lost:") or self.secret is None:
            return 0
        found = stripe_gateway.retrieve_dispute(self.secret, dispute[5:])
        intent = found.get("payment_intent")
        intent = intent.get("id") if isinstance(intent, dict) else intent
        return int(found.get("amount") or 0) if intent in own_intents else 0

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


# --- refunds shared by orders and purchases ------------------------------------------------------------------


@dataclass
class _Refunded:
    """What an owner's refund records say, per destination and per payment intent."""

    done_by_intent: dict[str | None, int] = field(default_factory=lambda: defaultdict(int))
    pending_by_intent: dict[str | None, int] = field(default_factory=lambda: defaultdict(int))
    credit_done: int = 0
    credit_pending: int = 0
    ours_at_stripe: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Our live links: Stripe refund id → {amount, payment_intent}."""
    pending_ids: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)


def _tally(conference_id: str, refunds: list[refund_records.Refund]) -> _Refunded:
    out = _Refunded()
    linked = book_records.links(conference_id, [i for r in refunds for i in r.stripe_refund_ids or []])
    for refund in refunds:
        if refund.destination == "store_credit":
            if refund.status == refund_records.SUCCEEDED:
                out.credit_done += refund.amount
            elif refund.status == refund_records.PENDING:
                out.credit_pending += refund.amount
            continue
        if refund.status == refund_records.PENDING:
            out.pending_ids.add(refund.refund_id)
            split = refund.split or {refund.payment_intent_id: refund.amount}
            for intent, part in split.items():
                out.pending_by_intent[intent] += int(part)
            continue
        ids = list(refund.stripe_refund_ids or [])
        if refund.status == refund_records.SUCCEEDED and not ids:
            out.problems.append(f"card refund {refund.refund_id} succeeded with no Stripe refund id")
        for stripe_id in ids:
            link = linked.get(stripe_id)
            if link is None:
                out.problems.append(f"Stripe refund {stripe_id} of refund {refund.refund_id} has no link")
                continue
            if link.failed:
                continue
            out.done_by_intent[link.payment_intent_id] += link.amount
            out.ours_at_stripe[stripe_id] = {
                "amount": link.amount,
                "payment_intent": link.payment_intent_id,
            }
    return out


def _match_stripe(
    run: Run, kind: str, record: str, intents: Iterable[str], tally: _Refunded, invariant: str
) -> list[Break]:
    """Stripe's live refunds on ``intents`` equal our linked card refunds on them, one for one."""
    breaks: list[Break] = []
    for intent in sorted(set(intents)):
        at_stripe = {
            r["id"]: int(r["amount"])
            for r in run.stripe_refunds(intent)
            if r.get("status") in LIVE_STRIPE_REFUND
            and (r.get("metadata") or {}).get("refund_id") not in tally.pending_ids  # ours, in flight
        }
        ours = {i: v["amount"] for i, v in tally.ours_at_stripe.items() if v["payment_intent"] == intent}
        if at_stripe != ours:
            missing = sorted(set(at_stripe) - set(ours))
            extra = sorted(set(ours) - set(at_stripe))
            breaks.append(
                new_break(
                    kind,
                    record,
                    invariant,
                    ours,
                    at_stripe,
                    f"payment intent {intent}: Stripe has refunds we did not record {missing}, "
                    f"we count refunds Stripe does not hold (or failed) {extra}",
                )
            )
    return breaks


def _check_unmatched(
    kind: str, record: str, counter: int, refunds: list[refund_records.Refund]
) -> list[Break]:
    """The unmatched counter is the sum of refunds still waiting for their payment (not failed), so a
    payment's transaction that takes them in by that sum takes in exactly them."""
    waiting = sum(
        r.amount
        for r in refunds
        if r.counts_against == refund_records.UNMATCHED and r.status != refund_records.FAILED
    )
    if counter == waiting:
        return []
    return [
        new_break(kind, record, f"{'bulk' if kind == 'bulk_purchase' else 'order'}.unmatched_refunds", counter,
             waiting, "unmatched_refunds is not the sum of the refunds waiting for their payment")
    ]  # fmt: skip


# --- 1. orders (and the order side of 2 and 5) ---------------------------------------------------------------


def order_parts(
    conference_id: str, order_id: str
) -> tuple[order_records.Order | None, list[order_records.Payment], list[refund_records.Refund]]:
    order, payments, refunds = None, [], []
    for item in book_records.partition(order_records.Order.key(conference_id, order_id)[0]):
        if isinstance(item, order_records.Order):
            order = item
        elif isinstance(item, order_records.Payment):
            payments.append(item)
        elif isinstance(item, refund_records.Refund):
            refunds.append(item)
    return order, payments, refunds


PAID_STATUSES = ("succeeded",)
"""A credit payment given back when its order is cancelled is ``refunded``: no longer paid."""


def check_order(run: Run, order_id: str) -> list[Break]:
    order, payments, refunds = order_parts(run.conference_id, order_id)
    if order is None:
        return []
    run.checked["order"] += 1
    rid, breaks = order.order_id, []
    cancelled = order.status == order_records.CANCELLED
    own_paid = sum(p.amount for p in payments if is_own(p) and p.status in PAID_STATUSES)
    own_stripe = [
        p
        for p in payments
        if p.method == "stripe" and is_own(p) and p.status in PAID_STATUSES and not cancelled
    ]
    own_intents = {str(p.payment_intent_id) for p in own_stripe if p.payment_intent_id}
    own_stripe_paid = sum(p.amount for p in own_stripe)
    stray = [
        p
        for p in payments
        if p.method == "stripe" and p.status == "succeeded" and (not is_own(p) or cancelled)
    ]
    tally = _tally(run.conference_id, refunds)
    for problem in tally.problems:
        breaks.append(new_break("order", rid, "order.refund_links", None, None, problem))

    card_done = sum(v for k, v in tally.done_by_intent.items() if k in own_intents)
    card_pending = sum(v for k, v in tally.pending_by_intent.items() if k in own_intents or k is None)
    refunded = card_done + tally.credit_done
    reserved = card_pending + tally.credit_pending

    if order.amount_paid != own_paid:
        breaks.append(
            new_break("order", rid, "order.amount_paid", order.amount_paid, own_paid,
                 "amount_paid is not the sum of the order's own succeeded payments")
        )  # fmt: skip
    if order.amount_refunded != refunded:
        breaks.append(
            new_break("order", rid, "order.amount_refunded", order.amount_refunded, refunded,
                 "amount_refunded is not the sum of its completed refunds of its own payments "
                 f"(card {card_done}, store credit {tally.credit_done})")
        )  # fmt: skip
    if order.refund_reserved != reserved:
        breaks.append(
            new_break("order", rid, "order.refund_reserved", order.refund_reserved, reserved,
                 "refund_reserved is not the sum of its pending refunds")
        )  # fmt: skip
    if not cancelled:
        total = order.total
        expected = (
            order_records.PENDING
            if own_paid < total
            else order_records.REFUNDED
            if refunded >= total and refunded > 0
            else order_records.PARTIALLY_REFUNDED
            if refunded > 0
            else order_records.PAID
        )
        if order.status != expected:
            breaks.append(
                new_break("order", rid, "order.status", order.status, expected,
                     f"paid {own_paid} of {total}, refunded {refunded}: the status should be {expected}")
            )  # fmt: skip
    card_all = card_done + card_pending
    if card_all > own_stripe_paid or card_all + tally.credit_done + tally.credit_pending > own_paid:
        breaks.append(
            new_break("order", rid, "order.refunds_within_paid",
                 {"card": card_all, "store_credit": tally.credit_done + tally.credit_pending},
                 {"paid": own_paid, "paid_by_card": own_stripe_paid},
                 "card refunds and store credit issued exceed what was paid")
        )  # fmt: skip
    for payment in own_stripe:
        intent = str(payment.payment_intent_id)
        taken = tally.done_by_intent.get(intent, 0) + tally.pending_by_intent.get(intent, 0)
        if taken > payment.amount:
            breaks.append(
                new_break("order", rid, "order.refunds_within_paid", taken, payment.amount,
                     f"payment intent {intent} is refunded beyond what it paid")
            )  # fmt: skip
    for payment in stray:
        intent = str(payment.payment_intent_id)
        left = payment.amount - tally.done_by_intent.get(intent, 0)
        if left > 0 and not order.attention:
            breaks.append(
                new_break("order", rid, "money.unflagged", {"payment_intent": intent, "left": left}, None,
                     f"{left} arrived on {intent} that is not the order's own payment and nobody was told")
            )  # fmt: skip
    breaks += _check_unmatched("order", rid, (order.unmatched_refunds or 0), refunds)
    breaks += _check_credit_payments(run, order, payments)
    if run.secret is not None:
        intents = {str(p.payment_intent_id) for p in payments if p.method == "stripe" and p.payment_intent_id}
        intents |= {str(v["payment_intent"]) for v in tally.ours_at_stripe.values() if v["payment_intent"]}
        breaks += _match_stripe(run, "order", rid, intents, tally, "order.card_refunds_match_stripe")
    return breaks


def _check_credit_payments(
    run: Run, order: order_records.Order, payments: list[order_records.Payment]
) -> list[Break]:
    """Each credit payment on the order has its entry in the credit's ledger (no spend unrecorded)."""
    breaks = []
    for payment in payments:
        if payment.method != "credit" or not payment.credit_id:
            continue
        credit = run.credit(payment.credit_id)
        entries = [
            a.amount for a in (credit.applications if credit else []) or [] if a.order_id == order.order_id
        ]
        if payment.amount not in entries:
            breaks.append(
                new_break("credit", payment.credit_id, "credit.ledger", entries, payment.amount,
                     f"order {order.order_id} holds a credit payment of {payment.amount} "
                     "that the credit's ledger does not record")
            )  # fmt: skip
    return breaks


# --- 4. bulk purchases -----------------------------------------------------------------------------------------


def check_purchase(run: Run, purchase_id: str) -> list[Break]:
    purchase, refunds = None, []
    for item in book_records.partition(purchases.BulkPurchase.key(run.conference_id, purchase_id)[0]):
        if isinstance(item, purchases.BulkPurchase):
            purchase = item
        elif isinstance(item, refund_records.Refund):
            refunds.append(item)
    if purchase is None:
        return []
    run.checked["bulk_purchase"] += 1
    rid, breaks = purchase.purchase_id, []
    own = purchase.payment_intent_id
    tally = _tally(run.conference_id, refunds)
    for problem in tally.problems:
        breaks.append(new_break("bulk_purchase", rid, "bulk.refund_links", None, None, problem))
    settled = purchase.status in (purchases.PAID, purchases.REFUNDED)
    paid = purchase.total_amount if settled and own else 0
    done = tally.done_by_intent.get(own, 0) if own else 0
    pending = sum(tally.pending_by_intent.values())
    if settled and purchase.amount_paid != paid:
        breaks.append(
            new_break("bulk_purchase", rid, "bulk.amount_paid", purchase.amount_paid, paid,
                 "a paid purchase's amount_paid is its total, paid by its own payment intent")
        )  # fmt: skip
    if purchase.amount_refunded != done:
        breaks.append(
            new_break("bulk_purchase", rid, "bulk.amount_refunded", purchase.amount_refunded, done,
                 "amount_refunded counts only completed refunds of the purchase's own payment")
        )  # fmt: skip
    if purchase.refund_reserved != pending:
        breaks.append(
            new_break("bulk_purchase", rid, "bulk.refund_reserved", purchase.refund_reserved, pending,
                 "refund_reserved is not the sum of its pending refunds")
        )  # fmt: skip
    fully = paid > 0 and done >= paid
    if settled:
        expected = purchases.REFUNDED if fully else purchases.PAID
        if purchase.status != expected:
            breaks.append(
                new_break("bulk_purchase", rid, "bulk.status", purchase.status, expected,
                     f"paid {paid}, refunded {done} of its own payment: the status should be {expected}")
            )  # fmt: skip
    breaks += _check_unmatched("bulk_purchase", rid, (purchase.unmatched_refunds or 0), refunds)
    breaks += _checkcodes_of(run, purchase, settled, fully)
    if run.secret is not None and own:
        breaks += _match_stripe(run, "bulk_purchase", rid, [own], tally, "bulk.card_refunds_match_stripe")
        intents = {str(v["payment_intent"]) for v in tally.ours_at_stripe.values()} - {own}
        breaks += _match_stripe(run, "bulk_purchase", rid, intents, tally, "bulk.card_refunds_match_stripe")
    return breaks


def codes_of(purchase: purchases.BulkPurchase) -> list[str]:
    return voucher_codes.codes(
        purchase.code_prefix, purchase.code_segment, purchase.code_key, purchase.quantity
    )


def _checkcodes_of(run: Run, purchase: purchases.BulkPurchase, settled: bool, fully: bool) -> list[Break]:
    rid = purchase.purchase_id
    leased = purchase.fulfillment_lease_until is not None and purchase.fulfillment_lease_until > store.now()
    if not settled and ((purchase.fulfillment_attempts or 0) == 0 or leased):
        return []  # never fulfilled, or a fulfillment is running now
    codes = codes_of(purchase)
    found = voucher_store.get_vouchers(run.conference_id, codes)
    breaks = []
    expected = purchase.quantity if settled else 0
    if len(found) != expected or (settled and purchase.vouchers_generated != expected):
        breaks.append(
            new_break("bulk_purchase", rid, "bulk.codes",
                 {"codes": len(found), "vouchers_generated": purchase.vouchers_generated}, expected,
                 f"a {purchase.status} purchase must have exactly {expected} codes")
        )  # fmt: skip
    if settled:
        wrong = sorted(code for code, v in found.items() if bool(v.is_active) == fully)
        if wrong:
            breaks.append(
                new_break("bulk_purchase", rid, "bulk.codes_active", {"wrong": len(wrong), "sample": wrong[:5]},
                     {"active": not fully},
                     "codes are inactive exactly when the purchase's own payment is fully refunded")
            )  # fmt: skip
    return breaks


# --- 3. vouchers -------------------------------------------------------------------------------------------------


def all_codes(run: Run) -> list[str]:
    """Every code worth checking: those orders name and those settled purchases issued."""
    codes = set(run.usage())
    cursor = None
    while True:
        entries, cursor = purchases.list_entries(run.conference_id, None, limit=100, cursor=cursor)
        for purchase in purchases.get_many(run.conference_id, [e.purchase_id for e in entries]).values():
            if purchase.status in (purchases.PAID, purchases.REFUNDED):
                codes.update(codes_of(purchase))
        if not cursor:
            return sorted(codes)


def check_vouchers(run: Run, codes: list[str]) -> list[Break]:
    usage = run.usage()
    found = voucher_store.get_vouchers(run.conference_id, codes)
    breaks = []
    for code in codes:
        used = usage.get(code, 0)
        voucher = found.get(code)
        run.checked["voucher"] += 1
        if voucher is None:
            if used:
                breaks.append(
                    new_break("voucher", code, "voucher.times_used", None, used,
                         "orders redeemed a code that does not exist")
                )  # fmt: skip
            continue
        if voucher.times_used != used:
            breaks.append(
                new_break("voucher", code, "voucher.times_used", voucher.times_used, used,
                     "times_used is not the units redeemed by the code's orders that are not cancelled")
            )  # fmt: skip
        if max(voucher.times_used, used) > voucher.max_uses:
            breaks.append(
                new_break("voucher", code, "voucher.max_uses", max(voucher.times_used, used),
                     voucher.max_uses, "the code was used more than max_uses")
            )  # fmt: skip
    return breaks


# --- 5. store credit ------------------------------------------------------------------------------------------------


def check_credit(run: Run, credit: credit_records.Credit) -> list[Break]:
    run.checked["credit"] += 1
    rid, breaks = credit.credit_id, []
    applied = sum(a.amount for a in credit.applications or [])
    returned = 0
    for order_id in sorted({a.order_id for a in credit.applications or []}):
        _, payments, _ = order_parts(run.conference_id, order_id)
        mine = [p for p in payments if p.method == "credit" and p.credit_id == credit.credit_id]
        returned += sum(p.amount for p in mine if p.status == "refunded")
        for entry in [a for a in credit.applications or [] if a.order_id == order_id]:
            if entry.amount not in [p.amount for p in mine]:
                breaks.append(
                    new_break("credit", rid, "credit.ledger", entry.amount, [p.amount for p in mine],
                         f"the ledger applies {entry.amount} to order {order_id}, which has no such payment")
                )  # fmt: skip
    expected = credit.amount - applied + returned
    remaining = credit.remaining_amount
    if remaining != expected or expected < 0 or remaining > credit.amount:
        breaks.append(
            new_break("credit", rid, "credit.remaining", remaining, expected,
                 f"remaining must be amount {credit.amount} - applied {applied} + returned {returned}, "
                 "never below 0 (below 0: the credit was spent twice)")
        )  # fmt: skip
    if credit.status != credit_records.EXPIRED and (credit.status == credit_records.APPLIED) != (
        remaining == 0
    ):
        breaks.append(
            new_break("credit", rid, "credit.status", credit.status,
                 credit_records.APPLIED if remaining == 0 else credit_records.AVAILABLE,
                 "a credit is applied exactly when nothing remains")
        )  # fmt: skip
    if credit.source_order_id:
        breaks += _check_double_paid(run, credit)
    return breaks


def _check_double_paid(run: Run, credit: credit_records.Credit) -> list[Break]:
    """A credit issued for money also refunded on the card must be flagged and frozen."""
    order, payments, refunds = order_parts(run.conference_id, str(credit.source_order_id))
    if order is None:
        return []
    own_paid = sum(p.amount for p in payments if is_own(p) and p.status in PAID_STATUSES)
    own_intents = {
        str(p.payment_intent_id)
        for p in payments
        if p.method == "stripe" and is_own(p) and p.status in PAID_STATUSES and p.payment_intent_id
    }
    tally = _tally(run.conference_id, refunds)
    # Only refunds of the order's own payments: a second tab's payment refunded in full gave back
    # that payment's money, not the money the credit stands for.
    card = sum(v for k, v in tally.done_by_intent.items() if k in own_intents)
    card += sum(v for k, v in tally.pending_by_intent.items() if k in own_intents or k is None)
    card += run.charged_back(order.dispute, own_intents)  # a lost dispute gave the card the money back too
    issued = tally.credit_done + tally.credit_pending
    if card + issued <= own_paid:
        return []
    flagged = bool(getattr(credit, "attention", None) or order.attention)
    # A credit carrying attention is frozen: applying it is refused until staff clear it.
    spendable = (
        credit.status == credit_records.AVAILABLE
        and credit.remaining_amount > 0
        and not getattr(credit, "attention", None)
    )
    if flagged and not spendable:
        return []
    return [
        new_break("credit", credit.credit_id, "credit.double_paid",
             {"card_refunds": card, "store_credit": issued, "flagged": flagged, "spendable": spendable},
             {"paid": own_paid},
             f"order {order.order_id} paid {own_paid} but got back {card} on the card and {issued} as credit; "
             "the credit must be flagged and frozen")
    ]  # fmt: skip


# --- 6. capacity -------------------------------------------------------------------------------------------------


def expected_held(
    orders: Iterable[order_records.Order], blocks: Iterable[purchases.BulkPurchase]
) -> dict[str, int]:
    """What each capacity counter must hold, from the records: every order that still holds its
    units (not cancelled, not released by a full refund) with its counter units and its block
    draws, plus every held sponsor block's undrawn units."""
    held: dict[str, int] = defaultdict(int)
    for order in orders:
        if order.status == order_records.CANCELLED or getattr(order, "units_released", None):
            continue
        for field_name in ("held_units", "block_units"):
            for scope, n in (getattr(order, field_name, None) or {}).items():
                held[scope] += int(n)
    for purchase in blocks:
        if getattr(purchase, "block_state", None) != "held":
            continue
        left = {"ticket": (purchase.block_left_ticket or 0), "addon": (purchase.block_left_addon or 0)}
        for scope in purchase.block or {}:
            held[scope] += left["addon" if scope.startswith("addon#") else "ticket"]
    return dict(held)


def _all_purchases(conference_id: str) -> list[purchases.BulkPurchase]:
    found: list[purchases.BulkPurchase] = []
    cursor = None
    while True:
        entries, cursor = purchases.list_entries(conference_id, None, limit=100, cursor=cursor)
        found += purchases.get_many(conference_id, [e.purchase_id for e in entries]).values()
        if not cursor:
            return found


def check_capacity(run: Run) -> list[Break]:
    """Invariant 6: units held by pending and paid orders and sponsor blocks never exceed a capacity
    (``capacity.item`` / ``capacity.venue``), and each counter equals what the orders and blocks
    hold (``capacity.counter``): a counter that drifted would sell seats nobody has, or refuse
    seats that are free."""
    from boxoffice.store import capacity as counters

    scopes = []
    for item in store.catalog_items(run.conference_id):
        if isinstance(item, store.TicketType) and item.counted:
            scopes.append(counters.ticket_scope(item.entry_id))
        elif isinstance(item, store.AddOn) and item.counted:
            scopes.append(counters.addon_scope(item.entry_id))
        elif isinstance(item, store.Conference) and item.venue_counted:
            scopes.append(counters.VENUE)
    if not scopes:
        return []
    found = counters.get_many(run.conference_id, scopes)
    expected = expected_held(run.all_orders(), _all_purchases(run.conference_id))
    breaks = []
    for scope in sorted(set(scopes) | set(expected)):
        run.checked["capacity"] += 1
        counter = found.get(scope)
        held = counter.held if counter is not None else 0
        if held != expected.get(scope, 0):
            breaks.append(
                new_break("capacity", scope, "capacity.counter", held, None,
                     f"the counter holds {held} units but the orders and blocks hold {expected.get(scope, 0)}")
            )  # fmt: skip
        actual = max(held, expected.get(scope, 0))
        if counter is not None and counter.capacity is not None and actual > counter.capacity:
            invariant = "capacity.venue" if scope == counters.VENUE else "capacity.item"
            breaks.append(
                new_break("capacity", scope, invariant, actual, None,
                     f"{actual} units are held or sold but the capacity is {counter.capacity}")
            )  # fmt: skip
    for order in run.all_orders():
        paid = order.status in (order_records.PAID, order_records.PARTIALLY_REFUNDED)
        if paid and getattr(order, "units_released", None) and (order.held_units or order.block_units):
            breaks.append(
                new_break("capacity", order.order_id, "capacity.paid_without_units", None, None,
                     "a paid order released its units (a full refund that then failed) and holds none")
            )  # fmt: skip
    return breaks


# --- 2. money nobody keeps, and 7. events, from Stripe's side ----------------------------------------------------


def intent_of(obj: dict[str, Any]) -> str | None:
    intent = obj.get("payment_intent")
    return intent.get("id") if isinstance(intent, dict) else intent


def check_session(run: Run, session: dict[str, Any]) -> list[Break]:
    """A paid session with our metadata is some record's own payment, or flagged, or refunded in full."""
    metadata = session.get("metadata") or {}
    if session.get("payment_status") != "paid" or metadata.get("conference_id") != run.conference_id:
        return []
    run.checked["stripe_payment"] += 1
    intent = intent_of(session)
    amount = int(session.get("amount_total") or 0)
    owner, own, flagged = None, False, False
    if isinstance(metadata.get("order_id"), str):
        owner = ("order", metadata["order_id"])
        order = order_records.get(run.conference_id, metadata["order_id"])
        payment = order_records.get_payment(run.conference_id, metadata["order_id"], f"pay_{intent}")
        own = bool(order and payment and is_own(payment) and order.status != order_records.CANCELLED)
        flagged = bool(order and payment and order.attention)
    elif isinstance(metadata.get("bulk_purchase_id"), str):
        owner = ("bulk_purchase", metadata["bulk_purchase_id"])
        purchase = purchases.get(run.conference_id, metadata["bulk_purchase_id"])
        own = bool(purchase and intent and purchase.payment_intent_id == intent)
        flagged = bool(purchase and purchase.attention)
    if own or flagged or not intent:
        return []
    refunded = sum(
        int(r["amount"]) for r in run.stripe_refunds(intent) if r.get("status") in LIVE_STRIPE_REFUND
    )
    if refunded >= amount:
        return []
    kind, record = owner or ("payment_intent", intent)
    return [
        new_break(kind, record, "money.unclaimed_charge", None,
             {"payment_intent": intent, "amount": amount, "refunded": refunded, "session": session.get("id")},
             f"Stripe holds {amount - refunded} on {intent} that is neither this record's payment nor flagged")
    ]  # fmt: skip


def check_stripe_events(run: Run, events: list[dict[str, Any]]) -> list[Break]:
    recorded = book_records.event_records(run.conference_id, [e["id"] for e in events])
    run.checked["stripe_event"] += len(events)
    return [
        new_break("event", e["id"], "event.unrecorded", None, {"type": e["type"], "created": e["created"]},
             "Stripe has this event and we never recorded it")
        for e in events
        if e["id"] not in recorded
    ]  # fmt: skip


def check_unfinished_events(run: Run) -> list[Break]:
    breaks = []
    at = store.now()
    for status in (event_records.RECEIVED, event_records.PROCESSING):
        for record in event_records.iter_events(run.conference_id, status):
            run.checked["event"] += 1
            stuck = status == event_records.RECEIVED or record.lease_until is None or record.lease_until < at
            if stuck:
                breaks.append(
                    new_break("event", record.event_id, "event.unfinished", status, None,
                         f"{record.event_type} was recorded but never finished processing")
                )  # fmt: skip
    return breaks


def run_for(conference_id: str, with_stripe: bool) -> Run:
    conference = store.get_conference(conference_id)
    if conference is None:
        raise NotFound(f"conference {conference_id} not found")
    return Run(conference_id, conference.stripe_secret_name if with_stripe else None)
