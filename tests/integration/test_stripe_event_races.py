"""An event storm on DynamoDB Local: one Stripe event delivered 40 times at once takes effect once.

Stripe retries and duplicates deliveries, and EventBridge delivers at least once. Forty webhook
containers receive the same signed checkout.session.completed of an order at once; then twenty
fulfillment containers get what reached the bus at once.
"""

import json
from collections import Counter

from local.stripe_emulator import sign
from tests.support import table
from tests.support.bus import BusTap, domain_events
from tests.support.containers import Invocation, race
from tests.support.order_fixtures import GENERAL, create_ok, paid_by_card, payments, stored
from tests.support.stripe import WEBHOOK_SECRET, emulator_events, webhook_event


def test_one_event_delivered_forty_times_at_once_is_recorded_once_and_takes_effect_once(demo, emulator):
    order = create_ok([GENERAL])
    session_id = paid_by_card(emulator, order["id"])
    (completed,) = [
        e
        for e in emulator_events(emulator, "checkout.session.completed")
        if e["data"]["object"]["id"] == session_id
    ]
    payload = json.dumps(completed)
    stripe_bus, domain = BusTap(("boxoffice.stripe",)), BusTap(("boxoffice",))

    storm = race(
        [Invocation("webhook", webhook_event(payload, sign(payload, WEBHOOK_SECRET))) for _ in range(40)]
    )
    assert storm.errors() == []
    assert storm.statuses() == {200: 40}, [o.result for o in storm.outcomes if o.status != 200]
    assert storm.dynamodb["ConditionalCheckFailedException"] >= 39, storm.dynamodb  # one put won
    (record,) = table.stripe_event_items()
    assert record["SK"] and completed["id"] in record["PK"] + record["SK"]
    published = stripe_bus.drain()
    assert published and {e["detail"]["event_id"] for e in published} == {completed["id"]}

    processing = race(
        [Invocation("fulfillment", published[i % len(published)], attempts=20) for i in range(20)]
    )
    assert processing.errors() == []
    assert Counter(o.result["status"] for o in processing.outcomes) == {"processed": 20}
    final = stored(order["id"])
    assert (final.status, int(final.amount_paid)) == ("paid", int(final.total))
    charged = [p for p in payments(order["id"]) if p.method == "stripe" and p.status == "succeeded"]
    assert [int(p.amount) for p in charged] == [int(final.total)]
    assert [e["order_id"] for e in domain_events(domain, "order.paid")] == [order["id"]]
    (record,) = table.stripe_event_items()
    assert (record["status"], int(record["attempts"])) == ("processed", 1)
