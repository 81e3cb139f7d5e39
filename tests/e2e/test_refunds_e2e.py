"""Refunds and store credit through the whole local stack: hosted page, staff refunds, Stripe's events.

An attendee pays on the emulator's page; staff refund part to the card and part as store credit;
the attendee spends the credit on a new order; a refund of an amount ending in 13 fails at the
"bank" and its events, delivered by the emulator to the webhook, give the amount back.
"""

import time
from typing import Any

import requests
import stripe

from tests.support.e2e import auth, order, stack_stripe, until
from tests.support.http import ATTENDEE_URLS, ORDERS


def place(stack, line: dict[str, Any]) -> dict[str, Any]:
    reply = requests.post(
        f"{stack.api}{ORDERS}", json={"lines": [line]}, headers=auth(stack, "attendee"), timeout=10
    )
    assert reply.status_code == 201, reply.text
    return reply.json()


def pay_on_the_hosted_page(stack, order_id: str) -> None:
    checkout = requests.post(
        f"{stack.api}{ORDERS}/{order_id}/checkout",
        json=ATTENDEE_URLS,
        headers=auth(stack, "attendee"),
        timeout=30,
    )
    assert checkout.status_code == 200, checkout.text
    url = checkout.json()["checkout_url"]
    assert requests.get(url, timeout=10).status_code == 200
    reply = requests.post(url, data={"outcome": "succeed"}, allow_redirects=False, timeout=10)
    assert reply.status_code == 303, reply.text


def staff_refund(stack, order_id: str, amount: int, destination: str, key: str) -> dict[str, Any]:
    reply = requests.post(
        f"{stack.api}{ORDERS}/{order_id}/refunds",
        json={"amount": amount, "reason": "requested_by_customer", "destination": destination},
        headers={**auth(stack, "staff"), "Idempotency-Key": key},
        timeout=30,
    )
    assert reply.status_code == 201, reply.text
    return reply.json()


def settles(stack, order_id: str, **expected: Any) -> dict[str, Any]:
    return until(
        lambda: (o := order(stack, order_id)) and all(o[k] == v for k, v in expected.items()) and o,
        what=f"order {order_id} to have {expected}",
    )


def test_pay_refund_to_card_and_to_credit_spend_the_credit_and_a_bank_failure_restores_the_amount(stack):
    stripe.enable_telemetry = False
    client = stack_stripe(stack)

    # The attendee pays 250 for a general ticket on the emulator's hosted page.
    first = place(stack, {"ticket_type_id": "general", "quantity": 1})
    assert first["total"] == 25000
    pay_on_the_hosted_page(stack, first["id"])
    paid = settles(stack, first["id"], status="paid", amount_paid=25000)
    intent = paid["payments"][0]["payment_intent_id"]

    # Staff refund 50 to the card: one Stripe refund, and Stripe's own events do not count it again.
    card = staff_refund(stack, first["id"], 5000, "card", f"card-{first['id']}")
    assert (card["status"], card["source"], card["credit"]) == ("succeeded", "api", None)
    (re_id,) = card["stripe_refund_ids"]
    settles(stack, first["id"], status="partially_refunded", amount_refunded=5000)
    time.sleep(2)  # charge.refunded, refund.created and refund.updated reach the webhook meanwhile
    assert order(stack, first["id"])["amount_refunded"] == 5000
    listed = client.v1.refunds.list(params={"payment_intent": intent}).data
    assert [(r.id, r.amount) for r in listed] == [(re_id, 5000)]

    # Staff refund 150 as store credit: no Stripe call, an available credit the attendee can see.
    as_credit = staff_refund(stack, first["id"], 15000, "store_credit", f"credit-{first['id']}")
    issued = as_credit["credit"]
    assert (issued["amount"], issued["remaining_amount"], issued["status"]) == (15000, 15000, "available")
    assert as_credit["stripe_refund_ids"] == []
    assert len(client.v1.refunds.list(params={"payment_intent": intent}).data) == 1
    mine = requests.get(
        f"{stack.api}/v1/conferences/demo/credits", headers=auth(stack, "attendee"), timeout=10
    )
    assert mine.status_code == 200, mine.text
    assert issued["id"] in [c["id"] for c in mine.json()["items"]]
    settles(stack, first["id"], status="partially_refunded", amount_refunded=20000)

    # The attendee spends the credit on a new 150 order, which is paid at once.
    second = place(stack, {"addon_id": "workshop", "quantity": 1})
    assert second["total"] == 15000
    applied = requests.post(
        f"{stack.api}/v1/conferences/demo/credits/{issued['id']}/apply",
        json={"order_id": second["id"]},
        headers={**auth(stack, "attendee"), "Idempotency-Key": f"apply-{second['id']}"},
        timeout=30,
    )
    assert applied.status_code == 201, applied.text
    assert (applied.json()["method"], applied.json()["amount"]) == ("credit", 15000)
    spent = order(stack, second["id"])
    assert (spent["status"], spent["amount_paid"], spent["hold_expires_at"]) == ("paid", 15000, None)
    credits = requests.get(
        f"{stack.api}/v1/conferences/demo/credits", headers=auth(stack, "attendee"), timeout=10
    ).json()["items"]
    (used,) = [c for c in credits if c["id"] == issued["id"]]
    assert (used["remaining_amount"], used["status"]) == (0, "applied")

    # A refund of 10.13 succeeds, then fails at the bank: its events give the amount back.
    failing = staff_refund(stack, first["id"], 1013, "card", f"failing-{first['id']}")
    assert failing["status"] == "succeeded"
    settles(stack, first["id"], amount_refunded=21013)
    clock = requests.post(f"{stack.stripe}/_emulator/advance_clock", json={"seconds": 5}, timeout=10)
    assert clock.status_code == 200, clock.text
    restored = settles(stack, first["id"], amount_refunded=20000)
    assert restored["status"] == "partially_refunded"
    refunds = requests.get(
        f"{stack.api}{ORDERS}/{first['id']}/refunds", headers=auth(stack, "attendee"), timeout=10
    )
    assert refunds.status_code == 200, refunds.text
    by_id = {r["id"]: r for r in refunds.json()["items"]}
    assert (by_id[failing["id"]]["status"], by_id[failing["id"]]["failure_reason"]) == (
        "failed",
        "lost_or_stolen_card",
    )
    assert by_id[card["id"]]["status"] == by_id[as_credit["id"]]["status"] == "succeeded"
    # What failed can be refunded again: 50 was left, and 10.13 of it is back.
    again = staff_refund(stack, first["id"], 5000, "card", f"again-{first['id']}")
    assert again["status"] == "succeeded"
    settles(stack, first["id"], status="refunded", amount_refunded=25000)
