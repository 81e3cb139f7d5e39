"""List cursors on AWS's own engine: forged ones DynamoDB refuses are 422 before any query.

moto accepts a start key with other attribute names, one missing the table's keys, or one whose
sort key lies outside the query's ``begins_with``; DynamoDB answers each with a
ValidationException, which would reach the client as a 500. Each test first shows DynamoDB
refusing the forged key, then that the service refuses it as a 422 without asking DynamoDB.
"""

import os
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from boxoffice import bulk_purchase_views, credits, orders, store, stripe_events
from boxoffice.errors import ValidationFailed
from boxoffice.store import stripe_events as event_records
from tests.support.http import cursor_of

CID = "it-cursors"


def seed() -> None:
    conference = store.Conference.new(CID)
    conference.name, conference.currency = "IT", "usd"
    conference.checkout_expiry_minutes, conference.order_hold_minutes, conference.max_bulk_quantity = (
        60,
        60,
        500,
    )
    conference.set_active(True)
    store.save_conference(conference)


def dynamodb_refuses(ddb, start_key: dict[str, Any], **query: Any) -> str:
    """DynamoDB Local's refusal of ``start_key`` for ``query``: the premise of each test."""
    with pytest.raises(ClientError) as refused:
        ddb.query(TableName=os.environ["TABLE_NAME"], ExclusiveStartKey=start_key, **query)
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    return refused.value.response["Error"]["Message"]


def test_a_sponsor_cursor_outside_its_begins_with_is_422_not_a_dynamodb_error(ddb):
    seed()
    start = {"PK": {"S": f"BPS#{CID}"}, "SK": {"S": "globex#bp_0123456789abcdef"}}
    message = dynamodb_refuses(
        ddb,
        start,
        KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
        ExpressionAttributeValues={":pk": {"S": f"BPS#{CID}"}, ":prefix": {"S": "acme#"}},
    )
    assert "range key predicate" in message
    sponsor = bulk_purchase_views.Viewer(user_id="u", is_staff=False, sponsor_ids=frozenset({"acme"}))
    with pytest.raises(ValidationFailed):
        bulk_purchase_views.list_purchases(
            CID, sponsor, status=None, sponsor_id=None, limit=10, cursor=cursor_of(start)
        )


def test_a_cursor_with_other_attribute_names_is_422_not_a_dynamodb_error(ddb):
    seed()
    start = {"PK": {"S": f"ORDERS#{CID}"}, "GSI1SK": {"S": "x"}}
    message = dynamodb_refuses(
        ddb,
        start,
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": f"ORDERS#{CID}"}},
    )
    assert "starting key is invalid" in message
    staff = orders.OrderViewer(user_id="staff", is_staff=True)
    with pytest.raises(ValidationFailed):
        orders.list_orders(CID, staff, user_id=None, status=None, limit=10, cursor=cursor_of(start))


def test_an_index_cursor_without_the_tables_keys_is_422_not_a_dynamodb_error(ddb):
    seed()
    start = {
        "GSI1PK": {"S": f"CREDITS#{CID}"},
        "GSI1SK": {"S": "x"},
        "GSI2PK": {"S": "y"},
        "GSI2SK": {"S": "z"},
    }
    dynamodb_refuses(
        ddb,
        start,
        IndexName="GSI1",
        KeyConditionExpression="GSI1PK = :pk",
        ExpressionAttributeValues={":pk": {"S": f"CREDITS#{CID}"}},
    )
    with pytest.raises(ValidationFailed):
        credits.list_credits(CID, user_id=None, limit=10, cursor=cursor_of(start))


def test_genuine_cursors_page_through_an_index_list_on_dynamodb(ddb):
    seed()
    for n in range(5):
        event = {
            "id": f"evt_{n}",
            "object": "event",
            "type": "customer.created",
            "created": int(time.time()),
            "data": {"object": {"id": f"cus_{n}", "object": "customer"}},
        }
        event_records.record_event(CID, event, source="webhook", status=event_records.IGNORED)
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        page = stripe_events.list_events(CID, "ignored", limit=2, cursor=cursor)
        seen += [item.event_id for item in page.items]
        cursor = page.next
        if cursor is None:
            break
    assert sorted(seen) == [f"evt_{n}" for n in range(5)]
