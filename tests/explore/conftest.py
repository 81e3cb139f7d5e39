"""The explore lane: DynamoDB Local for the table, moto's server for EventBridge, Secrets Manager and
SQS (each pointed at by ``AWS_ENDPOINT_URL_*``), and the Stripe emulator in-process.

Everything starts once per session; each Hypothesis example resets it (``World.reset``).
"""

import os
from collections.abc import Iterator

import pytest

from local.dynamodb_local import DynamoDBLocal, free_port
from local.moto_server import AtomicMotoServer

_MOTO_PORT = free_port()
_STRIPE_PORT = free_port()
_DDB = DynamoDBLocal()
os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{_MOTO_PORT}"
for _service in ("EVENTBRIDGE", "SECRETS_MANAGER", "SQS"):
    os.environ[f"AWS_ENDPOINT_URL_{_service}"] = f"http://127.0.0.1:{_MOTO_PORT}"
os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = _DDB.url
os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"  # the exploration runs thousands of requests
os.environ["STRIPE_API_BASE"] = f"http://127.0.0.1:{_STRIPE_PORT}"


@pytest.fixture(scope="session")
def world() -> Iterator[object]:
    """The running world, handed to the state machine (one per session, reset per example)."""
    import stripe

    from local.stripe_emulator import StripeEmulator
    from tests.explore.machine import World_
    from tests.explore.world import World

    stripe.enable_telemetry = False
    moto = AtomicMotoServer(port=_MOTO_PORT)
    moto.start()
    endpoints = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("AWS_ENDPOINT_URL")}
    _DDB.start()  # without the endpoints: the jar's own AWS SDK would send its telemetry to moto
    os.environ.update(endpoints)
    with (
        _DDB,
        StripeEmulator(
            port=_STRIPE_PORT, delivery_retry_delays=(0.02, 0.05), delivery_timeout=30.0, tick_interval=0.05
        ) as emulator,
    ):
        built = World(emulator, os.environ["AWS_ENDPOINT_URL"], _DDB.url)
        World_.world = built
        try:
            yield built
        finally:
            World_.world = None
            built.receiver.stop()
    moto.stop()
