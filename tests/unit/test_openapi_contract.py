"""The OpenAPI document is the contract a generated client is built from (issue #13, item 1)."""

import json
from typing import Any

import pytest
from pydantic import BaseModel

from boxoffice.api import examples
from boxoffice.api.openapi import ErrorBody, openapi_document
from boxoffice.bulk_purchase_views import BulkPurchaseRequest, BulkPurchaseView
from boxoffice.checkout_sessions import CheckoutRequest, CheckoutView
from boxoffice.conferences import ConferenceInput
from boxoffice.orders import OrderRequest, OrderView
from boxoffice.refunds import OrderRefundRequest, RefundView
from local.openapi_check import problems
from tests.support.http import call

API_MD_CODES = {
    "bad_request",
    "unauthenticated",
    "forbidden",
    "not_found",
    "invalid_state",
    "idempotency_conflict",
    "sold_out",
    "payload_too_large",
    "validation_error",
    "payment_provider_error",
    "unavailable",
    "internal_error",
}


def operation(method: str, path: str) -> dict[str, Any]:
    return openapi_document()["paths"][path][method]


def test_the_document_is_valid_openapi_and_holds_to_the_contract():
    assert problems(openapi_document()) == []


def test_the_served_document_is_the_checked_one_and_lists_itself(api):
    reply = call(api, "GET", "/v1/openapi.json")
    assert reply.status == 200
    assert reply.json == openapi_document()
    assert "200" in reply.json["paths"]["/v1/openapi.json"]["get"]["responses"]


def test_errors_require_code_and_message_and_code_is_api_md_enum():
    schemas = openapi_document()["components"]["schemas"]
    assert schemas["ErrorBody"]["required"] == ["error"]
    detail = schemas["ErrorDetail"]
    assert set(detail["required"]) == {"code", "message"}
    assert set(detail["properties"]["code"]["enum"]) == API_MD_CODES
    assert not {"HTTPValidationError", "ResponseValidationError"} & set(schemas)


@pytest.mark.parametrize(
    ("method", "path", "statuses"),
    [
        ("post", "/v1/conferences/{cid}/orders", {"201", "401", "404", "409", "422"}),
        ("put", "/v1/conferences/{cid}", {"200", "201", "401", "403", "422"}),
        ("post", "/v1/conferences/{cid}/bulk-purchases/{purchase_id}/checkout", {"200", "403", "409", "502"}),
        ("post", "/v1/conferences/{cid}/orders/{order_id}/refunds", {"201", "403", "404", "409", "502"}),
        ("post", "/v1/conferences/{cid}/stripe-events/{event_id}/replay", {"202", "403", "404", "409"}),
        ("post", "/v1/webhooks/stripe/{cid}", {"200", "400", "404", "413", "503"}),
    ],
)
def test_operations_list_the_statuses_they_answer(method, path, statuses):
    assert statuses <= set(operation(method, path)["responses"])


def test_public_routes_carry_no_security_and_the_others_the_bearer_scheme():
    document = openapi_document()
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": document["components"]["securitySchemes"]["bearerAuth"]["description"],
    }
    public = {("get", "/v1/health"), ("get", "/v1/openapi.json"), ("post", "/v1/webhooks/stripe/{cid}")}
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            expected = None if (method, path) in public else [{"bearerAuth": []}]
            assert op.get("security") == expected, (method, path)


def test_the_vouchers_list_documents_csv():
    content = operation("get", "/v1/conferences/{cid}/bulk-purchases/{purchase_id}/vouchers")["responses"][
        "200"
    ]
    assert content["content"]["text/csv"]["schema"]["type"] == "string"
    assert content["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/VoucherPage"}


@pytest.mark.parametrize(
    ("model", "example"),
    [
        (OrderView, examples.ORDER),
        (BulkPurchaseView, examples.BULK_PURCHASE),
        (RefundView, examples.REFUND),
        (CheckoutView, examples.CHECKOUT),
        (ConferenceInput, examples.CONFERENCE_INPUT),
        (OrderRequest, examples.ORDER_INPUT),
        (BulkPurchaseRequest, examples.STAFF_BULK_INPUT),
        (BulkPurchaseRequest, examples.SPONSOR_BULK_INPUT),
        (OrderRefundRequest, examples.ORDER_REFUND_INPUT),
        (OrderRefundRequest, examples.STRAY_REFUND_INPUT),
        (CheckoutRequest, examples.CHECKOUT_INPUT),
    ],
)
def test_examples_are_bodies_the_models_accept(model: type[BaseModel], example: dict[str, Any]):
    model.model_validate_json(json.dumps(example))


def test_error_examples_are_error_bodies():
    for ops in openapi_document()["paths"].values():
        for op in ops.values():
            for status, response in op["responses"].items():
                if status[0] in "45":
                    for named in response["content"]["application/json"].get("examples", {}).values():
                        ErrorBody.model_validate(named["value"])


def test_main_bodies_have_examples():
    assert (
        "examples"
        in operation("post", "/v1/conferences/{cid}/orders")["requestBody"]["content"]["application/json"]
    )
    assert (
        "examples"
        in operation("post", "/v1/conferences/{cid}/orders")["responses"]["201"]["content"][
            "application/json"
        ]
    )
    bulk = operation("post", "/v1/conferences/{cid}/bulk-purchases")["requestBody"]["content"][
        "application/json"
    ]
    assert set(bulk["examples"]) == {"staff", "sponsor"}


# --- regressions found by the fuzz lane (make test-fuzz) ---------------------------------------------------------


def body_fits(document: dict[str, Any], method: str, path: str, status: str, body: Any) -> None:
    """Raise unless ``body`` is valid against what the document says ``method path`` answers with ``status``."""
    from openapi_schema_validator import OAS31Validator

    schema = document["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
    OAS31Validator({**schema, "components": document["components"]}).validate(body)


@pytest.fixture
def front():
    """The runner's HTTP front (API Gateway's stand-in) with the API function behind it, ready."""
    import threading
    from http.server import ThreadingHTTPServer

    from local import runner
    from tests.support.functions import load_function

    stack = runner.LocalStack(api_port=0, stripe_port=0)
    stack.handlers["ApiFunction"] = load_function("api").handler
    stack.ready.set()
    server = ThreadingHTTPServer(("127.0.0.1", 0), stack._request_handler_class())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_a_long_non_ascii_cursor_is_refused_by_the_gateway_with_a_413_the_document_lists(front):
    """Fuzz case: a 2,048-character cursor of U+009F is 4 KB of UTF-8, 12 KB percent-encoded:
    over API Gateway's 10 KB head quota, so the gateway answers 413 in its own shape."""
    import http.client
    from urllib.parse import quote

    conn = http.client.HTTPConnection("127.0.0.1", front, timeout=10)
    path = "/v1/conferences/demo/audit?limit=51&cursor=" + quote("-" + "\u009f" * 2047)
    conn.request("GET", path, headers={"Authorization": "Bearer not-checked-before-the-quota"})
    reply = conn.getresponse()
    body = json.loads(reply.read())
    conn.close()
    assert reply.status == 413
    body_fits(openapi_document(), "get", "/v1/conferences/{cid}/audit", "413", body)


def test_the_functions_own_413_fits_the_same_documented_answer(api):
    reply = call(api, "GET", "/v1/health", headers={"x-junk": "a" * 10_300})
    assert reply.status == 413
    assert reply.json["error"]["code"] == "payload_too_large"
    body_fits(openapi_document(), "get", "/v1/health", "413", reply.json)
