"""``Idempotency-Key`` through the Powertools utility: replay, conflict, missing key (the race runs on DynamoDB Local)."""

import pytest
from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import BaseModel, ConfigDict

from boxoffice.api import lambda_handler, make_resolver
from boxoffice.api.idempotency import IdempotencyKey, idempotent
from local.apigw import http_api_event
from tests.support.http import ATTENDEE, STAFF, LambdaContext, Reply


class Thing(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: str


@pytest.fixture
def app():
    """A resolver with POST routes that count how often their body really runs."""
    router = Router()
    runs: list[str] = []

    @router.post("/v1/things", status_code=201, middlewares=[idempotent(required=True)])
    def create(body: Thing) -> dict[str, str]:
        runs.append(body.name)
        return {"id": f"thing-{len(runs)}", "name": body.name}

    @router.post("/v1/optional-things", status_code=201, middlewares=[idempotent(required=False)])
    def create_optional(body: Thing) -> dict[str, str]:
        runs.append(body.name)
        return {"id": f"thing-{len(runs)}"}

    @router.post("/v1/keyed-things", status_code=201, middlewares=[idempotent(required=False)])
    def create_keyed(body: Thing, idempotency_key: IdempotencyKey) -> dict[str, str | None]:
        runs.append(body.name)
        return {"key": idempotency_key}

    @router.post("/v1/failing-things", middlewares=[idempotent(required=True)])
    def create_failing(body: Thing) -> dict[str, str]:
        runs.append(body.name)
        raise RuntimeError("boom")

    handler = lambda_handler(make_resolver(router))
    handler.runs = runs
    return handler


def post(handler, path: str, body: str, key: str | None, claims=ATTENDEE) -> Reply:
    headers = {"content-type": "application/json"}
    if key is not None:
        headers["idempotency-key"] = key
    event = http_api_event("POST", path, route_key=f"POST {path}", headers=headers, body=body, claims=claims)
    result = app_result = handler(event, LambdaContext())
    del app_result
    return Reply(
        result["statusCode"], {k.lower(): v for k, v in result.get("headers", {}).items()}, result["body"]
    )


def test_same_key_and_body_replays_the_first_response_without_running_again(app):
    first = post(app, "/v1/things", '{"name": "a"}', "key-1")
    again = post(app, "/v1/things", '{"name": "a"}', "key-1")
    assert first.status == again.status == 201
    assert first.json == again.json == {"id": "thing-1", "name": "a"}
    assert again.headers.get("idempotent-replayed") == "true"
    assert "idempotent-replayed" not in first.headers
    assert app.runs == ["a"]


def test_same_key_with_a_different_body_is_409(app):
    post(app, "/v1/things", '{"name": "a"}', "key-1")
    other = post(app, "/v1/things", '{"name": "b"}', "key-1")
    assert other.status == 409
    assert other.json["error"]["code"] == "idempotency_conflict"
    assert app.runs == ["a"]


def test_equivalent_json_with_reordered_whitespace_is_the_same_request(app):
    post(app, "/v1/things", '{"name": "a"}', "key-1")
    again = post(app, "/v1/things", '{ "name":"a" }', "key-1")
    assert again.status == 201
    assert app.runs == ["a"]


def test_keys_are_scoped_to_the_caller(app):
    mine = post(app, "/v1/things", '{"name": "a"}', "shared-key", claims=ATTENDEE)
    theirs = post(app, "/v1/things", '{"name": "a"}', "shared-key", claims=STAFF)
    assert mine.json["id"] != theirs.json["id"]
    assert app.runs == ["a", "a"]


def test_missing_key_where_required_is_400(app):
    reply = post(app, "/v1/things", '{"name": "a"}', None)
    assert reply.status == 400
    assert reply.json["error"]["code"] == "bad_request"
    assert "Idempotency-Key" in reply.json["error"]["message"]
    assert app.runs == []


def test_missing_key_where_optional_runs_each_time(app):
    post(app, "/v1/optional-things", '{"name": "a"}', None)
    post(app, "/v1/optional-things", '{"name": "a"}', None)
    assert app.runs == ["a", "a"]


def test_oversize_key_is_400(app):
    reply = post(app, "/v1/things", '{"name": "a"}', "k" * 256)
    assert reply.status == 400
    assert app.runs == []


def test_a_failed_request_is_not_recorded_so_the_same_key_can_retry(app):
    assert post(app, "/v1/failing-things", '{"name": "a"}', "key-9").status == 500
    assert post(app, "/v1/failing-things", '{"name": "a"}', "key-9").status == 500
    assert app.runs == ["a", "a"]


def test_the_route_is_handed_the_key_the_middleware_used(app):
    first = post(app, "/v1/keyed-things", '{"name": "a"}', "key-7")
    again = post(app, "/v1/keyed-things", '{"name": "a"}', "key-7")
    assert first.status == again.status == 201
    assert first.json == again.json == {"key": "key-7"}
    assert app.runs == ["a"]


def test_the_route_is_handed_none_without_a_key(app):
    reply = post(app, "/v1/keyed-things", '{"name": "a"}', None)
    assert (reply.status, reply.json) == (201, {"key": None})


def test_an_empty_key_counts_as_no_key(app):
    post(app, "/v1/optional-things", '{"name": "a"}', "")
    post(app, "/v1/optional-things", '{"name": "a"}', "")
    assert app.runs == ["a", "a"]


def test_an_oversize_key_is_refused_before_an_optional_route_runs(app):
    reply = post(app, "/v1/keyed-things", '{"name": "a"}', "k" * 256)
    assert reply.status == 400
    assert reply.json["error"]["code"] == "bad_request"
    assert app.runs == []
