"""API-side steps for tests that drive the running local stack: the setup a browser story needs
before a person acts (a paid order, another sponsor's purchase, Stripe events that failed)."""

import time
from typing import Any

import requests

from tests.support.e2e import DEMO, auth, until


def send(stack: Any, role: str, method: str, path: str, body: Any = None, **params: Any) -> Any:
    """One API call as ``role``; anything but 2xx fails the test with the API's answer."""
    reply = requests.request(
        method, f"{stack.api}{path}", json=body, params=params, headers=auth(stack, role), timeout=30
    )
    assert reply.ok, f"{method} {path} as {role}: {reply.status_code} {reply.text}"
    return reply.json() if reply.text else None


def refusal(stack: Any, role: str, path: str) -> str:
    """The message the API refuses ``GET path`` with, for ``role``."""
    reply = requests.get(f"{stack.api}{path}", headers=auth(stack, role), timeout=30)
    assert not reply.ok, f"GET {path} as {role} was allowed"
    return str(reply.json()["error"]["message"])


def paid_order(stack: Any, role: str, lines: list[dict[str, Any]]) -> dict[str, Any]:
    """An order paid by card on the emulator's hosted page, once the app has taken the payment."""
    order = send(stack, role, "POST", f"{DEMO}/orders", {"lines": lines})
    urls = {"success_url": f"{stack.api}/ok", "cancel_url": f"{stack.api}/no"}
    session = send(stack, role, "POST", f"{DEMO}/orders/{order['id']}/checkout", urls)
    paid = requests.post(
        f"{stack.stripe}/checkout/{session['session_id']}",
        data={"outcome": "succeed"},
        allow_redirects=False,
        timeout=30,
    )
    assert paid.status_code == 303, paid.text
    return until(
        lambda: (o := send(stack, role, "GET", f"{DEMO}/orders/{order['id']}"))["status"] == "paid" and o,
        what=f"order {order['id']} paid",
    )


def other_sponsors_purchase(stack: Any, sponsor_id: str = "globex") -> dict[str, Any]:
    """A sponsor besides the demo's ACME, with a purchase of its own (made by staff)."""
    sponsor = {"name": "Globex", "slug": sponsor_id, "contact_email": "events@globex.example"}
    send(stack, "staff", "PUT", f"{DEMO}/sponsors/{sponsor_id}", sponsor)
    deal = {
        "sponsor_id": sponsor_id,
        "quantity": 3,
        "ticket_type_id": "general",
        "unit_price": 0,
        "voucher_config": {"voucher_type": "comp", "max_uses": 1},
    }
    return send(stack, "staff", "POST", f"{DEMO}/bulk-purchases", deal)


def _knobs(stack: Any, path: str, body: dict[str, Any] | None = None) -> Any:
    reply = requests.post(f"{stack.stripe}/_emulator/{path}", json=body or {}, timeout=30)
    assert reply.ok, reply.text
    return reply.json()


def _pending_faults(stack: Any) -> list[str]:
    return list(requests.get(f"{stack.stripe}/_emulator", timeout=30).json()["state"]["pending_failures"])


def failed_stripe_events(stack: Any, payment_intent: str, secret_key: str) -> list[dict[str, Any]]:
    """Stripe events of a dashboard refund whose processing failed for good, as staff see them.

    The refund's events are held while Stripe is made to fail every call, so the app records
    them, its processors fail on re-reading Stripe, and the runner's retries run out. Then Stripe
    answers again (the injected failures are used up) and the events wait for a person to replay.
    """
    _knobs(stack, "hold_events")
    refund = requests.post(
        f"{stack.stripe}/v1/refunds",
        data={"payment_intent": payment_intent, "amount": 1000},
        headers={"Authorization": f"Bearer {secret_key}"},
        timeout=30,
    )
    assert refund.ok, refund.text
    _knobs(stack, "fail_next", {"n": 60, "mode": "500"})
    _knobs(stack, "release_events")

    def settled_failures() -> list[dict[str, Any]]:
        first = send(stack, "staff", "GET", f"{DEMO}/stripe-events", status="failed")["items"]
        time.sleep(2)  # the runner's retries come 0.1-0.3 s apart: unchanged for 2 s means they ran out
        again = send(stack, "staff", "GET", f"{DEMO}/stripe-events", status="failed")["items"]
        return again if first and first == again else []

    failed = until(settled_failures, timeout=60, what="refund events failed for good")
    while _pending_faults(stack):  # use up the injected failures so Stripe answers again
        requests.get(
            f"{stack.stripe}/v1/events",
            params={"limit": 1},
            headers={"Authorization": f"Bearer {secret_key}"},
            timeout=30,
        )
    return failed


def sponsors_unused_code(stack: Any) -> tuple[str, str]:
    """A purchase id and one of its unused codes: a paid ACME purchase of general admission (bought here
    when there is none)."""
    bought = [
        p
        for p in send(stack, "sponsor", "GET", f"{DEMO}/bulk-purchases", status="paid")["items"]
        if p["ticket_type_id"] == "general"
    ]
    if not bought:
        purchase = send(
            stack, "sponsor", "POST", f"{DEMO}/bulk-purchases", {"ticket_type_id": "general", "quantity": 2}
        )
        urls = {"success_url": f"{stack.api}/ok", "cancel_url": f"{stack.api}/no"}
        session = send(stack, "sponsor", "POST", f"{DEMO}/bulk-purchases/{purchase['id']}/checkout", urls)
        requests.post(
            f"{stack.stripe}/checkout/{session['session_id']}", data={"outcome": "succeed"}, timeout=30
        )
        until(
            lambda: (
                send(stack, "sponsor", "GET", f"{DEMO}/bulk-purchases/{purchase['id']}")["vouchers_generated"]
                == 2
            ),
            what="the sponsor's codes issued",
        )
        bought = [purchase]
    for purchase in bought:
        codes = send(stack, "sponsor", "GET", f"{DEMO}/bulk-purchases/{purchase['id']}/vouchers")["items"]
        unused = [c["code"] for c in codes if c["times_used"] == 0]
        if unused:
            return purchase["id"], unused[0]
    raise AssertionError("every code of ACME's purchases is used")
