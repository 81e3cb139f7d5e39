"""Forged and foreign list cursors: 422 on every list, never a query DynamoDB would refuse.

The integration lane runs the cases moto lets through (other attribute names, a sort key outside
the query's ``begins_with``) on DynamoDB Local, where they would have been a 500.
"""

import base64

import pytest

from tests.support.http import ADMIN, call, cursor_of
from tests.unit.test_hostile_input import assert_error

FORGED_CURSORS = {
    "not base64": "%%%not-base64%%%",
    "base64 of nothing JSON": base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    "nested 1,000 deep": cursor_of("[" * 700 + "]" * 700),
    "a lone surrogate": cursor_of('{"PK": {"S": "\\ud800"}, "SK": {"S": "x"}}'),
    "a list": cursor_of([1, 2]),
    "other attribute names": cursor_of({"PK": {"S": "ORDERS#demo"}, "XX": {"S": "x"}}),
    "a number key": cursor_of({"PK": {"S": "ORDERS#demo"}, "SK": {"N": "1"}}),
    "an empty key": cursor_of({"PK": {"S": "ORDERS#demo"}, "SK": {"S": ""}}),
    "a sort key over 1,024 bytes": cursor_of({"PK": {"S": "ORDERS#demo"}, "SK": {"S": "é" * 600}}),
    "duplicate keys": cursor_of('{"PK": {"S": "ORDERS#demo"}, "PK": {"S": "x"}, "SK": {"S": "y"}}'),
    "another conference": cursor_of({"PK": {"S": "ORDERS#other"}, "SK": {"S": "ORDER#ord_1"}}),
    "an index key of another conference": cursor_of(
        {"GSI1PK": {"S": "CREDITS#other"}, "GSI1SK": {"S": "x"}, "PK": {"S": "a"}, "SK": {"S": "b"}}
    ),
}

LISTS = [
    "/v1/conferences/demo/orders",
    "/v1/conferences/demo/bulk-purchases",
    "/v1/conferences/demo/credits",
    "/v1/conferences/demo/stripe-events",
]


@pytest.mark.parametrize("forged", FORGED_CURSORS, ids=list(FORGED_CURSORS))
def test_a_forged_or_foreign_cursor_is_422_on_every_list(api, demo, forged):
    for path in LISTS:
        reply = call(api, "GET", path, claims=ADMIN, query=f"cursor={FORGED_CURSORS[forged]}")
        assert_error(reply, 422, "validation_error")
        assert reply.json["error"]["details"][0]["loc"] == ["query", "cursor"]


def test_a_sponsors_cursor_outside_its_own_purchases_is_422(api, demo):
    sponsor = {"sub": "user-sponsor", "cognito:groups": ["sponsor:demo:acme"]}
    other = cursor_of({"PK": {"S": "BPS#demo"}, "SK": {"S": "globex#bp_0123456789abcdef"}})
    reply = call(api, "GET", "/v1/conferences/demo/bulk-purchases", claims=sponsor, query=f"cursor={other}")
    assert_error(reply, 422, "validation_error")
