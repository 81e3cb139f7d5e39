"""The app's table as a test reads it: by scans, with no help from the code under test."""

import os
from typing import Any

import boto3


def items(prefix: str = "") -> list[dict[str, Any]]:
    """Every item of the table (as the resource API reads it) whose ``PK`` starts with ``prefix``."""
    table = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])
    found: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {}
    while True:
        page = table.scan(**kwargs)
        found += [i for i in page["Items"] if i["PK"].startswith(prefix)]
        if "LastEvaluatedKey" not in page:
            return found
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def stripe_event_items() -> list[dict[str, Any]]:
    """Every Stripe event record in the table."""
    return items("EVT#")
