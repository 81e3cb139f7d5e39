"""Creates, on an AWS endpoint (moto or DynamoDB Local), the resources template.yaml declares.

The table's keys, indexes and TTL come from the template itself, so the local table is the
deployed table.
"""

import contextlib
from typing import Any

from local.template import Template, load


def table_definition(template: Template, table_name: str) -> dict[str, Any]:
    """``CreateTable`` arguments for the template's table, named ``table_name``."""
    _, props = template.table
    definition: dict[str, Any] = {
        "TableName": table_name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if props.get("GlobalSecondaryIndexes"):
        definition["GlobalSecondaryIndexes"] = [
            {"IndexName": g["IndexName"], "KeySchema": g["KeySchema"], "Projection": g["Projection"]}
            for g in props["GlobalSecondaryIndexes"]
        ]
    return definition


def create_table(dynamodb: Any, table_name: str, template: Template | None = None) -> None:
    """Create the template's table and enable its TTL attribute, then wait until it is active."""
    template = template or load()
    dynamodb.create_table(**table_definition(template, table_name))
    dynamodb.get_waiter("table_exists").wait(
        TableName=table_name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100}
    )
    ttl = template.table[1].get("TimeToLiveSpecification")
    if ttl:
        # DynamoDB Local may not implement TTL; expiry is AWS's job, so that is harmless here.
        with contextlib.suppress(dynamodb.exceptions.ClientError):
            dynamodb.update_time_to_live(
                TableName=table_name,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )
