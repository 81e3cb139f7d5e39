"""Invariants 3 and 4: a bulk purchase's amounts and codes, and each voucher's uses against the
units redeemed with it."""

from __future__ import annotations

from boxoffice import store, voucher_codes
from boxoffice.books.records import book_records, purchases, refund_records, voucher_store
from boxoffice.books.refund_tally import check_unmatched, match_stripe, tally_refunds
from boxoffice.books.run import Break, Run, new_break

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
    tally = tally_refunds(run.conference_id, refunds)
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
    breaks += check_unmatched("bulk_purchase", rid, (purchase.unmatched_refunds or 0), refunds)
    breaks += _checkcodes_of(run, purchase, settled, fully)
    if run.secret is not None and own:
        breaks += match_stripe(run, "bulk_purchase", rid, [own], tally, "bulk.card_refunds_match_stripe")
        intents = {str(v["payment_intent"]) for v in tally.ours_at_stripe.values()} - {own}
        breaks += match_stripe(run, "bulk_purchase", rid, intents, tally, "bulk.card_refunds_match_stripe")
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
