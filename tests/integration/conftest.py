"""The integration lane: the store against DynamoDB Local, AWS's own engine.

moto accepts things DynamoDB refuses (26-item batches, ignored ClientRequestToken); this lane
catches those. One DynamoDB Local runs for the session; each test gets a fresh table.
"""

import os
from collections.abc import Iterator

import boto3
import pytest

from local.dynamodb_local import DynamoDBLocal

_ENGINE = DynamoDBLocal()


@pytest.fixture(scope="session")
def dynamodb_local() -> Iterator[str]:
    with _ENGINE:
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = _ENGINE.url
        yield _ENGINE.url


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
