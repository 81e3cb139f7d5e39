"""Bulk purchases through the whole local stack: sponsor, Stripe emulator, webhook, bus, codes, refund."""

import csv
import io
import time

import pytest
import requests

from tests.support.e2e import auth, until
from tests.support.http import SPONSOR_URLS


def purchase(stack, purchase_id: str) -> dict:
    reply = requests.get(
        f"{stack.api}/v1/conferences/demo/bulk-purchases/{purchase_id}",
        headers=auth(stack, "staff"),
        timeout=10,
    )
    assert reply.status_code == 200, reply.text
    return reply.json()


def sponsor_checkout(stack, quantity: int = 3) -> tuple[str, str]:
    created = requests.post(
        f"{stack.api}/v1/conferences/demo/bulk-purchases",
        json={"ticket_type_id": "general", "quantity": quantity},
        headers=auth(stack, "sponsor"),
        timeout=10,
    )
    assert created.status_code == 201, created.text
    purchase_id = created.json()["id"]
    checkout = requests.post(
        f"{stack.api}/v1/conferences/demo/bulk-purchases/{purchase_id}/checkout",
        json=SPONSOR_URLS,
        headers=auth(stack, "sponsor"),
        timeout=30,
    )
    assert checkout.status_code == 200, checkout.text
    return purchase_id, checkout.json()["checkout_url"]


def pay(checkout_url: str, outcome: str) -> None:
    page = requests.get(checkout_url, timeout=10)
    assert page.status_code == 200
    assert "General admission" in page.text or "general" in page.text
    reply = requests.post(checkout_url, data={"outcome": outcome}, allow_redirects=False, timeout=10)
    assert reply.status_code == 303, reply.text
    assert reply.headers["Location"].startswith(SPONSOR_URLS["success_url"])


def status_becomes(stack, purchase_id: str, status: str, timeout: float = 30) -> dict:
    return until(
        lambda: (p := purchase(stack, purchase_id))["status"] == status and p, timeout, f"status {status}"
    )


def test_sponsor_buys_pays_gets_codes_exports_csv_and_staff_refund_turns_them_off(stack):
    purchase_id, checkout_url = sponsor_checkout(stack, quantity=3)
    assert purchase(stack, purchase_id)["status"] == "processing"
    pay(checkout_url, "succeed")
    paid = status_becomes(stack, purchase_id, "paid")
    assert paid["vouchers_generated"] == 3
    assert paid["payment_intent_id"].startswith("pi_")

    codes = requests.get(
        f"{stack.api}/v1/conferences/demo/bulk-purchases/{purchase_id}/vouchers",
        headers=auth(stack, "sponsor"),
        timeout=10,
    ).json()["items"]
    assert len(codes) == 3
    assert all(c["code"].startswith("BULK-ACME-") and c["is_active"] for c in codes)
    exported = requests.get(
        f"{stack.api}/v1/conferences/demo/bulk-purchases/{purchase_id}/vouchers",
        params={"format": "csv"},
        headers=auth(stack, "sponsor"),
        timeout=10,
    )
    assert exported.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["code"] for r in rows] == sorted(c["code"] for c in codes)
    assert exported.text.splitlines()[0] == "code,times_used,max_uses,is_active,valid_from,valid_until"

    refund = requests.post(
        f"{stack.api}/v1/conferences/demo/bulk-purchases/{purchase_id}/refund",
        json={"reason": "requested_by_customer"},
        headers={**auth(stack, "staff"), "Idempotency-Key": f"refund-{purchase_id}"},
        timeout=30,
    )
    assert refund.status_code == 201, refund.text
    assert refund.json()["status"] == "succeeded"
    assert refund.json()["amount"] == paid["total_amount"]
    refunded = status_becomes(stack, purchase_id, "refunded")
    assert refunded["amount_refunded"] == paid["total_amount"]
    after = requests.get(
        f"{stack.api}/v1/conferences/demo/bulk-purchases/{purchase_id}/vouchers",
        headers=auth(stack, "staff"),
        timeout=10,
    ).json()["items"]
    assert [c["is_active"] for c in after] == [False, False, False]
    # Stripe's own refund events arrive afterwards and must not count the refund again.
    time.sleep(2)
    assert purchase(stack, purchase_id)["amount_refunded"] == paid["total_amount"]


@pytest.mark.parametrize(("outcome", "final"), [("async_succeed", "paid"), ("async_fail", "failed")])
def test_async_payments_settle_the_purchase(stack, outcome, final):
    purchase_id, checkout_url = sponsor_checkout(stack, quantity=2)
    pay(checkout_url, outcome)
    settled = status_becomes(stack, purchase_id, final)
    assert settled["vouchers_generated"] == (2 if final == "paid" else 0)


def test_an_unpaid_session_expires_by_the_emulator_clock_and_the_purchase_fails(own_stack):
    stack = own_stack
    purchase_id, _ = sponsor_checkout(stack, quantity=1)
    reply = requests.post(f"{stack.stripe}/_emulator/advance_clock", json={"seconds": 25 * 3600}, timeout=10)
    assert reply.status_code == 200, reply.text
    failed = status_becomes(stack, purchase_id, "failed")
    assert failed["vouchers_generated"] == 0
    again = requests.post(
        f"{stack.api}/v1/conferences/demo/bulk-purchases/{purchase_id}/checkout",
        json=SPONSOR_URLS,
        headers=auth(stack, "sponsor"),
        timeout=10,
    )
    assert again.status_code == 409


def test_an_attendee_is_refused_on_bulk_routes(stack):
    reply = requests.get(
        f"{stack.api}/v1/conferences/demo/bulk-purchases", headers=auth(stack, "attendee"), timeout=10
    )
    assert reply.status_code == 403


def test_events_released_in_reverse_order_still_end_paid_with_exact_codes(stack):
    """The emulator holds a paid checkout's events and releases them newest first.

    While they are held, the runner's sweep may reconcile them from Stripe's event list first;
    either way, the deliveries in reverse order must leave exactly one fulfilment.
    """
    purchase_id, checkout_url = sponsor_checkout(stack, quantity=4)
    assert requests.post(f"{stack.stripe}/_emulator/hold_events", timeout=10).status_code == 200
    try:
        pay(checkout_url, "succeed")
    finally:
        released = requests.post(
            f"{stack.stripe}/_emulator/release_events", json={"reverse": True}, timeout=10
        )
        assert released.status_code == 200, released.text
    paid = status_becomes(stack, purchase_id, "paid")
    assert paid["vouchers_generated"] == 4
    codes = requests.get(
        f"{stack.api}/v1/conferences/demo/bulk-purchases/{purchase_id}/vouchers",
        headers=auth(stack, "staff"),
        timeout=10,
    ).json()["items"]
    assert len({c["code"] for c in codes}) == 4
