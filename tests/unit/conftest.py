"""The unit lane: every rule on moto, served by one ThreadedMotoServer on loopback.

A server (rather than ``mock_aws``) is used because clients the code caches for a container's
life (the bus's, the table's, the idempotency layer's) must reach it from any test. Each test
starts from a reset server and a fresh table. moto applies one DynamoDB request at a time, so
no race is tested here: races run on DynamoDB Local in the integration lane.
"""

import os

import boto3
import pytest
import requests

from local.dynamodb_local import free_port
from tests.support.functions import forget_cached_state

os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{free_port()}"
os.environ["STRIPE_API_BASE"] = f"http://127.0.0.1:{free_port()}"


@pytest.fixture(autouse=True)
def aws(moto_server: str) -> None:
    """A clean account with the template's table and bus, and no cached secrets."""
    from local.aws import create_table

    requests.post(f"{moto_server}/moto-api/reset", timeout=10)
    create_table(boto3.client("dynamodb"), os.environ["TABLE_NAME"])
    boto3.client("events").create_event_bus(Name=os.environ["EVENT_BUS_NAME"])
    forget_cached_state()
