"""Shared fixtures: a fresh emulator per test, SDK clients, and a webhook receiver."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import stripe

from local.stripe_emulator import StripeEmulator

from .helpers import SECRET_KEY, Delivery, Receiver, session_params
from .openapi import SPEC_PATH, StripeSpec

stripe.enable_telemetry = False


@pytest.fixture(autouse=True)
def aws() -> None:
    """The emulator needs no AWS: this replaces the unit lane's per-test moto reset here."""


@pytest.fixture
def emulator(receiver: Receiver) -> Iterator[StripeEmulator]:
    """A running emulator with compressed timings, on a free port.

    It depends on `receiver` so that it stops first and never delivers to a closed receiver.
    """
    emu = StripeEmulator(
        port=0,
        delivery_retry_delays=(0.05, 0.1),
        async_payment_delay=0.2,
        refund_failure_delay=0.2,
        delivery_timeout=2.0,
        tick_interval=0.02,
    ).start()
    yield emu
    emu.stop()


@pytest.fixture
def make_client(emulator: StripeEmulator) -> Callable[[str], stripe.StripeClient]:
    """Build an SDK client for any secret key (each key is its own account)."""

    def build(key: str = SECRET_KEY) -> stripe.StripeClient:
        return stripe.StripeClient(key, base_addresses={"api": emulator.url}, max_network_retries=0)

    return build


@pytest.fixture
def client(make_client: Callable[[str], stripe.StripeClient]) -> stripe.StripeClient:
    """The SDK client of the default account."""
    return make_client(SECRET_KEY)


@pytest.fixture
def new_session(client: stripe.StripeClient) -> Callable[..., stripe.checkout.Session]:
    """Create a Checkout Session with `session_params(**overrides)`."""

    def create(**overrides: Any) -> stripe.checkout.Session:
        return client.v1.checkout.sessions.create(params=session_params(**overrides))

    return create


@pytest.fixture
def paid_intent(
    emulator: StripeEmulator, new_session: Callable[..., stripe.checkout.Session], client: stripe.StripeClient
) -> stripe.PaymentIntent:
    """A PaymentIntent of $50.00 paid by card through the hosted page."""
    session = new_session()
    emulator.pay(session.id, "succeed")
    intent_id = client.v1.checkout.sessions.retrieve(session.id).payment_intent
    return client.v1.payment_intents.retrieve(intent_id)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on a free port; push statuses onto `receiver.statuses` to fail calls."""
    state: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            rec = state["receiver"]
            with rec.lock:
                rec.deliveries.append(Delivery(self.path, dict(self.headers.items()), body))
                status = rec.statuses.pop(0) if rec.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state["receiver"] = Receiver(f"http://127.0.0.1:{server.server_address[1]}/hook")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield state["receiver"]
    server.shutdown()
    server.server_close()


@pytest.fixture
def endpoint(client: stripe.StripeClient, receiver: Receiver) -> stripe.WebhookEndpoint:
    """A webhook endpoint for every event type, pointing at the receiver (has `.secret`)."""
    return client.v1.webhook_endpoints.create(params={"url": receiver.url, "enabled_events": ["*"]})


@pytest.fixture(scope="session")
def stripe_spec() -> StripeSpec:
    """Stripe's published OpenAPI spec, loaded once per session (it is 6 MB); skips without it."""
    if not SPEC_PATH.exists():
        pytest.skip("Stripe's spec3.json is not here (set STRIPE_SPEC or put shared/ beside the clone)")
    return StripeSpec.load(SPEC_PATH)
