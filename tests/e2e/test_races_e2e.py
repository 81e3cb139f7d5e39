"""Races through the front door: concurrent requests to the runner, each in an environment of its own.

The runner serves overlapping requests the way Lambda does (separate processes, up to the
function's reserved concurrency), so these requests really meet at DynamoDB Local and the Stripe
emulator. Each test also reads the runner's platform lines to show the race was run: several
environments of one function were busy at once.
"""

import json
import re
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import boto3
import requests

from local import tokens
from local.stripe_emulator import sign
from tests.e2e.test_orders_e2e import sponsor_code
from tests.support.e2e import DEMO, auth, demo_get, demo_post, stack_stripe, until
from tests.support.http import ATTENDEE_URLS, SPONSOR_URLS

START = re.compile(r"\[runner\] (\w+) env#(\d+) pid=\d+ START RequestId: \S+ .* busy=(\d+)")


def all_at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run every call in its own thread, released together; their results in order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait(timeout=30)
        try:
            results[i] = calls[i]()
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    return results


def environments_seen(stack: Any, function_id: str, since: int) -> tuple[int, int]:
    """From the runner's log after byte ``since``: (distinct environments, most busy at once)."""
    text = stack.log.read_bytes()[since:].decode(errors="replace")
    starts = [m for m in START.finditer(text) if m.group(1) == function_id]
    return len({m.group(2) for m in starts}), max((int(m.group(3)) for m in starts), default=0)


def runner_errors(stack: Any, since: int) -> str:
    """What the runner logged after byte ``since`` besides its START/END and access lines."""
    text = stack.log.read_bytes()[since:].decode(errors="replace")
    noise = (" START RequestId", " END RequestId", "[runner] GET ", "[runner] POST ")
    return "\n".join(line for line in text.splitlines() if not any(n in line for n in noise))[-4000:]


def log_size(stack: Any) -> int:
    return stack.log.stat().st_size


def demo_webhook_secret(stack: Any) -> str:
    """The demo's signing secret, as the runner stored it in its Secrets Manager."""
    client = boto3.client(
        "secretsmanager",
        endpoint_url=stack.aws,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    names = [
        s["Name"]
        for s in client.list_secrets()["SecretList"]
        if s["Name"].endswith("conferences/demo/stripe")
    ]
    (name,) = names
    return json.loads(client.get_secret_value(SecretId=name)["SecretString"])["webhook_secret"]


def test_40_concurrent_deliveries_of_one_payment_event_record_it_once_and_issue_the_codes_once(stack):
    purchase = demo_post(stack, "/bulk-purchases", {"ticket_type_id": "general", "quantity": 3}, "sponsor")
    checkout_url = demo_post(stack, f"/bulk-purchases/{purchase['id']}/checkout", SPONSOR_URLS, "sponsor")[
        "checkout_url"
    ]
    session_id = checkout_url.rstrip("/").rsplit("/", 1)[-1]
    assert requests.post(f"{stack.stripe}/_emulator/hold_events", timeout=10).ok
    try:
        paid = requests.post(checkout_url, data={"outcome": "succeed"}, allow_redirects=False, timeout=10)
        assert paid.status_code == 303, paid.text
        events = stack_stripe(stack).v1.events.list(
            params={"type": "checkout.session.completed", "limit": 100}
        )
        (event,) = [e.to_dict() for e in events.data if e.data.object["id"] == session_id]
        payload = json.dumps(event)
        secret = demo_webhook_secret(stack)
        url = f"{stack.api}/v1/webhooks/stripe/demo"
        since = log_size(stack)

        def deliver() -> int:
            headers = {"Stripe-Signature": sign(payload, secret), "Content-Type": "application/json"}
            return requests.post(url, data=payload, headers=headers, timeout=120).status_code

        statuses = Counter(all_at_once([deliver] * 40))
    finally:
        requests.post(f"{stack.stripe}/_emulator/release_events", timeout=10)
    assert statuses == Counter({200: 40}), (statuses, runner_errors(stack, since))
    environments, busy = environments_seen(stack, "WebhookFunction", since)
    assert environments >= 2 and busy >= 2, (environments, busy)

    settled = until(
        lambda: (p := demo_get(stack, f"/bulk-purchases/{purchase['id']}"))["status"] == "paid" and p,
        what="the purchase to be paid",
    )
    until(
        lambda: demo_get(stack, f"/bulk-purchases/{purchase['id']}")["vouchers_generated"] == 3, what="codes"
    )
    recorded = demo_get(stack, "/stripe-events?status=processed&limit=200")["items"]
    assert [e["event_id"] for e in recorded].count(event["id"]) == 1
    # The emulator's own (held, now released) delivery is one more duplicate: still three codes.
    requests.post(f"{stack.stripe}/_emulator/release_events", timeout=10)
    codes = demo_get(stack, f"/bulk-purchases/{purchase['id']}/vouchers")["items"]
    assert len(codes) == 3 == settled["vouchers_generated"]


def test_20_concurrent_card_refunds_never_return_more_than_was_paid(stack):
    order = demo_post(stack, "/orders", {"lines": [{"ticket_type_id": "general", "quantity": 1}]}, "attendee")
    checkout_url = demo_post(stack, f"/orders/{order['id']}/checkout", ATTENDEE_URLS, "attendee")[
        "checkout_url"
    ]
    assert requests.post(checkout_url, data={"outcome": "succeed"}, allow_redirects=False, timeout=10).ok
    paid = until(
        lambda: (o := demo_get(stack, f"/orders/{order['id']}", "attendee"))["status"] == "paid" and o,
        what="the order to be paid",
    )
    since = log_size(stack)

    def refund(i: int) -> Callable[[], requests.Response]:
        return lambda: requests.post(
            f"{stack.api}{DEMO}/orders/{order['id']}/refunds",
            json={"amount": 6000, "reason": "requested_by_customer", "destination": "card"},
            headers={**auth(stack, "staff"), "Idempotency-Key": f"race-{order['id']}-{i}"},
            timeout=120,
        )

    replies = all_at_once([refund(i) for i in range(20)])
    statuses = Counter(r.status_code for r in replies)
    assert statuses[201] == paid["amount_paid"] // 6000, (
        statuses
    )  # 4 of 60 fit in 250; a fifth would overdraw
    assert not {s for s in statuses if s >= 500}, (statuses, runner_errors(stack, since))
    environments, busy = environments_seen(stack, "RefundsFunction", since)
    assert environments >= 2 and busy >= 2, (environments, busy)

    after = demo_get(stack, f"/orders/{order['id']}", "attendee")
    assert after["amount_refunded"] == 6000 * statuses[201] <= paid["amount_paid"]
    intent = after["payments"][0]["payment_intent_id"] if after.get("payments") else None
    refunds = stack_stripe(stack).v1.refunds.list(params={"limit": 100}).data
    ours = [r for r in refunds if intent is None or r.payment_intent == intent]
    assert sum(r.amount for r in ours if r.status == "succeeded" and r.amount == 6000) <= paid["amount_paid"]


def test_a_storm_of_orders_on_a_10_use_code_places_exactly_10(stack):
    code = sponsor_code(stack, {"voucher_type": "comp", "max_uses": 10})
    since = log_size(stack)

    def place(i: int) -> Callable[[], requests.Response]:
        token = tokens.mint(f"storm-{i}", email=f"storm-{i}@attendee.example", groups=[])
        return lambda: requests.post(
            f"{stack.api}{DEMO}/orders",
            json={"lines": [{"ticket_type_id": "general", "quantity": 1}], "voucher_code": code},
            headers={"Authorization": f"Bearer {token}"},
            timeout=120,
        )

    replies = all_at_once([place(i) for i in range(30)])
    statuses = Counter(r.status_code for r in replies)
    assert statuses[201] == 10, (statuses, [r.text for r in replies if r.status_code not in (201,)][:3])
    assert not {s for s in statuses if s >= 500}, (statuses, runner_errors(stack, since))
    environments, busy = environments_seen(stack, "CheckoutFunction", since)
    assert environments >= 2 and busy >= 2, (environments, busy)
    voucher = demo_get(stack, f"/vouchers/{code.lower()}/check", "attendee")
    assert voucher["valid"] is False
