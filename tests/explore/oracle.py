"""The oracle: ``boxoffice.books.audit_all`` when it exists, otherwise a provisional audit here.

The provisional audit reads the whole table (one scan, no help from the code under test) and,
``with_stripe``, the emulator through the official SDK, and checks DOMAIN.md's books:
orders (amounts from payments and refunds, status from amounts, Stripe's refunds one for one with
ours, no more out than in), money nobody keeps silently, vouchers, bulk purchases, store credit and
events. It is deliberately literal so a break names the record and the numbers.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

REFUND_LIVE = ("pending", "succeeded")
STRIPE_REFUND_LIVE = ("pending", "succeeded", "requires_action")
FINISHED_EVENTS = ("processed", "ignored", "rejected", "failed")


@dataclass
class Break:
    """One invariant that does not hold: which kind of record, which one, and the two sides."""

    kind: str
    record: str
    invariant: str
    ours: Any = None
    stripe: Any = None
    detail: str = ""

    def __str__(self) -> str:
        return f"[{self.invariant}] {self.kind} {self.record}: ours={self.ours} stripe={self.stripe} {self.detail}"


def audit(conference_id: str, stripe_client: Any, *, with_stripe: bool = True) -> list[Any]:
    """Every break of the books for ``conference_id``: the project's audit if it exists, else ours."""
    try:
        from boxoffice import books  # type: ignore[attr-defined]
    except ImportError:
        return provisional_audit(conference_id, stripe_client, with_stripe=with_stripe)
    return list(books.audit_all(conference_id, with_stripe=with_stripe))


def _scan(conference_id: str) -> dict[str, list[Any]]:
    from boxoffice.store.base import Item

    found: dict[str, list[Any]] = defaultdict(list)
    for item in Item.scan(consistent_read=True):
        if getattr(item, "conference_id", conference_id) != conference_id:
            continue
        found[type(item).__name__].append(item)
    return found


def _stripe_list(method: Any, **params: Any) -> list[dict[str, Any]]:
    page = method(params={"limit": 100, **params})
    return [obj.to_dict() for obj in page.auto_paging_iter()]


def _units_redeemed(order: Any, voucher: Any) -> int:
    """Units an order took from ``voucher``: its discounted units, from each line's discount."""
    units = 0
    for line in order.lines or []:
        discount, price = int(line.get("discount") or 0), int(line.get("unit_price") or 0)
        if discount <= 0 or price <= 0:
            continue
        kind, value = voucher.voucher_type, int(voucher.discount_value or 0)
        per_unit = (
            price
            if kind == "comp"
            else (price * value * 2 + 100) // 200
            if kind == "percentage"
            else min(value, price)
        )
        units += -(-discount // per_unit) if per_unit > 0 else 0
    return units


def provisional_audit(conference_id: str, stripe_client: Any, *, with_stripe: bool = True) -> list[Break]:
    items = _scan(conference_id)
    breaks: list[Break] = []
    orders = {o.order_id: o for o in items["Order"]}
    payments: dict[str, list[Any]] = defaultdict(list)
    for payment in items["Payment"]:
        payments[payment.order_id].append(payment)
    refunds_by_pk: dict[str, list[Any]] = defaultdict(list)
    for refund in items["Refund"]:
        refunds_by_pk[refund.PK].append(refund)
    credits = {c.credit_id: c for c in items["Credit"]}

    # 1. Orders: amounts from records, status from amounts, no more out than in.
    for order in orders.values():
        oid = order.order_id
        own = [p for p in payments[oid] if p.status in ("succeeded", "refunded") and p.method != "comp"]
        paid = sum(int(p.amount) for p in own)
        live = [r for r in refunds_by_pk[order.PK] if r.status in REFUND_LIVE]
        refunded = sum(int(r.amount) for r in live)
        if int(order.amount_paid) != paid:
            breaks.append(
                Break(
                    "order", oid, "orders.amount_paid", int(order.amount_paid), None, f"payments sum {paid}"
                )
            )
        if int(order.amount_refunded) != refunded:
            breaks.append(
                Break(
                    "order",
                    oid,
                    "orders.amount_refunded",
                    int(order.amount_refunded),
                    None,
                    f"refunds sum {refunded}",
                )
            )
        if refunded > paid:
            breaks.append(Break("order", oid, "orders.refunds_le_paid", refunded, None, f"paid {paid}"))
        total, status = int(order.total), order.status
        if status in ("paid", "partially_refunded", "refunded"):
            want = (
                "refunded"
                if refunded >= total and refunded > 0
                else "partially_refunded"
                if refunded
                else "paid"
            )
            if status != want:
                breaks.append(Break("order", oid, "orders.status", status, None, f"amounts say {want}"))
            if paid < total and not order.attention:
                breaks.append(Break("order", oid, "orders.paid_covers_total", paid, None, f"total {total}"))
        if status == "pending" and (refunded or (paid >= total and total > 0)):
            breaks.append(
                Break("order", oid, "orders.status", status, None, f"paid {paid} refunded {refunded}")
            )
        if status == "cancelled" and paid - refunded > 0 and not order.attention:
            breaks.append(
                Break("order", oid, "orders.cancelled_keeps_no_money", paid - refunded, None, "unflagged")
            )

    # 3. Vouchers: times_used = units redeemed by orders not cancelled, <= max_uses.
    by_code: dict[str, list[Any]] = defaultdict(list)
    for order in orders.values():
        if order.voucher_code and order.status != "cancelled":
            by_code[order.voucher_code].append(order)
    for voucher in items["Voucher"]:
        used = sum(_units_redeemed(o, voucher) for o in by_code[voucher.code])
        if int(voucher.times_used) != used:
            breaks.append(
                Break(
                    "voucher",
                    voucher.code,
                    "vouchers.times_used",
                    int(voucher.times_used),
                    None,
                    f"units {used}",
                )
            )
        if int(voucher.times_used) > int(voucher.max_uses) or used > int(voucher.max_uses):
            breaks.append(
                Break(
                    "voucher",
                    voucher.code,
                    "vouchers.max_uses",
                    used,
                    None,
                    f"max_uses {int(voucher.max_uses)}",
                )
            )

    # 4. Bulk purchases: quantity codes when paid; inactive exactly when fully refunded.
    codes: dict[str, list[Any]] = defaultdict(list)
    for voucher in items["Voucher"]:
        if voucher.bulk_purchase_id:
            codes[voucher.bulk_purchase_id].append(voucher)
    for purchase in items["BulkPurchase"]:
        pid = purchase.purchase_id
        mine = codes[pid]
        if purchase.status in ("paid", "refunded") and len(mine) != int(purchase.quantity):
            breaks.append(
                Break(
                    "bulk_purchase", pid, "bulk.codes", len(mine), None, f"quantity {int(purchase.quantity)}"
                )
            )
        live = [r for r in refunds_by_pk[purchase.PK] if r.status in REFUND_LIVE]
        refunded = sum(int(r.amount) for r in live)
        if int(purchase.amount_refunded) != refunded:
            breaks.append(
                Break(
                    "bulk_purchase",
                    pid,
                    "bulk.amount_refunded",
                    int(purchase.amount_refunded),
                    None,
                    f"refunds {refunded}",
                )
            )
        full = int(purchase.amount_paid) > 0 and refunded >= int(purchase.amount_paid)
        if full and any(v.is_active for v in mine):
            breaks.append(
                Break("bulk_purchase", pid, "bulk.codes_inactive_when_refunded", "active", None, "")
            )
        if not full and purchase.status == "paid" and mine and not all(v.is_active for v in mine):
            breaks.append(
                Break("bulk_purchase", pid, "bulk.codes_inactive_when_refunded", "inactive", None, "")
            )

    # 5. Store credit: remaining = amount - what is spent, within [0, amount].
    spent: dict[str, int] = defaultdict(int)
    for payment in items["Payment"]:
        if payment.method == "credit" and payment.credit_id and payment.status == "succeeded":
            spent[payment.credit_id] += int(payment.amount)
    for credit in credits.values():
        remaining, amount = int(credit.remaining_amount), int(credit.amount)
        if not 0 <= remaining <= amount:
            breaks.append(
                Break("credit", credit.credit_id, "credits.bounds", remaining, None, f"amount {amount}")
            )
        if remaining != amount - spent[credit.credit_id]:
            breaks.append(
                Break(
                    "credit",
                    credit.credit_id,
                    "credits.remaining",
                    remaining,
                    None,
                    f"amount {amount} spent {spent[credit.credit_id]}",
                )
            )

    if with_stripe:
        breaks.extend(_against_stripe(conference_id, stripe_client, items, orders, payments, refunds_by_pk))
    return breaks


def _against_stripe(
    conference_id: str,
    client: Any,
    items: dict[str, list[Any]],
    orders: dict[str, Any],
    payments: dict[str, list[Any]],
    refunds_by_pk: dict[str, list[Any]],
) -> list[Break]:
    breaks: list[Break] = []
    purchases = {p.purchase_id: p for p in items["BulkPurchase"]}
    links = {link.PK.split("#", 2)[2]: link for link in items["StripeRefundLink"]}
    stripe_refunds = _stripe_list(client.v1.refunds.list)
    refunds_by_intent: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for refund in stripe_refunds:
        refunds_by_intent[str(refund.get("payment_intent"))].append(refund)

    # 2. Money nobody keeps silently: every succeeded intent with our metadata has an owner.
    for intent in _stripe_list(client.v1.payment_intents.list):
        if intent.get("status") != "succeeded":
            continue
        metadata = intent.get("metadata") or {}
        iid = intent["id"]
        if "order_id" in metadata:
            order = orders.get(metadata["order_id"])
            has = order is not None and any(p.payment_intent_id == iid for p in payments[order.order_id])
            if not has and not (order is not None and order.attention):
                breaks.append(
                    Break(
                        "payment_intent",
                        iid,
                        "money.owned",
                        None,
                        intent["amount"],
                        f"order {metadata['order_id']}",
                    )
                )
        elif "bulk_purchase_id" in metadata:
            purchase = purchases.get(metadata["bulk_purchase_id"])
            if purchase is None or (purchase.payment_intent_id != iid and not purchase.attention):
                breaks.append(
                    Break(
                        "payment_intent",
                        iid,
                        "money.owned",
                        None,
                        intent["amount"],
                        f"purchase {metadata['bulk_purchase_id']}",
                    )
                )

    # 1. Stripe's refunds on an order's intents equal our card refunds on them, one for one.
    for order in orders.values():
        intents = {p.payment_intent_id for p in payments[order.order_id] if p.payment_intent_id}
        at_stripe = [
            r for i in intents for r in refunds_by_intent[i] if r.get("status") in STRIPE_REFUND_LIVE
        ]
        ours = [r for r in refunds_by_pk[order.PK] if r.status in REFUND_LIVE and r.destination == "card"]
        s_sum, o_sum = sum(int(r["amount"]) for r in at_stripe), sum(int(r.amount) for r in ours)
        if s_sum != o_sum:
            breaks.append(
                Break("order", order.order_id, "orders.card_refunds_match_stripe", o_sum, s_sum, "")
            )
        for refund in at_stripe:
            link = links.get(refund["id"])
            if link is None or link.failed:
                breaks.append(
                    Break(
                        "refund",
                        refund["id"],
                        "orders.stripe_refund_recorded",
                        None,
                        refund["amount"],
                        f"order {order.order_id}",
                    )
                )
        credit_out = sum(
            int(r.amount)
            for r in refunds_by_pk[order.PK]
            if r.status in REFUND_LIVE and r.destination != "card"
        )
        card_in = sum(
            int(p.amount)
            for p in payments[order.order_id]
            if p.method == "stripe" and p.status in ("succeeded", "refunded")
        )
        credit_in = sum(
            int(p.amount)
            for p in payments[order.order_id]
            if p.method == "credit" and p.status == "succeeded"
        )
        if s_sum + credit_out > card_in + credit_in:
            breaks.append(
                Break(
                    "order",
                    order.order_id,
                    "orders.paid_back_at_most_once",
                    s_sum + credit_out,
                    None,
                    f"in {card_in + credit_in}",
                )
            )
    for purchase in purchases.values():
        if not purchase.payment_intent_id:
            continue
        at_stripe = [
            r for r in refunds_by_intent[purchase.payment_intent_id] if r.get("status") in STRIPE_REFUND_LIVE
        ]
        s_sum = sum(int(r["amount"]) for r in at_stripe)
        if s_sum != int(purchase.amount_refunded):
            breaks.append(
                Break(
                    "bulk_purchase",
                    purchase.purchase_id,
                    "bulk.refunds_match_stripe",
                    int(purchase.amount_refunded),
                    s_sum,
                    "",
                )
            )

    # 7. Events: every handled event Stripe has is recorded once and finished.
    from boxoffice.stripe_events import HANDLED_TYPES

    recorded = {e.event_id: e for e in items["StripeEventRecord"]}
    for event in _stripe_list(client.v1.events.list):
        if event["type"] not in HANDLED_TYPES:
            continue
        record = recorded.get(event["id"])
        if record is None:
            breaks.append(Break("event", event["id"], "events.recorded", None, event["type"], ""))
        elif record.status not in FINISHED_EVENTS:
            breaks.append(Break("event", event["id"], "events.finished", record.status, event["type"], ""))
    return breaks
