"""Order races on DynamoDB Local: voucher redemptions, cancels, and cancel against expiry against payment.

Each racer is a container of the function that would serve it (``tests.support.containers``).
Redemptions are one ticket per order, so one order is one use of the code.
"""

import json
import time
from collections import Counter

import pytest

from boxoffice.processors import fulfillment_registry
from boxoffice.stripe_events import handle_bus_event
from local.stripe_emulator import PaymentRefused, sign
from tests.support.bus import BusTap
from tests.support.containers import Invocation, race
from tests.support.http import ATTENDEE, ORDERS, api_event, reply_of
from tests.support.order_fixtures import (
    GENERAL,
    cancel,
    checkout,
    create,
    create_ok,
    make_voucher,
    move_hold_into_past,
    order_call,
    payments,
    stored,
    times_used,
    voucher_reason,
)
from tests.support.pipeline import LEASE, sync
from tests.support.stripe import WEBHOOK_SECRET, deliver_webhook, emulator_events, stripe_client

SCHEDULED = {
    "version": "0",
    "id": "5f0d7d27-4c3a-4ad6-9d0b-6f1c2b7d8e90",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "123456789012",
    "time": "2026-11-23T10:00:00Z",
    "region": "us-east-1",
    "resources": ["arn:aws:events:us-east-1:123456789012:rule/boxoffice-expiry"],
    "detail": {},
}
"""What the expiry function's schedule rule sends it."""


def cancel_call(order_id: str) -> Invocation:
    return Invocation("checkout", api_event("POST", f"{ORDERS}/{order_id}/cancel", claims=ATTENDEE))


def test_thirty_concurrent_orders_on_a_ten_use_code_redeem_exactly_ten(demo):
    make_voucher("RACE", max_uses=10)
    result = race([order_call(n, "RACE") for n in range(30)])

    assert result.errors() == []
    assert result.statuses() == {201: 10, 422: 20}, [o.result for o in result.outcomes]
    replies = [reply_of(o.result) for o in result.outcomes]
    assert {voucher_reason(r) for r in replies if r.status == 422} == {"used_up"}
    # Racers that wrote after the tenth use were refused by DynamoDB's condition; one that read the
    # voucher after the winners committed is refused before it writes. Some of the first kind must exist.
    assert result.conflicts >= 1, result.dynamodb
    assert times_used("RACE") == 10
    won = [r.json for r in replies if r.status == 201]
    assert len({o["id"] for o in won}) == 10
    assert all(o["voucher_code"] == "RACE" for o in won)

    # A cancel gives one use back, and exactly one more order can take it.
    assert cancel(won[0]["id"], {"sub": won[0]["user_id"], "email": "racer@example.com"}).status == 200
    assert times_used("RACE") == 9
    assert create_ok([GENERAL], "RACE")["voucher_code"] == "RACE"
    assert voucher_reason(create({"lines": [GENERAL], "voucher_code": "RACE"})) == "used_up"
    assert times_used("RACE") == 10


def test_twenty_concurrent_cancels_cancel_once_and_give_back_one_use(demo):
    make_voucher("CODE1")
    order = create_ok([GENERAL], "CODE1")
    create_ok([GENERAL], "CODE1")
    create_ok([GENERAL], "CODE1")
    assert times_used("CODE1") == 3
    result = race([cancel_call(order["id"]) for _ in range(20)])

    assert result.errors() == []
    assert result.statuses() == {200: 1, 409: 19}, [o.result for o in result.outcomes if o.status != 409]
    assert times_used("CODE1") == 2
    assert stored(order["id"]).status == "cancelled"


def run_bus(tap: BusTap) -> None:
    """Deliver what reached the bus to the fulfillment processor, retried as Lambda would (3 tries)."""
    for envelope in tap.drain():
        for attempt in range(3):
            try:
                handle_bus_event(envelope, fulfillment_registry(), LEASE)
                break
            except Exception:
                if attempt == 2:
                    raise
                time.sleep(0.1)


@pytest.mark.parametrize("wait_for_expiry", [False, True], ids=["paying-at-once", "paying-once-expired"])
def test_cancel_racing_hold_expiry_racing_payment_settles_one_way(demo, emulator, wait_for_expiry):
    """The attendee pays on Stripe's page while they cancel and the sweep expires the hold.

    Either the payment won (the order is paid once and keeps its voucher use, every cancel is
    refused) or a cancel won (Stripe's session was expired first, nobody was charged, the use
    is given back once). Never a cancelled order with money taken, never two payments. The
    customer pays at once, or only once a cancel or the sweep expired the session (so the cancel
    side wins whatever the machine's speed).
    """
    make_voucher("CODE1")
    order = create_ok([GENERAL], "CODE1")
    reply = checkout(order["id"])
    assert reply.status == 200, reply.text
    session_id = reply.json["session_id"]
    move_hold_into_past(order["id"])
    tap = BusTap(("boxoffice.stripe",))

    def session_status() -> str:
        return stripe_client(emulator).v1.checkout.sessions.retrieve(session_id).status

    def pay_and_deliver() -> str:
        """Pay on the page; Stripe delivers the completed event to the webhook; the bus runs fulfilment."""
        deadline = time.monotonic() + 30
        while wait_for_expiry and session_status() == "open" and time.monotonic() < deadline:
            time.sleep(0.05)
        try:
            emulator.pay(session_id, "succeed")
        except PaymentRefused:  # the session was expired first: the page takes no card
            return "refused"
        (completed,) = emulator_events(emulator, "checkout.session.completed", id=session_id)
        payload = json.dumps(completed)
        assert deliver_webhook(payload, sign(payload, WEBHOOK_SECRET)).status == 200
        run_bus(tap)
        return "paid"

    racers = [cancel_call(order["id"]) for _ in range(6)] + [
        Invocation("expiry", SCHEDULED, attempts=3) for _ in range(6)
    ]
    result = race(racers, alongside=[pay_and_deliver])
    (paid,) = result.alongside
    assert paid in (("refused",) if wait_for_expiry else ("paid", "refused")), paid
    run_bus(tap)  # what the sweeps published meanwhile
    sync(emulator)  # whatever Stripe has not delivered yet
    run_bus(tap)

    cancels, sweeps = result.outcomes[:6], result.outcomes[6:]
    assert {o.status for o in cancels} <= {200, 409}, [o.result for o in cancels]
    assert [o.error for o in sweeps if o.error] == []
    cancelled_by = Counter(o.status for o in cancels)[200] + sum(o.result["orders_cancelled"] for o in sweeps)
    session = stripe_client(emulator).v1.checkout.sessions.retrieve(session_id).to_dict()
    final = stored(order["id"])
    charged = [p for p in payments(order["id"]) if p.method == "stripe" and p.status == "succeeded"]
    if paid == "paid":
        assert session["payment_status"] == "paid"
        assert (final.status, final.attention) == ("paid", None)
        assert [int(p.amount) for p in charged] == [int(final.total)] == [int(final.amount_paid)]
        assert cancelled_by == 0
        assert times_used("CODE1") == 1
    else:
        assert session["status"] == "expired"
        assert final.status == "cancelled"
        assert charged == [] and int(final.amount_paid) == 0
        assert cancelled_by == 1
        assert times_used("CODE1") == 0
