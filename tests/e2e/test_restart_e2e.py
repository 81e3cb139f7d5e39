"""`make run` stopped and started again on the same data folder carries on where it stopped.

The first run sells codes and tickets; the second, on the same folder, still serves them, the
Stripe emulator still knows their sessions and payments, a checkout left open before the
restart can still be paid (its webhook reaches the new run's port), and a refund of a payment
made before the restart goes to the card.
"""

from typing import Any

from tests.support.e2e import (
    data_folder,
    demo_get,
    demo_post,
    pay_on_hosted_page,
    running_stack,
    stack_stripe,
    until,
)
from tests.support.http import ATTENDEE_URLS, SPONSOR_URLS


def _sponsor_checkout(stack: Any, quantity: int) -> tuple[str, str]:
    purchase = demo_post(
        stack, "/bulk-purchases", {"ticket_type_id": "general", "quantity": quantity}, "sponsor"
    )
    checkout = demo_post(stack, f"/bulk-purchases/{purchase['id']}/checkout", SPONSOR_URLS, "sponsor")
    return purchase["id"], checkout["checkout_url"]


def test_a_restarted_runner_still_serves_purchases_orders_and_codes_and_stripe_still_knows_them():
    with data_folder() as folder:
        with running_stack(folder) as first:
            assert "new: demo seeded" in first.banner
            bought, url = _sponsor_checkout(first, quantity=2)
            pay_on_hosted_page(url)
            paid = until(
                lambda: (p := demo_get(first, f"/bulk-purchases/{bought}"))["status"] == "paid" and p,
                what="the bulk purchase to be paid",
            )
            codes = sorted(c["code"] for c in demo_get(first, f"/bulk-purchases/{bought}/vouchers")["items"])
            assert len(codes) == 2
            placed = demo_post(
                first,
                "/orders",
                {"lines": [{"ticket_type_id": "general", "quantity": 1}], "voucher_code": codes[0]},
                "attendee",
            )
            assert placed["total"] == 0, "a bulk code pays the whole ticket"
            ticket = demo_post(
                first, "/orders", {"lines": [{"ticket_type_id": "student", "quantity": 1}]}, "attendee"
            )
            pay_on_hosted_page(
                demo_post(first, f"/orders/{ticket['id']}/checkout", ATTENDEE_URLS, "attendee")[
                    "checkout_url"
                ]
            )
            until(
                lambda: demo_get(first, f"/orders/{ticket['id']}", "attendee")["status"] == "paid",
                what="the ticket order to be paid",
            )
            open_purchase, open_url = _sponsor_checkout(first, quantity=1)

        with running_stack(folder) as second:
            assert "restored" in second.banner
            assert second.api != first.api, "the second run has its own port; webhooks must follow it"
            again = demo_get(second, f"/bulk-purchases/{bought}")
            assert (again["status"], again["vouchers_generated"]) == ("paid", 2)
            assert (
                sorted(c["code"] for c in demo_get(second, f"/bulk-purchases/{bought}/vouchers")["items"])
                == codes
            )
            assert demo_get(second, f"/orders/{placed['id']}", "attendee")["voucher_code"] == codes[0]
            check = demo_get(second, f"/vouchers/{codes[1].lower()}/check", "attendee")
            assert check["valid"] is True

            client = stack_stripe(second)
            intent = client.v1.payment_intents.retrieve(paid["payment_intent_id"])
            assert (intent.status, intent.amount_received) == ("succeeded", paid["total_amount"])

            # A checkout opened before the restart is paid after it: the webhook finds the new run.
            pay_on_hosted_page(open_url.replace(first.stripe, second.stripe))  # the emulator's port moved too
            until(
                lambda: demo_get(second, f"/bulk-purchases/{open_purchase}")["status"] == "paid",
                what="the purchase paid after the restart",
            )
            # A payment made before the restart is refunded to the card after it.
            refund = demo_post(
                second,
                f"/orders/{ticket['id']}/refunds",
                {"amount": 9000, "reason": "requested_by_customer", "destination": "card"},
                "staff",
                **{"Idempotency-Key": f"restart-{ticket['id']}"},
            )
            assert refund["status"] == "succeeded", refund
            stripe_refunds = client.v1.refunds.list(params={"limit": 10}).data
            assert any(r.amount == 9000 and r.status == "succeeded" for r in stripe_refunds)
