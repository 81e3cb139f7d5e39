"""`make run` stopped and started again on the same data folder carries on where it stopped.

The first run sells codes and tickets; the second, on the same folder, still serves them, the
Stripe emulator still knows their sessions and payments, a checkout left open before the
restart can still be paid (its webhook reaches the new run's port), and a refund of a payment
made before the restart goes to the card.
"""

from typing import Any

import requests
import stripe

from local.demo import DEMO_STRIPE_KEY
from tests.support.e2e import auth, data_folder, running_stack, until

DEMO = "/v1/conferences/demo"
URLS = {"success_url": "https://buyer.example/thanks", "cancel_url": "https://buyer.example/cancel"}


def _get(stack: Any, path: str, role: str = "staff") -> dict[str, Any]:
    reply = requests.get(f"{stack.api}{DEMO}{path}", headers=auth(stack, role), timeout=30)
    assert reply.status_code == 200, reply.text
    return reply.json()


def _post(stack: Any, path: str, body: dict[str, Any], role: str, **headers: str) -> dict[str, Any]:
    reply = requests.post(
        f"{stack.api}{DEMO}{path}", json=body, headers={**auth(stack, role), **headers}, timeout=30
    )
    assert reply.status_code in (200, 201), reply.text
    return reply.json()


def _pay(checkout_url: str) -> None:
    reply = requests.post(checkout_url, data={"outcome": "succeed"}, allow_redirects=False, timeout=10)
    assert reply.status_code == 303, reply.text


def _sponsor_checkout(stack: Any, quantity: int) -> tuple[str, str]:
    purchase = _post(stack, "/bulk-purchases", {"ticket_type_id": "general", "quantity": quantity}, "sponsor")
    checkout = _post(stack, f"/bulk-purchases/{purchase['id']}/checkout", URLS, "sponsor")
    return purchase["id"], checkout["checkout_url"]


def _stripe(stack: Any) -> stripe.StripeClient:
    stripe.enable_telemetry = False
    return stripe.StripeClient(DEMO_STRIPE_KEY, base_addresses={"api": stack.stripe}, max_network_retries=0)


def test_a_restarted_runner_still_serves_purchases_orders_and_codes_and_stripe_still_knows_them():
    with data_folder() as folder:
        with running_stack(folder) as first:
            assert "new: demo seeded" in first.banner
            bought, url = _sponsor_checkout(first, quantity=2)
            _pay(url)
            paid = until(
                lambda: (p := _get(first, f"/bulk-purchases/{bought}"))["status"] == "paid" and p,
                what="the bulk purchase to be paid",
            )
            codes = sorted(c["code"] for c in _get(first, f"/bulk-purchases/{bought}/vouchers")["items"])
            assert len(codes) == 2
            placed = _post(
                first,
                "/orders",
                {"lines": [{"ticket_type_id": "general", "quantity": 1}], "voucher_code": codes[0]},
                "attendee",
            )
            assert placed["total"] == 0, "a bulk code pays the whole ticket"
            ticket = _post(
                first, "/orders", {"lines": [{"ticket_type_id": "student", "quantity": 1}]}, "attendee"
            )
            _pay(_post(first, f"/orders/{ticket['id']}/checkout", URLS, "attendee")["checkout_url"])
            until(
                lambda: _get(first, f"/orders/{ticket['id']}", "attendee")["status"] == "paid",
                what="the ticket order to be paid",
            )
            open_purchase, open_url = _sponsor_checkout(first, quantity=1)

        with running_stack(folder) as second:
            assert "restored" in second.banner
            assert second.api != first.api, "the second run has its own port; webhooks must follow it"
            again = _get(second, f"/bulk-purchases/{bought}")
            assert (again["status"], again["vouchers_generated"]) == ("paid", 2)
            assert (
                sorted(c["code"] for c in _get(second, f"/bulk-purchases/{bought}/vouchers")["items"])
                == codes
            )
            assert _get(second, f"/orders/{placed['id']}", "attendee")["voucher_code"] == codes[0]
            check = _get(second, f"/vouchers/{codes[1].lower()}/check", "attendee")
            assert check["valid"] is True

            client = _stripe(second)
            intent = client.v1.payment_intents.retrieve(paid["payment_intent_id"])
            assert (intent.status, intent.amount_received) == ("succeeded", paid["total_amount"])

            # A checkout opened before the restart is paid after it: the webhook finds the new run.
            _pay(open_url.replace(first.stripe, second.stripe))  # the emulator's port moved too
            until(
                lambda: _get(second, f"/bulk-purchases/{open_purchase}")["status"] == "paid",
                what="the purchase paid after the restart",
            )
            # A payment made before the restart is refunded to the card after it.
            refund = _post(
                second,
                f"/orders/{ticket['id']}/refunds",
                {"amount": 9000, "reason": "requested_by_customer", "destination": "card"},
                "staff",
                **{"Idempotency-Key": f"restart-{ticket['id']}"},
            )
            assert refund["status"] == "succeeded", refund
            stripe_refunds = client.v1.refunds.list(params={"limit": 10}).data
            assert any(r.amount == 9000 and r.status == "succeeded" for r in stripe_refunds)
