"""Fault injection and control knobs, from Python and over `/_emulator/...`, and the CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
import stripe

from local.stripe_emulator import StripeEmulator

from .helpers import Receiver, event_types, session_params, wait_for

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_fail_next_500_answers_api_error_then_recovers(
    emulator: StripeEmulator, client: stripe.StripeClient
) -> None:
    emulator.fail_next(2)
    for _ in range(2):
        with pytest.raises(stripe.APIError) as error:
            client.v1.checkout.sessions.create(params=session_params())
        assert error.value.http_status == 500
        assert error.value.error.type == "api_error"
    assert client.v1.checkout.sessions.list().data == []
    assert client.v1.checkout.sessions.create(params=session_params()).status == "open"


def test_fail_next_reset_drops_the_connection_and_the_sdk_raises_connection_error(
    emulator: StripeEmulator, client: stripe.StripeClient
) -> None:
    emulator.fail_next(1, mode="reset")
    with pytest.raises(stripe.APIConnectionError):
        client.v1.checkout.sessions.create(params=session_params())
    assert client.v1.checkout.sessions.list().data == []


def test_reset_after_processing_is_recovered_by_retrying_with_the_same_idempotency_key(
    emulator: StripeEmulator, client: stripe.StripeClient
) -> None:
    emulator.fail_next(1, mode="reset_after")
    with pytest.raises(stripe.APIConnectionError):
        client.v1.checkout.sessions.create(params=session_params(), options={"idempotency_key": "retry-me"})
    retried = client.v1.checkout.sessions.create(
        params=session_params(), options={"idempotency_key": "retry-me"}
    )
    assert retried.last_response.headers["Idempotent-Replayed"] == "true"
    assert [s.id for s in client.v1.checkout.sessions.list().data] == [retried.id]


def test_fail_next_rejects_an_unknown_mode(emulator: StripeEmulator) -> None:
    with pytest.raises(ValueError, match="mode"):
        emulator.fail_next(1, mode="teapot")


def test_duplicate_next_delivery_sends_the_same_event_twice(
    emulator: StripeEmulator,
    client: stripe.StripeClient,
    receiver: Receiver,
    new_session: Callable[..., stripe.checkout.Session],
) -> None:
    client.v1.webhook_endpoints.create(
        params={"url": receiver.url, "enabled_events": ["checkout.session.completed"]}
    )
    emulator.duplicate_next_delivery()
    emulator.pay(new_session().id, "succeed")
    deliveries = receiver.wait_for_count(2)
    assert emulator.wait_for_deliveries()
    assert len(receiver.deliveries) == 2
    assert deliveries[0].event["id"] == deliveries[1].event["id"]
    assert [r["duplicate"] for r in emulator.deliveries()] == [False, True]


def test_held_events_are_released_in_reverse_order(
    emulator: StripeEmulator,
    client: stripe.StripeClient,
    endpoint: stripe.WebhookEndpoint,
    receiver: Receiver,
    new_session: Callable[..., stripe.checkout.Session],
) -> None:
    emulator.hold_events()
    emulator.pay(new_session().id, "succeed")
    assert emulator.wait_for_deliveries()
    assert receiver.deliveries == []
    assert len(event_types(client)) == 4
    assert emulator.release_events(reverse=True) == 4
    receiver.wait_for_count(4)
    assert receiver.types() == [
        "checkout.session.completed",
        "charge.succeeded",
        "payment_intent.succeeded",
        "payment_intent.created",
    ]


def test_delivery_delay_postpones_each_delivery(
    emulator: StripeEmulator,
    endpoint: stripe.WebhookEndpoint,
    receiver: Receiver,
    new_session: Callable[..., stripe.checkout.Session],
) -> None:
    emulator.set_delivery_delay(0.3)
    session = new_session()
    started = time.monotonic()
    emulator.pay(session.id, "succeed")
    time.sleep(0.1)
    assert receiver.deliveries == []
    receiver.wait_for_count(4)
    assert time.monotonic() - started >= 0.3


def test_reset_drops_all_state_and_knobs(
    emulator: StripeEmulator,
    client: stripe.StripeClient,
    endpoint: stripe.WebhookEndpoint,
    receiver: Receiver,
    new_session: Callable[..., stripe.checkout.Session],
) -> None:
    session = new_session()
    emulator.hold_events()
    emulator.fail_next(3)
    emulator.advance_clock(60)
    emulator.reset()
    assert emulator.clock.offset == 0
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.checkout.sessions.retrieve(session.id)
    assert client.v1.events.list().data == []
    assert client.v1.webhook_endpoints.list().data == []
    fresh = client.v1.webhook_endpoints.create(params={"url": receiver.url, "enabled_events": ["*"]})
    emulator.pay(new_session().id, "succeed")
    receiver.wait_for_count(4)
    stripe.Webhook.construct_event(
        receiver.deliveries[0].body, receiver.deliveries[0].headers["Stripe-Signature"], fresh.secret
    )


def test_advance_clock_fires_pending_async_results_too(
    emulator: StripeEmulator, client: stripe.StripeClient, new_session: Callable[..., stripe.checkout.Session]
) -> None:
    emulator.configure(async_payment_delay=3600)
    session = new_session()
    emulator.pay(session.id, "async_succeed")
    assert client.v1.checkout.sessions.retrieve(session.id).payment_status == "unpaid"
    emulator.advance_clock(3600)
    assert client.v1.checkout.sessions.retrieve(session.id).payment_status == "paid"


def test_http_control_endpoints_drive_the_same_knobs(
    emulator: StripeEmulator,
    client: stripe.StripeClient,
    endpoint: stripe.WebhookEndpoint,
    receiver: Receiver,
) -> None:
    control = f"{emulator.url}/_emulator"
    assert "POST /_emulator/fail_next" in requests.get(control, timeout=5).json()["knobs"]
    assert requests.post(f"{control}/fail_next", json={"n": 1, "mode": "500"}, timeout=5).ok
    with pytest.raises(stripe.APIError):
        client.v1.events.list()
    session = client.v1.checkout.sessions.create(params=session_params())
    assert requests.post(f"{control}/hold_events", timeout=5).ok
    paid = requests.post(
        f"{control}/checkout/{session.id}/pay", json={"outcome": "succeed"}, timeout=5
    ).json()
    assert paid["redirect_url"].endswith(session.id)
    assert (
        requests.post(f"{control}/release_events", json={"reverse": True}, timeout=5).json()["released"] == 4
    )
    receiver.wait_for_count(4)
    assert receiver.types()[0] == "checkout.session.completed"
    wait_for(lambda: len(requests.get(f"{control}/deliveries", timeout=5).json()["data"]) == 4)
    before = requests.get(f"{control}/clock", timeout=5).json()["now"]
    after = requests.post(f"{control}/advance_clock", json={"seconds": 120}, timeout=5).json()["now"]
    assert after - before >= 120
    assert requests.post(f"{control}/delivery_delay", json={"seconds": 0}, timeout=5).ok
    assert requests.post(f"{control}/duplicate_next_delivery", json={"n": 1}, timeout=5).ok
    assert requests.post(f"{control}/config", json={"async_payment_delay": 0.1}, timeout=5).ok
    assert requests.post(f"{control}/reset", timeout=5).ok
    assert client.v1.events.list().data == []


def test_http_control_endpoints_refuse_bad_input(emulator: StripeEmulator) -> None:
    control = f"{emulator.url}/_emulator"
    assert requests.post(f"{control}/fail_next", json={"mode": "teapot"}, timeout=5).status_code == 400
    assert requests.post(f"{control}/advance_clock", json={"seconds": -1}, timeout=5).status_code == 400
    assert (
        requests.post(
            f"{control}/checkout/cs_test_nope/pay", json={"outcome": "succeed"}, timeout=5
        ).status_code
        == 404
    )
    assert requests.post(f"{control}/nope", timeout=5).status_code == 404


def test_runs_alone_from_the_command_line_and_stops_on_ctrl_c() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "local.stripe_emulator", "--port", "0"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        url = line.strip().rsplit(" ", 1)[-1]
        assert url.startswith("http://127.0.0.1:")
        assert requests.get(f"{url}/v1/events", auth=("sk_test_cli", ""), timeout=5).status_code == 200
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
