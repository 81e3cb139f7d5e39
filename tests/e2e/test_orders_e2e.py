"""Attendee orders through the whole local stack: sponsor codes, Stripe Checkout, webhooks, cancel.

A hold lasts at least 30 minutes, so the hold-expiry test moves one order's hold into the past in
the runner's own table (its DynamoDB Local endpoint is printed in the banner); the runner's schedule then
runs the real sweep.
"""

import time
from typing import Any

import requests

from tests.support.e2e import auth, order, until
from tests.support.http import ATTENDEE_URLS, ORDERS
from tests.support.stripe import sessions_of


def sponsor_code(stack, voucher_config: dict[str, Any]) -> str:
    """One code from a comp deal staff create, approve and fulfil for acme (unit price 0)."""
    created = requests.post(
        f"{stack.api}/v1/conferences/demo/bulk-purchases",
        json={
            "sponsor_id": "acme",
            "quantity": 1,
            "ticket_type_id": "general",
            "unit_price": 0,
            "voucher_config": voucher_config,
        },
        headers=auth(stack, "staff"),
        timeout=10,
    )
    assert created.status_code == 201, created.text
    pid = created.json()["id"]
    for step in ("approve", "fulfill"):
        reply = requests.post(
            f"{stack.api}/v1/conferences/demo/bulk-purchases/{pid}/{step}",
            headers=auth(stack, "staff"),
            timeout=30,
        )
        assert reply.status_code == 200, f"{step}: {reply.text}"
    codes = requests.get(
        f"{stack.api}/v1/conferences/demo/bulk-purchases/{pid}/vouchers",
        headers=auth(stack, "staff"),
        timeout=10,
    )
    assert codes.status_code == 200, codes.text
    (voucher,) = codes.json()["items"]
    return voucher["code"]


def place_order(stack, code: str, role: str = "attendee") -> requests.Response:
    return requests.post(
        f"{stack.api}{ORDERS}",
        json={"lines": [{"ticket_type_id": "general", "quantity": 1}], "voucher_code": code},
        headers=auth(stack, role),
        timeout=10,
    )


def check_out(stack, order_id: str) -> str:
    reply = requests.post(
        f"{stack.api}{ORDERS}/{order_id}/checkout",
        json=ATTENDEE_URLS,
        headers=auth(stack, "attendee"),
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    return reply.json()["checkout_url"]


def submit(checkout_url: str, outcome: str) -> requests.Response:
    page = requests.get(checkout_url, timeout=10)
    assert page.status_code == 200, page.text
    return requests.post(checkout_url, data={"outcome": outcome}, allow_redirects=False, timeout=10)


def test_an_attendee_orders_with_a_sponsor_percentage_code_pays_on_the_hosted_page_and_the_order_is_paid(
    stack, stripe_client
):
    code = sponsor_code(stack, {"voucher_type": "percentage", "discount_value": 20, "max_uses": 1})
    check = requests.get(
        f"{stack.api}/v1/conferences/demo/vouchers/{code.lower()}/check",
        headers=auth(stack, "attendee"),
        timeout=10,
    )
    assert check.status_code == 200, check.text
    assert (check.json()["valid"], check.json()["voucher_type"], check.json()["discount_value"]) == (
        True,
        "percentage",
        20,
    )
    assert "times_used" not in check.json()

    created = place_order(stack, f"  {code.lower()} ")
    assert created.status_code == 201, created.text
    placed = created.json()
    assert (placed["status"], placed["subtotal"], placed["discount_amount"], placed["total"]) == (
        "pending",
        25000,
        5000,
        20000,
    )
    assert placed["voucher_code"] == code

    checkout_url = check_out(stack, placed["id"])
    reply = submit(checkout_url, "succeed")
    assert reply.status_code == 303, reply.text
    assert reply.headers["Location"].startswith(ATTENDEE_URLS["success_url"])

    paid = until(lambda: (o := order(stack, placed["id"]))["status"] == "paid" and o, what="order paid")
    assert paid["amount_paid"] == 20000
    assert paid["hold_expires_at"] is None
    (payment,) = paid["payments"]
    assert (payment["method"], payment["status"], payment["amount"]) == ("stripe", "succeeded", 20000)
    assert payment["payment_intent_id"].startswith("pi_")
    assert payment["charge_id"].startswith("ch_")
    (session,) = sessions_of(stripe_client, placed["id"])
    assert session["amount_total"] == 20000
    assert session["metadata"] == {
        "order_id": placed["id"],
        "conference_id": "demo",
        "reference": placed["reference"],
    }
    time.sleep(2)  # late duplicates from the webhook retries and the sweep change nothing
    assert len(order(stack, placed["id"])["payments"]) == 1


def test_a_comp_code_makes_a_free_order_paid_at_once_without_stripe(stack, stripe_client):
    code = sponsor_code(stack, {"voucher_type": "comp", "max_uses": 1})
    created = place_order(stack, code)
    assert created.status_code == 201, created.text
    placed = created.json()
    assert (placed["status"], placed["total"], placed["hold_expires_at"]) == ("paid", 0, None)
    assert [(p["method"], p["status"], p["amount"]) for p in placed["payments"]] == [("comp", "succeeded", 0)]
    assert sessions_of(stripe_client, placed["id"]) == []
    again = requests.post(
        f"{stack.api}{ORDERS}/{placed['id']}/checkout",
        json=ATTENDEE_URLS,
        headers=auth(stack, "attendee"),
        timeout=10,
    )
    assert again.status_code == 409, again.text


def test_a_declined_card_leaves_the_order_pending_and_cancelling_frees_the_code(stack):
    code = sponsor_code(stack, {"voucher_type": "percentage", "discount_value": 20, "max_uses": 1})
    created = place_order(stack, code)
    assert created.status_code == 201, created.text
    placed = created.json()

    reply = submit(check_out(stack, placed["id"]), "decline")
    assert reply.status_code == 402, reply.text
    failed = until(
        lambda: (o := order(stack, placed["id"]))["payments"] and o, what="the failed payment to be recorded"
    )
    assert failed["status"] == "pending"
    assert failed["amount_paid"] == 0
    assert {(p["method"], p["status"]) for p in failed["payments"]} == {("stripe", "failed")}
    time.sleep(2)  # a sweep runs in the meantime; the hold has not ended
    assert order(stack, placed["id"])["status"] == "pending"

    taken = place_order(stack, code, role="staff")
    assert taken.status_code == 422, taken.text
    assert taken.json()["error"]["details"][0]["reason"] == "used_up"

    cancelled = requests.post(
        f"{stack.api}{ORDERS}/{placed['id']}/cancel", headers=auth(stack, "attendee"), timeout=30
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"

    second = place_order(stack, code)
    assert second.status_code == 201, second.text
    assert (second.json()["status"], second.json()["total"]) == ("pending", 20000)


def test_an_attendee_cannot_see_someone_elses_order(stack):
    code = sponsor_code(stack, {"voucher_type": "comp", "max_uses": 1})
    created = place_order(stack, code, role="staff")
    assert created.status_code == 201, created.text
    theirs = requests.get(
        f"{stack.api}{ORDERS}/{created.json()['id']}", headers=auth(stack, "attendee"), timeout=10
    )
    assert theirs.status_code == 404, theirs.text
    mine = requests.get(f"{stack.api}{ORDERS}", headers=auth(stack, "attendee"), timeout=10)
    assert mine.status_code == 200, mine.text
    assert created.json()["id"] not in {o["id"] for o in mine.json()["items"]}
    assert requests.get(f"{stack.api}{ORDERS}", timeout=10).status_code == 401


def test_a_declined_order_whose_hold_ends_is_cancelled_by_the_sweep_and_frees_its_code(stack):
    import boto3

    code = sponsor_code(stack, {"voucher_type": "percentage", "discount_value": 20, "max_uses": 1})
    placed = place_order(stack, code).json()
    assert submit(check_out(stack, placed["id"]), "decline").status_code == 402
    until(lambda: order(stack, placed["id"])["payments"], what="the failed payment to be recorded")

    table = boto3.resource(
        "dynamodb",
        endpoint_url=stack.dynamodb,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    ).Table("boxoffice-local")
    stored_format, index_format = "2000-01-01T00:00:00.000000+0000", "2000-01-01T00:00:00+00:00"
    table.update_item(
        Key={"PK": f"ORDER#demo#{placed['id']}", "SK": "ORDER"},
        UpdateExpression="SET hold_expires_at = :t, GSI1SK = :k",
        ExpressionAttributeValues={":t": stored_format, ":k": f"{index_format}#{placed['id']}"},
    )
    cancelled = until(
        lambda: (o := order(stack, placed["id"]))["status"] == "cancelled" and o,
        timeout=45,
        what="the sweep to cancel it",
    )
    assert cancelled["hold_expires_at"] is None
    again = place_order(stack, code)
    assert again.status_code == 201, again.text
