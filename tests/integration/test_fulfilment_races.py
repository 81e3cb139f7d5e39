"""Bulk fulfilment races on DynamoDB Local: however many triggers meet, exactly ``quantity`` codes.

A paid purchase's checkout.session.completed arrives many times at once (Stripe's duplicate
deliveries, a resend under a new id, the bus delivering to fulfilment more than once); a comp deal
is fulfilled by many staff clicks at once. Each racer is a container of the function serving it.
"""

import json

from boxoffice.processors import fulfillment_registry
from boxoffice.stripe_events import handle_bus_event
from local.stripe_emulator import sign
from tests.support import bulk_fixtures as bf
from tests.support.bus import BusTap, domain_events
from tests.support.containers import Invocation, race
from tests.support.http import STAFF, api_event, reply_of
from tests.support.pipeline import LEASE, admit
from tests.support.stripe import WEBHOOK_SECRET, one_event, variant, webhook_event


def delivery(event: dict) -> Invocation:
    """Stripe POSTing ``event`` to the webhook function, signed."""
    payload = json.dumps(event)
    return Invocation("webhook", webhook_event(payload, sign(payload, WEBHOOK_SECRET)))


def test_duplicate_completed_deliveries_and_bus_retries_issue_exactly_quantity_codes(demo, emulator):
    purchase, session_id = bf.checked_out(emulator, bf.staff_body(quantity=50, unit_price=1000))
    emulator.pay(session_id, "succeed")
    completed = one_event(emulator, "checkout.session.completed", id=session_id)
    resent = variant(completed, "evt_resent_completed")  # Stripe telling the same thing again
    envelope = admit(completed)  # the first delivery, recorded and on the bus
    domain = BusTap(("boxoffice",))
    stripe_bus = BusTap(("boxoffice.stripe",))
    racers = (
        [delivery(completed) for _ in range(8)]
        + [delivery(resent) for _ in range(4)]
        + [Invocation("fulfillment", envelope, attempts=20, retry_delay=0.1) for _ in range(12)]
    )
    result = race(racers)

    assert result.errors() == [], result.errors()
    assert {o.status for o in result.outcomes[:12]} == {200}
    assert {o.result["status"] for o in result.outcomes[12:]} == {"processed"}
    assert result.conflicts >= 1, result.dynamodb
    for published in stripe_bus.drain():  # the resend, and any republished duplicate
        assert handle_bus_event(published, fulfillment_registry(), LEASE) == "processed"
    found = bf.stored_vouchers()
    assert len(found) == len({v.code for v in found}) == 50
    record = bf.state(purchase["id"])
    assert (record["status"], record["vouchers_generated"], record["attention"]) == ("paid", 50, None)
    assert bf.event_status(completed["id"]) == bf.event_status(resent["id"]) == "processed"
    announced = domain_events(domain, "bulk_purchase.fulfilled")
    assert announced and {e["bulk_purchase_id"] for e in announced} == {purchase["id"]}


def test_twenty_concurrent_staff_fulfils_of_a_comp_deal_issue_exactly_quantity_codes(demo):
    purchase = bf.create_ok(bf.comp_body(quantity=50))
    assert bf.approve(purchase["id"]).status == 200
    path = f"{bf.BASE}/{purchase['id']}/fulfill"
    result = race([Invocation("fulfillment", api_event("POST", path, claims=STAFF)) for _ in range(20)])

    assert result.errors() == []
    assert set(result.statuses()) <= {200, 409} and 200 in result.statuses(), result.statuses()
    created = [reply_of(o.result).json["vouchers_created"] for o in result.outcomes if o.status == 200]
    assert sum(created) == 50
    assert result.conflicts >= 1, result.dynamodb
    found = bf.stored_vouchers()
    assert len(found) == len({v.code for v in found}) == 50
    record = bf.state(purchase["id"])
    assert (record["status"], record["vouchers_generated"]) == ("paid", 50)
