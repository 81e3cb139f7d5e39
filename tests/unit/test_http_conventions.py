"""The conventions of docs/api.md, held for every route: error shape, statuses, auth and body limits."""

import base64
import json

import pytest

from local.apigw import http_api_event
from tests.support.http import ADMIN, ATTENDEE, DEMO_CONFERENCE, LambdaContext, assert_error, call


def test_health_is_public_and_ok(api):
    reply = call(api, "GET", "/v1/health")
    assert reply.status == 200
    assert reply.json == {"status": "ok"}


def test_malformed_json_is_400(api):
    assert_error(
        call(api, "PUT", "/v1/conferences/demo", raw_body='{"name": ', claims=ADMIN), 400, "bad_request"
    )


@pytest.mark.parametrize("raw", ["[]", '"text"', "null", "42"])
def test_a_body_that_is_not_an_object_is_422(api, raw):
    assert_error(
        call(api, "PUT", "/v1/conferences/demo", raw_body=raw, claims=ADMIN), 422, "validation_error"
    )


def test_unknown_fields_are_422_with_details(api):
    reply = call(api, "PUT", "/v1/conferences/demo", body={**DEMO_CONFERENCE, "owner": "me"}, claims=ADMIN)
    assert_error(reply, 422, "validation_error")
    assert {
        "loc": ["body", "owner"],
        "msg": "Extra inputs are not permitted",
        "type": "extra_forbidden",
    } in reply.json["error"]["details"]


def test_wrong_types_are_not_coerced(api):
    reply = call(
        api, "PUT", "/v1/conferences/demo", body={**DEMO_CONFERENCE, "max_bulk_quantity": "500"}, claims=ADMIN
    )
    assert_error(reply, 422, "validation_error")


def test_oversize_body_is_413(api):
    body = {**DEMO_CONFERENCE, "name": "x" * 70_000}
    assert_error(call(api, "PUT", "/v1/conferences/demo", body=body, claims=ADMIN), 413, "payload_too_large")


def test_non_json_content_type_is_400(api):
    reply = call(
        api,
        "PUT",
        "/v1/conferences/demo",
        raw_body="name=x",
        claims=ADMIN,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert_error(reply, 400, "bad_request")


def test_base64_bodies_are_decoded_as_api_gateway_sends_them(api):
    event = http_api_event(
        "PUT",
        "/v1/conferences/demo",
        route_key="PUT /v1/conferences/{cid}",
        path_parameters={"cid": "demo"},
        headers={"content-type": "application/json"},
        body=json.dumps(DEMO_CONFERENCE),
        claims=ADMIN,
    )
    event["body"] = base64.b64encode(event["body"].encode()).decode()
    event["isBase64Encoded"] = True
    result = api(event, LambdaContext())
    assert result["statusCode"] == 201, result["body"]


def test_missing_auth_is_401(api):
    assert_error(call(api, "PUT", "/v1/conferences/demo", body=DEMO_CONFERENCE), 401, "unauthenticated")


def test_claims_without_a_subject_are_401(api):
    reply = call(api, "GET", "/v1/conferences/demo/catalog", claims={"email": "x@example.com"})
    assert_error(reply, 401, "unauthenticated")


@pytest.mark.parametrize("cid", ["Demo", "-demo", "d", "a" * 64, "demo_conf", "dé"])
def test_bad_conference_ids_are_422(api, cid):
    assert_error(
        call(api, "PUT", f"/v1/conferences/{cid}", body=DEMO_CONFERENCE, claims=ADMIN),
        422,
        "validation_error",
    )


def test_unknown_route_is_404_in_the_error_shape(api):
    assert_error(call(api, "GET", "/v1/nothing-here", claims=ATTENDEE), 404, "not_found")


def test_another_tenants_or_unknown_conference_is_404(api, demo):
    assert_error(call(api, "GET", "/v1/conferences/other-conf/catalog", claims=ATTENDEE), 404, "not_found")


def test_unexpected_errors_are_500_without_internals(api, demo, monkeypatch):
    from boxoffice import conferences

    def explode(*_args, **_kwargs):
        raise RuntimeError("table exploded at arn:aws:dynamodb:secret-internals")

    monkeypatch.setattr(conferences, "catalog", explode)
    reply = call(api, "GET", "/v1/conferences/demo/catalog", claims=ATTENDEE)
    assert_error(reply, 500, "internal_error")
    assert "exploded" not in reply.text and "arn:" not in reply.text


def test_flattened_group_claims_grant_the_same_roles(api):
    as_string = {"sub": "u1", "cognito:groups": "[admin staff:demo]"}
    reply = call(api, "PUT", "/v1/conferences/demo", body=DEMO_CONFERENCE, claims=as_string)
    assert reply.status == 201, reply.text


def test_openapi_document_is_generated_from_the_models(api):
    reply = call(api, "GET", "/v1/openapi.json")
    assert reply.status == 200
    doc = reply.json
    assert doc["openapi"].startswith("3.")
    assert "/v1/conferences/{cid}" in doc["paths"]
    assert "put" in doc["paths"]["/v1/conferences/{cid}"]
    assert "/v1/conferences/{cid}/catalog" in doc["paths"]
    schemas = doc["components"]["schemas"]
    assert {"ConferenceInput", "ConferenceView", "CatalogView", "TicketTypeInput"} <= set(schemas)
    assert schemas["ConferenceInput"]["additionalProperties"] is False
    assert "secret_key" not in json.dumps(schemas["ConferenceView"])
