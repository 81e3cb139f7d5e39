"""The OpenAPI document is the contract a generated client is built from (issue #13, item 1)."""

import json
from typing import Any

import pytest
from pydantic import BaseModel

from boxoffice.api import examples
from boxoffice.api.contract import ErrorBody
from boxoffice.api.openapi import openapi_document
from boxoffice.bulk_purchases import BulkPurchaseRequest, BulkPurchaseView
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
