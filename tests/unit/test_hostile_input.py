"""Hostile input on every JSON route and the webhook: a 4xx in docs/api.md's shape, nothing stored.

Every route that takes a body (and every POST that takes none) is sent JSON that Python's own
parser would mishandle: nesting thousands deep, numbers thousands of digits long, NaN and
Infinity, duplicate keys, lone surrogates, bytes that are not UTF-8. Each must be refused with
400 ``bad_request`` before anything is read or written, in whichever function serves the route.
"""

import json
from collections.abc import Callable
from typing import Any

import pytest

from local.apigw import http_api_event
from local.lambda_runtime import LambdaContext
from local.stripe_emulator import sign
from local.template import load
from tests.support import table
from tests.support.functions import load_function
from tests.support.http import ADMIN, DEMO_CONFERENCE, STAFF, assert_error, call
from tests.support.stripe import WEBHOOK_SECRET, deliver_webhook, stripe_event

BP, ORDER, CREDIT = "bp_0123456789abcdef", "ord_0123456789abcdef", "cr_0123456789abcdef"

POST_ROUTES = [
    ("PUT", "/v1/conferences/demo"),
    ("PUT", "/v1/conferences/demo/ticket-types/general"),
    ("PUT", "/v1/conferences/demo/addons/workshop"),
    ("PUT", "/v1/conferences/demo/sponsors/acme"),
    ("POST", "/v1/conferences/demo/bulk-purchases"),
    ("POST", f"/v1/conferences/demo/bulk-purchases/{BP}/approve"),
    ("POST", f"/v1/conferences/demo/bulk-purchases/{BP}/checkout"),
    ("POST", f"/v1/conferences/demo/bulk-purchases/{BP}/fulfill"),
    ("POST", f"/v1/conferences/demo/bulk-purchases/{BP}/refund"),
    ("POST", "/v1/conferences/demo/orders"),
    ("POST", f"/v1/conferences/demo/orders/{ORDER}/checkout"),
    ("POST", f"/v1/conferences/demo/orders/{ORDER}/cancel"),
    ("POST", f"/v1/conferences/demo/orders/{ORDER}/refunds"),
    ("POST", f"/v1/conferences/demo/credits/{CREDIT}/apply"),
    ("POST", "/v1/conferences/demo/stripe-events/evt_1/replay"),
]
"""Every route of template.yaml that changes something, except the webhook (tested below)."""

HOSTILE_BODIES = {
    "arrays nested 20,000 deep": "[" * 20_000 + "]" * 20_000,
    "objects nested 5,000 deep": '{"a":' * 5_000 + "1" + "}" * 5_000,
    "a field nested 40 deep": '{"name": ' + "[" * 40 + "]" * 40 + "}",
    "an integer of 5,000 digits": '{"quantity": 1' + "0" * 5_000 + "}",
    "an integer of 101 digits": '{"quantity": 1' + "0" * 100 + "}",
    "NaN": '{"quantity": NaN}',
    "Infinity": '{"quantity": Infinity}',
    "-Infinity": '{"amount": -Infinity}',
    "a float beyond double range": '{"quantity": 1e999}',
    "duplicate keys": '{"quantity": 1, "quantity": 1000}',
    "a lone surrogate": '{"name": "\\ud800"}',
    "a lone surrogate as a key": '{"\\udfff": 1}',
    "truncated JSON": '{"name": ',
    "a trailing comma": '{"name": "x",}',
}


def handler_for(method: str, path: str) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The handler of the function template.yaml routes ``method path`` to."""
    found = load().route_for(method, path)
    assert found is not None, f"{method} {path} is not routed"
    function = load().functions[found[0].function]
    return load_function(function.code_uri.name).handler


@pytest.mark.parametrize("hostile", HOSTILE_BODIES, ids=list(HOSTILE_BODIES))
def test_hostile_json_is_400_on_every_route_and_stores_nothing(demo, hostile):
    before = table.items()
    for method, path in POST_ROUTES:
        reply = call(handler_for(method, path), method, path, raw_body=HOSTILE_BODIES[hostile], claims=ADMIN)
        assert_error(reply, 400, "bad_request")
        assert "valid JSON" in reply.json["error"]["message"], (method, path, reply.text)
    assert table.items() == before


def test_the_refusal_says_why_without_echoing_the_body(api, demo):
    reply = call(api, "PUT", "/v1/conferences/demo", raw_body='{"name": "secret", "name": "x"}', claims=ADMIN)
    assert_error(reply, 400, "bad_request")
    assert "repeats a key" in reply.json["error"]["message"]
    assert "secret" not in reply.text
    deep = call(api, "PUT", "/v1/conferences/demo", raw_body="[" * 5_000 + "]" * 5_000, claims=ADMIN)
    assert "deeper than 32 levels" in deep.json["error"]["message"]


def test_bytes_that_are_not_utf8_are_400_on_every_route(demo):
    before = table.items()
    for method, path in POST_ROUTES:
        event = http_api_event(
            method,
            path,
            route_key=load().route_for(method, path)[0].route_key,
            headers={"content-type": "application/json"},
            body=b'{"name": "caf\xe9 \xff"}',
            claims=ADMIN,
        )
        assert event["isBase64Encoded"], "API Gateway base64-encodes what is not text"
        result = handler_for(method, path)(event, LambdaContext())
        assert result["statusCode"] == 400, (method, path, result)
        assert json.loads(result["body"])["error"]["code"] == "bad_request"
    assert table.items() == before


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/conferences/demo", {**DEMO_CONFERENCE, "max_bulk_quantity": 100.0}),
        ("/v1/conferences/demo/ticket-types/general", {"name": "General", "price": 250.5}),
        ("/v1/conferences/demo/ticket-types/general", {"name": "General", "price": True}),
        ("/v1/conferences/demo/addons/workshop", {"name": "Workshop", "price": "5000"}),
    ],
)
def test_floats_booleans_and_strings_where_integers_belong_are_422(api, demo, path, body):
    before = table.items()
    reply = call(api, "PUT", path, body=body, claims=ADMIN)
    assert_error(reply, 422, "validation_error")
    assert table.items() == before


def test_an_exponent_where_an_integer_belongs_is_422(api, demo):
    raw = json.dumps(DEMO_CONFERENCE)[:-1] + ', "max_bulk_quantity": 1e2}'
    reply = call(api, "PUT", "/v1/conferences/demo", raw_body=raw, claims=ADMIN)
    assert_error(reply, 422, "validation_error")


@pytest.mark.parametrize(
    "body",
    [
        {"lines": [{"ticket_type_id": "general", "quantity": 1.0}]},
        {"lines": [{"ticket_type_id": "general", "quantity": 1.5}]},
        {"lines": [{"ticket_type_id": "general", "quantity": 10**30}]},
        {"lines": [{"ticket_type_id": "general", "quantity": -1}]},
    ],
)
def test_orders_refuse_quantities_that_are_not_small_positive_integers(demo, body):
    path = "/v1/conferences/demo/orders"
    before = table.items()
    assert_error(
        call(handler_for("POST", path), "POST", path, body=body, claims=ADMIN), 422, "validation_error"
    )
    assert table.items() == before


def test_a_bulk_purchase_with_a_float_quantity_is_422(demo):
    path = "/v1/conferences/demo/bulk-purchases"
    body = {"ticket_type_id": "general", "quantity": 2.0}
    reply = call(handler_for("POST", path), "POST", path, body=body, claims={**STAFF, "sub": "s"})
    assert_error(reply, 422, "validation_error")


@pytest.mark.parametrize(
    "path",
    [
        "/v1/health",
        "/v1/conferences/demo/catalog",
        "/v1/conferences/demo/orders",
        "/v1/conferences/demo/bulk-purchases",
        "/v1/conferences/demo/credits",
        "/v1/conferences/demo/stripe-events",
    ],
)
def test_a_body_on_a_get_is_400(api, demo, path):
    assert_error(call(api, "GET", path, raw_body="{}", claims=ADMIN), 400, "bad_request")


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "application/json; charset=iso-8859-1",
        "application/json-patch+json",
    ],
)
def test_a_body_that_is_not_utf8_json_by_its_content_type_is_400(demo, content_type):
    before = table.items()
    for method, path in POST_ROUTES:
        reply = call(
            handler_for(method, path),
            method,
            path,
            raw_body="{}",
            claims=ADMIN,
            headers={"content-type": content_type},
        )
        assert_error(reply, 400, "bad_request")
    assert table.items() == before


@pytest.mark.parametrize("content_type", ["Application/JSON", "application/json; charset=UTF-8", ""])
def test_json_content_types_are_matched_as_http_says_case_insensitively(api, content_type):
    headers = {"content-type": content_type} if content_type else {}
    reply = call(api, "PUT", "/v1/conferences/demo", body=DEMO_CONFERENCE, claims=ADMIN, headers=headers)
    assert reply.status == 201, reply.text


def test_headers_beyond_api_gateways_10_kb_are_413(api, demo):
    reply = call(api, "GET", "/v1/conferences/demo/catalog", claims=ADMIN, headers={"x-junk": "a" * 10_300})
    assert_error(reply, 413, "payload_too_large")


def test_a_query_string_beyond_api_gateways_10_kb_is_413(api, demo):
    reply = call(api, "GET", "/v1/conferences/demo/orders", claims=ADMIN, query="user_id=" + "u" * 10_300)
    assert_error(reply, 413, "payload_too_large")


def test_many_headers_under_the_quota_still_work(api, demo):
    headers = {f"x-h{i}": "v" * 40 for i in range(150)}
    assert call(api, "GET", "/v1/conferences/demo/catalog", claims=ADMIN, headers=headers).status == 200


# --- the webhook: signature over the raw body first, then strict parsing -------------------------


def hostile_event(kind: str) -> str:
    """A Stripe event whose JSON is hostile in one way; the rest is a genuine envelope."""
    envelope = json.dumps(stripe_event("evt_hostile"))
    if kind in HOSTILE_BODIES and kind not in {"truncated JSON", "a trailing comma"}:
        fragment = HOSTILE_BODIES[kind]
        return envelope[:-1] + ', "extra": ' + fragment + "}"
    return HOSTILE_BODIES[kind]


@pytest.mark.parametrize("hostile", HOSTILE_BODIES, ids=list(HOSTILE_BODIES))
def test_a_hostile_body_with_a_bad_signature_is_400_before_it_is_parsed(demo, hostile):
    payload = hostile_event(hostile)
    reply = deliver_webhook(payload, sign(payload, "whsec_not_the_right_one"))
    assert_error(reply, 400, "bad_request")
    assert "signature" in reply.json["error"]["message"]
    assert table.stripe_event_items() == []


@pytest.mark.parametrize("hostile", HOSTILE_BODIES, ids=list(HOSTILE_BODIES))
def test_a_correctly_signed_hostile_body_is_400_and_stores_nothing(demo, hostile):
    payload = hostile_event(hostile)
    reply = deliver_webhook(payload, sign(payload, WEBHOOK_SECRET))
    assert_error(reply, 400, "bad_request")
    assert "not a Stripe event" in reply.json["error"]["message"]
    assert table.stripe_event_items() == []


def test_a_webhook_body_that_is_not_utf8_is_400_and_stores_nothing(demo):
    event = http_api_event(
        "POST",
        "/v1/webhooks/stripe/demo",
        route_key="POST /v1/webhooks/stripe/{cid}",
        path_parameters={"cid": "demo"},
        headers={"content-type": "application/json", "stripe-signature": "t=1,v1=00"},
        body=b'{"id": "evt_\xff"}',
    )
    result = load_function("webhook").handler(event, LambdaContext())
    assert result["statusCode"] == 400
    assert json.loads(result["body"])["error"]["code"] == "bad_request"
    assert table.stripe_event_items() == []


def test_a_signed_genuine_event_is_still_received(demo):
    payload = json.dumps(stripe_event("evt_fine"))
    reply = deliver_webhook(payload, sign(payload, WEBHOOK_SECRET))
    assert reply.status == 200, reply.text
    assert len(table.stripe_event_items()) == 1


def test_a_signed_body_that_is_json_but_not_an_object_is_400(demo):
    payload = "[1, 2, 3]"
    reply = deliver_webhook(payload, sign(payload, WEBHOOK_SECRET))
    assert_error(reply, 400, "bad_request")
    assert table.stripe_event_items() == []
