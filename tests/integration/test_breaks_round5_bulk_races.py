"""Round 5 races around sponsor bulk purchases, on DynamoDB Local: a purchase's full refund (its
codes off, its block's undrawn units back) racing the orders that redeem its codes and the general
sale of the same seats, and staff refunding one purchase several times at once."""

from collections import Counter

from tests.support import bulk_fixtures as bf
from tests.support.books import assert_books_hold
from tests.support.capacity import held, limit_general
from tests.support.containers import Invocation, race
from tests.support.http import STAFF, api_event, reply_of
from tests.support.order_fixtures import order_call
from tests.support.pipeline import sync
from tests.support.refund_fixtures import stripe_refunds


def bulk_refund_call(purchase_id: str) -> Invocation:
    """Staff's POST of a full refund of the purchase, as API Gateway hands it to the refunds function."""
    body = {"reason": "requested_by_customer"}
    event = api_event("POST", f"{bf.BASE}/{purchase_id}/refund", body=body, claims=STAFF)
    return Invocation("refunds", event)


def test_full_refunds_racing_code_redemptions_and_the_general_sale_keep_seats_and_codes_straight(
    demo, emulator
):
    limit_general(8)
    body = bf.staff_body(quantity=4, voucher_config={"voucher_type": "comp", "max_uses": 1})
    purchase, _ = bf.paid(emulator, body)
    codes = sorted(v.code for v in bf.stored_vouchers())
    result = race(
        [bulk_refund_call(purchase["id"]) for _ in range(3)]
        + [order_call(100 + i, code) for i, code in enumerate(codes)]
        + [order_call(n) for n in range(8)]
    )
    assert result.errors() == []
    refunds, coded, general = result.outcomes[:3], result.outcomes[3:7], result.outcomes[7:]
    assert Counter(o.status for o in refunds)[201] == 1, [o.result for o in refunds]
    assert {o.status for o in coded} <= {201, 422}, [o.result for o in coded]
    redeemed = [o for o in coded if o.status == 201]
    assert all(reply_of(o.result).json["total"] == 0 for o in redeemed)
    sold = Counter(o.status for o in general)[201]
    assert sold >= 4, "the general sale gets at least what the block never held"
    sync(emulator)
    record = bf.stored(purchase["id"])
    assert (record.status, int(record.amount_refunded)) == ("refunded", purchase["total_amount"])
    assert not any(v.is_active for v in bf.stored_vouchers())
    at_stripe = stripe_refunds(emulator, record.payment_intent_id)
    assert sum(r["amount"] for r in at_stripe) == purchase["total_amount"]
    assert held() == sold + len(redeemed) <= 8, (
        "the block's unredeemed units went back, the redeemed stay sold"
    )
    assert_books_hold("demo")
