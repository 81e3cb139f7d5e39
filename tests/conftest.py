"""Settings every lane shares: the environment the functions expect, set before any import; and the
fixtures of the in-process lanes (unit on moto, integration on DynamoDB Local), defined once.

Each lane's own conftest points the AWS endpoint at its engine (moto or DynamoDB Local) and defines
``aws``: a clean account (fresh table, the app's bus, no cached secrets) on that lane's engines.
``STRIPE_API_BASE`` names where the emulator listens.
"""

import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

os.environ.update(
    {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "TABLE_NAME": "boxoffice-test",
        "EVENT_BUS_NAME": "boxoffice-test",
        "SECRETS_PREFIX": "boxoffice/test/",
        "STAGE": "test",
        "POWERTOOLS_SERVICE_NAME": "boxoffice",
        "POWERTOOLS_METRICS_NAMESPACE": "BoxofficeTest",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "AWS_LAMBDA_FUNCTION_NAME": "boxoffice-test",
    }
)
os.environ.pop("AWS_PROFILE", None)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """moto's server on loopback, where ``AWS_ENDPOINT_URL`` (set by the lane's conftest) points."""
    from local.moto_server import AtomicMotoServer

    server = AtomicMotoServer(port=urlsplit(os.environ["AWS_ENDPOINT_URL"]).port)
    server.start()
    yield os.environ["AWS_ENDPOINT_URL"]
    server.stop()


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
    from tests.support.functions import api_fn

    return api_fn()


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
