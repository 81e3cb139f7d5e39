"""A saved emulator, restored into a new one, carries on: objects, idempotency, ids, timed work."""

from __future__ import annotations

import json
from pathlib import Path

import stripe

from local.stripe_emulator import StripeEmulator
from local.stripe_emulator.persistence import Saver, redeliver_pending, snapshot

from .helpers import SECRET_KEY, session_params, wait_for


def _new_emulator() -> StripeEmulator:
    return StripeEmulator(port=0, async_payment_delay=0.3, tick_interval=0.02).start()


def _client(emulator: StripeEmulator) -> stripe.StripeClient:
    return stripe.StripeClient(SECRET_KEY, base_addresses={"api": emulator.url}, max_network_retries=0)


def test_a_restored_emulator_knows_every_object_replays_idempotent_requests_and_runs_pending_work(
    tmp_path: Path,
) -> None:
    path = tmp_path / "stripe.json"
    first = _new_emulator()
    saver = Saver(first, path, min_interval=0.01)
    saver.start()
    client = _client(first)
    paid = client.v1.checkout.sessions.create(params=session_params())
    first.pay(paid.id, "succeed")
    intent = client.v1.payment_intents.retrieve(client.v1.checkout.sessions.retrieve(paid.id).payment_intent)
    refund = client.v1.refunds.create(
        params={"payment_intent": intent.id, "amount": 1000}, options={"idempotency_key": "refund-1"}
    )
    waiting = client.v1.checkout.sessions.create(params=session_params())
    first.pay(waiting.id, "async_succeed")  # its result is due 0.3 s later, on the emulator clock
    first.advance_clock(60)
    first.stop()
    saver.stop()
    before = snapshot(first)
    assert json.loads(path.read_text())["accounts"] == before["accounts"]

    second = _new_emulator()
    try:
        assert Saver(second, path).load()
        client = _client(second)
        assert client.v1.payment_intents.retrieve(intent.id).status == "succeeded"
        assert client.v1.refunds.retrieve(refund.id).amount == 1000
        again = client.v1.refunds.create(
            params={"payment_intent": intent.id, "amount": 1000}, options={"idempotency_key": "refund-1"}
        )
        assert again.id == refund.id, "the idempotent request replays its saved answer"
        assert second.clock.offset == first.clock.offset
        assert {e["id"] for e in snapshot(second)["accounts"][0]["objects"]["event"]} == {
            e["id"] for e in before["accounts"][0]["objects"]["event"]
        }
        second.advance_clock(1)
        settled = wait_for(lambda: client.v1.checkout.sessions.retrieve(waiting.id).payment_status == "paid")
        assert settled
    finally:
        second.stop()


def test_events_no_endpoint_acknowledged_are_queued_again_on_restore(tmp_path: Path) -> None:
    first = _new_emulator()
    client = _client(first)
    client.v1.webhook_endpoints.create(params={"url": "http://127.0.0.1:9/hook", "enabled_events": ["*"]})
    first.hold_events()
    session = client.v1.checkout.sessions.create(params=session_params())
    first.pay(session.id, "succeed")
    events = len(client.v1.events.list(params={"limit": 100}).data)
    first.stop()
    saver = Saver(first, tmp_path / "stripe.json")
    saver.save()

    second = StripeEmulator(port=0)  # not started: its dispatcher only queues
    second.hold_events()
    assert Saver(second, tmp_path / "stripe.json").load()
    assert redeliver_pending(second) == events > 0
    assert second.knob_state()["held"] == events
