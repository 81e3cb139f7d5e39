"""A deactivated conference stops selling, but its money in flight still settles.

Checkouts opened before deactivation still get paid, expire or fail; refunds and disputes still
arrive. So the webhook admits an inactive conference's signed events, and the sweep goes on with it
for ``SETTLING_WINDOW`` (Stripe keeps events for 30 days) before letting it go.
"""

import json
from datetime import timedelta
from typing import Any

from boxoffice import store
from boxoffice.processors import fulfillment_registry
from boxoffice.store import stripe_events as event_records
from boxoffice.store.conferences import SETTLING_WINDOW
from boxoffice.stripe_events import handle_bus_event
from local.lambda_runtime import LambdaContext
from local.stripe_emulator import sign
from tests.support.bus import BusTap
from tests.support.clock import now
from tests.support.functions import api_fn, load_function
from tests.support.http import ADMIN, DEMO_CONFERENCE, call
from tests.support.order_fixtures import checkout, create_ok, move_hold_into_past, stored
from tests.support.pipeline import LEASE
from tests.support.stripe import WEBHOOK_SECRET, deliver_webhook, one_event


def set_active(active: bool, cid: str = "demo") -> None:
    reply = call(
        api_fn(), "PUT", f"/v1/conferences/{cid}", body={**DEMO_CONFERENCE, "is_active": active}, claims=ADMIN
    )
    assert reply.status in (200, 201), reply.text


def sweep() -> dict[str, Any]:
    return load_function("expiry").handler({"detail-type": "Scheduled Event"}, LambdaContext())


def test_a_payment_made_after_deactivation_still_pays_the_order(demo, emulator):
    order = create_ok()
    session_id = checkout(order["id"]).json["session_id"]
    set_active(False)
    emulator.pay(session_id, "succeed")
    completed = one_event(emulator, "checkout.session.completed")

    tap = BusTap(("boxoffice.stripe",))
    payload = json.dumps(completed)
    assert deliver_webhook(payload, sign(payload, WEBHOOK_SECRET)).status == 200
    assert event_records.get_event("demo", completed["id"]) is not None
    for envelope in tap.drain():
        handle_bus_event(envelope, fulfillment_registry(), LEASE)

    assert stored(order["id"]).status == "paid"


def test_the_sweep_settles_a_deactivated_conference_until_its_window_ends(demo, emulator):
    order = create_ok()
    move_hold_into_past(order["id"])
    set_active(False)

    report = sweep()
    assert report["conferences"] == 1
    assert report["orders_cancelled"] == 1
    assert stored(order["id"]).status == "cancelled"

    assert "demo" in store.list_settling_conference_ids(now() + SETTLING_WINDOW - timedelta(hours=1))
    assert "demo" not in store.list_settling_conference_ids(now() + SETTLING_WINDOW + timedelta(hours=1))


def test_saving_an_inactive_conference_keeps_its_clock_and_reactivating_lists_it_as_active(demo):
    set_active(False)
    deactivated = store.get_conference("demo").deactivated_at
    assert deactivated is not None
    set_active(False)
    assert store.get_conference("demo").deactivated_at == deactivated

    set_active(True)
    assert store.get_conference("demo").deactivated_at is None
    assert store.list_settling_conference_ids() == ["demo"]
    assert store.list_active_conference_ids() == ["demo"]


def test_a_conference_created_inactive_is_never_swept(demo):
    set_active(False, cid="draft")
    assert "draft" not in store.list_settling_conference_ids()
    assert store.get_conference("draft").deactivated_at is None
