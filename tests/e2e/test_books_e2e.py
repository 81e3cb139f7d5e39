"""The books over HTTP: on a freshly seeded demo, after a card payment, the audit finds nothing."""

import requests

from tests.support.e2e import auth, until
from tests.support.http import ATTENDEE_URLS


def audit(stack, role: str = "staff") -> requests.Response:
    return requests.get(f"{stack.api}/v1/conferences/demo/audit", headers=auth(stack, role), timeout=30)


def test_the_audit_answers_on_the_seeded_demo_and_finds_nothing(own_stack):
    stack = own_stack
    assert audit(stack, "attendee").status_code == 403
    fresh = audit(stack)
    assert fresh.status_code == 200, fresh.text
    assert fresh.json()["items"] == [] and fresh.json()["next"] is None

    orders = f"{stack.api}/v1/conferences/demo/orders"
    body = {"lines": [{"ticket_type_id": "general", "quantity": 1}]}
    placed = requests.post(orders, json=body, headers=auth(stack, "attendee"), timeout=10).json()
    checkout = requests.post(
        f"{orders}/{placed['id']}/checkout", json=ATTENDEE_URLS, headers=auth(stack, "attendee"), timeout=10
    ).json()
    paid = requests.post(
        checkout["checkout_url"], data={"outcome": "succeed"}, allow_redirects=False, timeout=10
    )
    assert paid.status_code in (200, 302, 303), paid.text

    def settled() -> bool:
        order = requests.get(f"{orders}/{placed['id']}", headers=auth(stack, "attendee"), timeout=10).json()
        events = requests.get(
            f"{stack.api}/v1/conferences/demo/stripe-events?status=received",
            headers=auth(stack, "staff"),
            timeout=10,
        ).json()
        return order["status"] == "paid" and not events["items"]

    until(settled, what="the order paid and its events processed")
    reply = until(lambda: (r := audit(stack)).json()["items"] == [] and r, what="a clean audit")
    checked = reply.json()["checked"]
    assert checked["order"] == 1 and checked["stripe_payment"] == 1 and checked["stripe_event"] >= 1
