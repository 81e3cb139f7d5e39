"""Fixtures both in-process lanes use (unit on moto, integration on DynamoDB Local), defined once.

A lane's conftest imports them and defines ``aws``: a clean account (fresh table, the app's bus,
no cached secrets) on that lane's engines. ``STRIPE_API_BASE`` names where the emulator listens.
"""

import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest


def free_port() -> int:
    """A loopback port nobody listens on yet."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def forget_cached_state() -> None:
    """A fresh container's caches: no secret read yet, no forced secret read yet."""
    from aws_lambda_powertools.utilities import parameters

    from boxoffice import stripe_intake

    parameters.clear_caches()
    stripe_intake._FORCED_READS.clear()


@pytest.fixture(scope="session")
def stripe_emulator() -> Iterator[Any]:
    """The Stripe emulator, in-process, where STRIPE_API_BASE points the gateway."""
    import stripe

    from local.stripe_emulator import StripeEmulator

    stripe.enable_telemetry = False
    port = urlsplit(os.environ["STRIPE_API_BASE"]).port
    with StripeEmulator(port=port, delivery_retry_delays=(0.1, 0.2)) as emulator:
        yield emulator


@pytest.fixture
def emulator(stripe_emulator: Any) -> Any:
    """The emulator with its state reset for this test."""
    stripe_emulator.reset()
    return stripe_emulator


@pytest.fixture
def api() -> Any:
    """The API function's real handler."""
    from tests.support.functions import load_function

    return load_function("api").handler


@pytest.fixture
def demo(aws: None, api: Any) -> str:
    """A conference ``demo`` with a public ticket, a hidden ticket, an add-on and a sponsor."""
    from tests.support.http import ADMIN, DEMO_CONFERENCE, STAFF, call

    assert call(api, "PUT", "/v1/conferences/demo", body=DEMO_CONFERENCE, claims=ADMIN).status == 201
    for path, body in [
        ("ticket-types/general", {"name": "General", "price": 25000, "bulk_enabled": True}),
        ("ticket-types/speaker", {"name": "Speaker", "price": 0, "requires_voucher": True}),
        ("addons/workshop", {"name": "Workshop", "price": 5000, "bulk_enabled": True}),
        ("sponsors/acme", {"name": "ACME", "slug": "acme", "contact_email": "ops@acme.example"}),
    ]:
        reply = call(api, "PUT", f"/v1/conferences/demo/{path}", body=body, claims=STAFF)
        assert reply.status == 201, reply.text
    return "demo"


@pytest.fixture
def slow_bank(emulator: Any) -> Iterator[Any]:
    """Bank debits settle only when the test says so (``complete_async``), not after half a second,
    so a slow machine cannot settle them before the test looks."""
    before = emulator.store.async_payment_delay
    emulator.configure(async_payment_delay=3600)
    yield emulator
    emulator.configure(async_payment_delay=before)
