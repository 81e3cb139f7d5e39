"""The unit lane: every rule on moto, served by one ThreadedMotoServer on loopback.

A server (rather than ``mock_aws``) is used because clients made at import time, such as the
idempotency layer's, must reach it too. Each test starts from a reset server and a fresh table.
"""

import os
import socket
from collections.abc import Iterator

import boto3
import pytest
import requests

from local.moto_server import AtomicMotoServer


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_PORT = _free_port()
_STRIPE_PORT = _free_port()
os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{_PORT}"
os.environ["STRIPE_API_BASE"] = f"http://127.0.0.1:{_STRIPE_PORT}"


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    server = AtomicMotoServer(port=_PORT)
    server.start()
    yield os.environ["AWS_ENDPOINT_URL"]
    server.stop()


@pytest.fixture(scope="session")
def stripe_emulator():
    """The Stripe emulator, in-process, where STRIPE_API_BASE points the gateway."""
    import stripe

    from local.stripe_emulator import StripeEmulator

    stripe.enable_telemetry = False
    with StripeEmulator(port=_STRIPE_PORT, delivery_retry_delays=(0.1, 0.2)) as emulator:
        yield emulator


@pytest.fixture
def emulator(stripe_emulator):
    """The emulator with its state reset for this test."""
    stripe_emulator.reset()
    return stripe_emulator


@pytest.fixture(autouse=True)
def aws(moto_server: str) -> None:
    """A clean account with the template's table and bus, and no cached secrets."""
    from aws_lambda_powertools.utilities import parameters

    from local.aws import create_table

    requests.post(f"{moto_server}/moto-api/reset", timeout=10)
    create_table(boto3.client("dynamodb"), os.environ["TABLE_NAME"])
    boto3.client("events").create_event_bus(Name=os.environ["EVENT_BUS_NAME"])
    parameters.clear_caches()
    from boxoffice import stripe_events

    stripe_events._FORCED_READS.clear()  # a fresh container: no forced secret read yet


@pytest.fixture
def api():
    """The API function's real handler."""
    from tests.support.functions import load_function

    return load_function("api").handler


@pytest.fixture
def demo(api):
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
