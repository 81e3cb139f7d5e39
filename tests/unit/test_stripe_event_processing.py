"""Processing: each event takes effect once, failures retry then park, staff replay, both ways in."""

import json
import threading
from datetime import timedelta

import pytest

from boxoffice import stripe_events
from boxoffice.store import stripe_events as records
from boxoffice.stripe_events import EventBusy, Registry, handle_bus_event
from local.stripe_emulator import sign
from tests.support.bus import BusTap
from tests.support.functions import load_function
from tests.support.http import ADMIN, DEMO_CONFERENCE, SPONSOR, STAFF, call
from tests.support.pipeline import LEASE
from tests.support.stripe import WEBHOOK_SECRET, deliver_webhook, stripe_event

PARTNER_SOURCE = "aws.partner/stripe.com/ed_test_61Demo"


class Counting:
    """A test handler that counts its effects and can be told to fail."""

    def __init__(self, failures: int = 0) -> None:
        self.calls: list[str] = []
        self.failures = failures
        self.lock = threading.Lock()

    def __call__(self, conference_id: str, event: dict) -> None:
        with self.lock:
            self.calls.append(event["id"])
            if self.failures:
                self.failures -= 1
                raise RuntimeError("downstream is down")


def registry_with(handler: Counting) -> Registry:
    registry = Registry()
    registry.on("checkout.session.completed", "charge.refunded")(handler)
    return registry


def admitted(event: dict, cid: str = "demo") -> dict:
    """Admit through the webhook and return the bus envelope the processor receives."""
    tap = BusTap(("boxoffice.stripe",))
    payload = json.dumps(event)
    assert deliver_webhook(payload, sign(payload, WEBHOOK_SECRET), cid).status == 200
    (envelope,) = tap.drain()
    return envelope


def run_like_lambda(envelope: dict, registry: Registry, attempts: int = 3) -> str | None:
    """Lambda's async invocation: the first try plus two retries while the handler raises."""
    for _ in range(attempts):
        try:
            return handle_bus_event(envelope, registry, LEASE)
        except Exception:  # noqa: S112 - Lambda retries whatever was raised
            continue
    return None


def test_registering_a_type_no_rule_routes_is_refused():
    with pytest.raises(ValueError, match="not routed"):
        Registry().on("customer.created")(Counting())


def test_an_admitted_event_is_processed_once(demo):
    handler = Counting()
    envelope = admitted(stripe_event("evt_a", conference_id="demo"))
    assert handle_bus_event(envelope, registry_with(handler), LEASE) == "processed"
    assert handle_bus_event(envelope, registry_with(handler), LEASE) == "processed"
    assert handler.calls == ["evt_a"]
    record = records.get_event("demo", "evt_a")
    assert (record.status, record.attempts, record.last_error) == ("processed", 1, None)
    assert record.ttl is not None


def test_a_processor_failing_twice_then_succeeding_ends_processed_after_three_attempts(demo):
    handler = Counting(failures=2)
    envelope = admitted(stripe_event("evt_flaky"))
    assert run_like_lambda(envelope, registry_with(handler)) == "processed"
    record = records.get_event("demo", "evt_flaky")
    assert (record.status, record.attempts) == ("processed", 3)
    assert record.last_error is None


def test_a_processor_that_always_fails_ends_failed_and_can_be_replayed_after_a_fix(demo, api):
    handler = Counting(failures=99)
    envelope = admitted(stripe_event("evt_broken"))
    assert run_like_lambda(envelope, registry_with(handler)) is None
    record = records.get_event("demo", "evt_broken")
    assert (record.status, record.attempts) == ("failed", 3)
    assert "downstream is down" in record.last_error

    listed = call(api, "GET", "/v1/conferences/demo/stripe-events", query="status=failed", claims=STAFF)
    assert listed.status == 200
    assert [e["event_id"] for e in listed.json["items"]] == ["evt_broken"]
    assert listed.json["items"][0]["attempts"] == 3

    handler.failures = 0  # the fix is deployed
    tap = BusTap(("boxoffice.stripe",))
    replay = call(api, "POST", "/v1/conferences/demo/stripe-events/evt_broken/replay", claims=STAFF)
    assert replay.status == 202, replay.text
    (again,) = tap.drain()
    assert handle_bus_event(again, registry_with(handler), LEASE) == "processed"
    assert records.get_event("demo", "evt_broken").attempts == 4
    assert (
        call(api, "GET", "/v1/conferences/demo/stripe-events", query="status=failed", claims=STAFF).json[
            "items"
        ]
        == []
    )
    again_replay = call(api, "POST", "/v1/conferences/demo/stripe-events/evt_broken/replay", claims=STAFF)
    assert again_replay.status == 409


def test_an_event_naming_another_conference_is_rejected_before_anything_changes(demo):
    handler = Counting()
    envelope = admitted(stripe_event("evt_cross", conference_id="someone-else"))
    assert handle_bus_event(envelope, registry_with(handler), LEASE) == "rejected"
    assert handler.calls == []
    assert "someone-else" in records.get_event("demo", "evt_cross").last_error


def test_a_type_with_no_handler_is_ignored(demo):
    handler = Counting()
    envelope = admitted(stripe_event("evt_exp", event_type="checkout.session.expired"))
    assert handle_bus_event(envelope, registry_with(handler), LEASE) == "ignored"
    assert handler.calls == []


def test_a_crashed_processor_is_taken_over_once_its_lease_ends(demo):
    handler = Counting()
    envelope = admitted(stripe_event("evt_crash"))
    record = records.get_event("demo", "evt_crash")
    assert records.claim(record, timedelta(seconds=60)) is not None  # a processor claims, then dies
    with pytest.raises(EventBusy):
        handle_bus_event(envelope, registry_with(handler), LEASE)
    record = records.get_event("demo", "evt_crash")
    record.update(
        actions=[records.StripeEventRecord.lease_until.set(record.lease_until - timedelta(minutes=5))]
    )
    assert handle_bus_event(envelope, registry_with(handler), LEASE) == "processed"
    assert handler.calls == ["evt_crash"]


def test_events_out_of_order_are_each_applied_once(demo):
    handler = Counting()
    envelopes = [admitted(stripe_event(f"evt_{n}")) for n in range(5)]
    for envelope in reversed(envelopes):
        handle_bus_event(envelope, registry_with(handler), LEASE)
    for envelope in envelopes:
        handle_bus_event(envelope, registry_with(handler), LEASE)
    assert sorted(handler.calls) == [f"evt_{n}" for n in range(5)]


def partner_envelope(event: dict) -> dict:
    """What Stripe's Amazon EventBridge destination delivers: the event itself as detail."""
    return {
        "version": "0",
        "id": "4bd1f4a8-55a3-6f26-0e1d-1a5f3c3b2f6e",
        "detail-type": event["type"],
        "source": PARTNER_SOURCE,
        "account": "123456789012",
        "time": "2026-11-23T10:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": event,
    }


def test_partner_events_are_recorded_deduplicated_and_processed_once(demo, api):
    body = {**DEMO_CONFERENCE, "stripe_event_source": PARTNER_SOURCE}
    assert call(api, "PUT", "/v1/conferences/demo", body=body, claims=ADMIN).status == 200
    handler = Counting()
    envelope = partner_envelope(stripe_event("evt_partner"))
    assert handle_bus_event(envelope, registry_with(handler), LEASE) == "processed"
    assert handle_bus_event(envelope, registry_with(handler), LEASE) == "processed"
    assert handler.calls == ["evt_partner"]
    assert records.get_event("demo", "evt_partner").source == "eventbridge"


def test_a_partner_source_no_conference_claims_is_refused(demo):
    with pytest.raises(Exception, match="no conference receives events"):
        handle_bus_event(partner_envelope(stripe_event("evt_x")), Registry(), LEASE)
    assert records.get_event("demo", "evt_x") is None


def test_one_partner_source_feeds_one_conference(demo, api):
    assert (
        call(
            api,
            "PUT",
            "/v1/conferences/demo",
            body={**DEMO_CONFERENCE, "stripe_event_source": PARTNER_SOURCE},
            claims=ADMIN,
        ).status
        == 200
    )
    other = call(
        api,
        "PUT",
        "/v1/conferences/other",
        body={**DEMO_CONFERENCE, "stripe_event_source": PARTNER_SOURCE},
        claims=ADMIN,
    )
    assert other.status == 409


def test_event_routes_are_staff_only_and_tenant_scoped(demo, api):
    admitted(stripe_event("evt_1"))
    assert call(api, "GET", "/v1/conferences/demo/stripe-events", claims=SPONSOR).status == 403
    assert call(api, "POST", "/v1/conferences/demo/stripe-events/evt_1/replay", claims=SPONSOR).status == 403
    assert call(api, "GET", "/v1/conferences/nowhere/stripe-events", claims=ADMIN).status == 404
    assert (
        call(api, "POST", "/v1/conferences/demo/stripe-events/evt_missing/replay", claims=STAFF).status == 404
    )
    assert (
        call(api, "POST", "/v1/conferences/demo/stripe-events/not-an-id/replay", claims=STAFF).status == 422
    )
    assert (
        call(api, "GET", "/v1/conferences/demo/stripe-events", query="status=bogus", claims=STAFF).status
        == 422
    )
    assert call(api, "GET", "/v1/conferences/demo/stripe-events", query="limit=0", claims=STAFF).status == 422


def test_event_lists_page_with_an_opaque_cursor_that_cannot_cross_lists(demo, api):
    for n in range(5):
        admitted(stripe_event(f"evt_p{n}"))
    first = call(
        api, "GET", "/v1/conferences/demo/stripe-events", query="status=received&limit=2", claims=STAFF
    )
    assert len(first.json["items"]) == 2
    seen = [e["event_id"] for e in first.json["items"]]
    cursor = first.json["next"]
    while cursor:
        page = call(
            api,
            "GET",
            "/v1/conferences/demo/stripe-events",
            query=f"status=received&limit=2&cursor={cursor}",
            claims=STAFF,
        )
        seen += [e["event_id"] for e in page.json["items"]]
        cursor = page.json["next"]
    assert sorted(seen) == [f"evt_p{n}" for n in range(5)]
    crossing = call(
        api,
        "GET",
        "/v1/conferences/demo/stripe-events",
        query=f"status=failed&cursor={first.json['next']}",
        claims=STAFF,
    )
    assert crossing.status == 422
    garbage = call(
        api, "GET", "/v1/conferences/demo/stripe-events", query="status=failed&cursor=%%%", claims=STAFF
    )
    assert garbage.status == 422


def test_reconciliation_admits_events_the_webhook_never_delivered(demo, emulator):
    import stripe

    client = stripe.StripeClient(
        DEMO_CONFERENCE["stripe"]["secret_key"], base_addresses={"api": emulator.url}
    )
    session = client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "success_url": "https://example.test/ok",
            "line_items": [
                {
                    "price_data": {"currency": "usd", "unit_amount": 1000, "product_data": {"name": "T"}},
                    "quantity": 1,
                }
            ],
            "metadata": {"conference_id": "demo"},
        }
    )
    emulator.pay(session.id, "succeed")
    tap = BusTap(("boxoffice.stripe",))
    result = stripe_events.reconcile("demo")
    assert result.admitted == 1  # checkout.session.completed; the intent and charge events are not routed
    (envelope,) = tap.drain()
    assert envelope["detail-type"] == "checkout.session.completed"
    assert records.get_cursor("demo").created_gte <= session.created + 5, "unfinished: the cursor waits"

    handler = Counting()
    handle_bus_event(envelope, registry_with(handler), LEASE)
    again = stripe_events.reconcile("demo")
    assert again.admitted == 0
    assert handler.calls == [envelope["detail"]["event_id"]]
    assert records.get_cursor("demo").created_gte >= session.created


def _paid_session(emulator) -> str:
    """A paid Checkout Session on the demo account whose webhook never reached us; its event id."""
    import stripe

    client = stripe.StripeClient(
        DEMO_CONFERENCE["stripe"]["secret_key"], base_addresses={"api": emulator.url}
    )
    line = {
        "price_data": {"currency": "usd", "unit_amount": 1000, "product_data": {"name": "T"}},
        "quantity": 1,
    }
    session = client.v1.checkout.sessions.create(
        params={"mode": "payment", "success_url": "https://example.test/ok", "line_items": [line],
                "metadata": {"conference_id": "demo"}}
    )  # fmt: skip
    emulator.pay(session.id, "succeed")
    (event,) = client.v1.events.list(params={"type": "checkout.session.completed"}).data
    return event.id


def test_reconciliation_reads_the_events_it_already_recorded_and_writes_none_again(
    demo, emulator, monkeypatch
):
    """Each run re-lists a window of events: those recorded and published are found by one batch read,
    never put again (a refused conditional put is billed at the record's size, every five minutes)."""
    event_id = _paid_session(emulator)
    assert stripe_events.reconcile("demo").admitted == 1
    assert records.get_event("demo", event_id).published

    def no_put(*args: object, **kwargs: object) -> None:
        raise AssertionError("a recorded, published event was put again")

    monkeypatch.setattr(records, "record_event", no_put)
    again = stripe_events.reconcile("demo")
    assert (again.listed, again.admitted) == (1, 0)


def test_reconciliation_publishes_an_event_recorded_before_a_crash_that_lost_its_publication(demo, emulator):
    import stripe

    event_id = _paid_session(emulator)
    client = stripe.StripeClient(
        DEMO_CONFERENCE["stripe"]["secret_key"], base_addresses={"api": emulator.url}
    )
    event = client.v1.events.retrieve(event_id).to_dict()
    records.record_event("demo", event, source="webhook")  # recorded; the crash came before the bus
    tap = BusTap(("boxoffice.stripe",))
    result = stripe_events.reconcile("demo")
    assert result.admitted == 0  # not new: only its publication was missing
    (envelope,) = tap.drain()
    assert envelope["detail"] == {"conference_id": "demo", "event_id": event_id}
    assert records.get_event("demo", event_id).published


def test_the_expiry_sweep_reconciles_every_active_conference(demo, emulator):
    """A payment whose webhook never came is admitted by the scheduled sweep itself (not by a test call)."""
    import stripe

    client = stripe.StripeClient(
        DEMO_CONFERENCE["stripe"]["secret_key"], base_addresses={"api": emulator.url}
    )
    session = client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "success_url": "https://example.test/ok",
            "line_items": [
                {
                    "price_data": {"currency": "usd", "unit_amount": 1000, "product_data": {"name": "T"}},
                    "quantity": 1,
                }
            ],
            "metadata": {"conference_id": "demo"},
        }
    )
    emulator.pay(session.id, "succeed")
    (lost,) = [e for e in client.v1.events.list(params={"type": "checkout.session.completed"}).data]
    assert records.get_event("demo", lost.id) is None
    tap = BusTap(("boxoffice.stripe",))
    result = load_function("expiry").handler(
        {"detail-type": "Scheduled Event"},
        __import__("tests.support.http", fromlist=["LambdaContext"]).LambdaContext(),
    )
    assert result["conferences"] == 1
    assert result["failures"] == []
    assert result["events_admitted"] == 1
    assert records.get_event("demo", lost.id) is not None
    assert [e["detail"]["event_id"] for e in tap.drain()] == [lost.id]
