"""The integration lane: the store against DynamoDB Local, AWS's own engine, and every race.

moto accepts things DynamoDB refuses (26-item batches, ignored ClientRequestToken) and applies one
DynamoDB request at a time; this lane catches the first and really runs the races. One DynamoDB
Local runs for the session; each test gets a fresh table. Everything else AWS (EventBridge, SQS,
Secrets Manager) goes to one moto server, and Stripe to the in-process emulator, as in the unit
lane (the fixtures are shared through ``tests/conftest.py``).
"""

import os
from collections.abc import Iterator

import boto3
import pytest
import requests

from local.dynamodb_local import DynamoDBLocal, free_port
from local.moto_server import AtomicMotoServer
from tests.support.functions import forget_cached_state

_ENGINE = DynamoDBLocal()
os.environ["STRIPE_API_BASE"] = f"http://127.0.0.1:{free_port()}"


@pytest.fixture(scope="session")
def dynamodb_local() -> Iterator[str]:
    with _ENGINE:
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = _ENGINE.url
        yield _ENGINE.url


@pytest.fixture(scope="session")
def other_aws(dynamodb_local: str) -> Iterator[str]:
    """A moto server for every service but DynamoDB (which AWS_ENDPOINT_URL_DYNAMODB overrides)."""
    from boxoffice import bus

    server = AtomicMotoServer()
    server.start()
    os.environ["AWS_ENDPOINT_URL"] = server.url
    bus._client.cache_clear()  # a client made before would point elsewhere
    yield server.url
    os.environ.pop("AWS_ENDPOINT_URL", None)
    bus._client.cache_clear()
    server.stop()


@pytest.fixture
def ddb(dynamodb_local: str):
    """A boto3 client on DynamoDB Local, with the template's table freshly created."""
    from local.aws import create_table

    client = boto3.client("dynamodb", endpoint_url=dynamodb_local)
    name = os.environ["TABLE_NAME"]
    if name in client.list_tables()["TableNames"]:
        client.delete_table(TableName=name)
    create_table(client, name)
    return client


@pytest.fixture
def aws(ddb, other_aws: str) -> None:
    """A clean account: a fresh table on DynamoDB Local, a reset moto with the app's bus, no cached secrets."""
    requests.post(f"{other_aws}/moto-api/reset", timeout=10)
    boto3.client("events").create_event_bus(Name=os.environ["EVENT_BUS_NAME"])
    forget_cached_state()
