"""template.yaml is what the runner serves, and the events we build have AWS's real shapes."""

import json

from local.apigw import flatten_claims, http_api_event
from local.template import load
from tests.support.functions import sample_event


def keys_of(value: dict, prefix: str = "") -> set[str]:
    found: set[str] = set()
    for key, inner in value.items():
        found.add(prefix + key)
        if isinstance(inner, dict) and key not in (
            "headers",
            "claims",
            "pathParameters",
            "queryStringParameters",
        ):
            found |= keys_of(inner, f"{prefix}{key}.")
    return found


def test_built_http_events_have_the_keys_of_the_aws_samples():
    sample = sample_event("http-api-put-conference.json")
    built = http_api_event(
        "PUT",
        "/v1/conferences/demo",
        route_key="PUT /v1/conferences/{cid}",
        path_parameters={"cid": "demo"},
        headers={"content-type": "application/json"},
        body="{}",
        claims={"sub": "x", "cognito:groups": ["admin"]},
    )
    assert keys_of(built) == keys_of(sample)
    public = sample_event("http-api-get-health.json")
    assert keys_of(http_api_event("GET", "/v1/health", route_key="GET /v1/health")) == keys_of(public)


def test_claims_are_flattened_as_api_gateway_does():
    assert flatten_claims({"cognito:groups": ["a", "b"], "exp": 5, "email_verified": True}) == {
        "cognito:groups": "[a b]",
        "exp": "5",
        "email_verified": "true",
    }


def test_sample_events_are_accepted_by_the_real_handler(api):
    from tests.support.http import LambdaContext

    event = sample_event("http-api-get-health.json")
    result = api(event, LambdaContext())
    assert result["statusCode"] == 200
    put = sample_event("http-api-put-conference.json")
    result = api(put, LambdaContext())
    assert result["statusCode"] == 201, result["body"]


def test_every_function_in_the_template_has_its_code():
    template = load()
    assert set(template.functions) == {
        "ApiFunction",
        "CheckoutFunction",
        "WebhookFunction",
        "FulfillmentFunction",
        "RefundsFunction",
        "ExpiryFunction",
    }
    for function in template.functions.values():
        assert (function.code_uri / "app.py").is_file(), function.logical_id
        assert function.handler == "app.handler"


def test_routes_match_literal_segments_and_parameters():
    template = load()
    route, params = template.route_for("PUT", "/v1/conferences/demo/ticket-types/general")
    assert (route.function, route.path, params) == (
        "ApiFunction",
        "/v1/conferences/{cid}/ticket-types/{id}",
        {"cid": "demo", "id": "general"},
    )
    route, _ = template.route_for("POST", "/v1/webhooks/stripe/demo")
    assert (route.function, route.authorized) == ("WebhookFunction", False)
    route, _ = template.route_for("GET", "/v1/health")
    assert not route.authorized
    assert template.route_for("DELETE", "/v1/health") is None
    assert template.route_for("GET", "/v1/conferences/demo/catalog/extra") is None


def test_bus_rules_route_stripe_event_types_to_their_functions():
    from moto.events.models import EventPattern

    template = load()

    def targets(detail_type: str) -> set[str]:
        event = {"source": "boxoffice.stripe", "detail-type": detail_type, "detail": {}}
        return {
            r.function
            for r in template.rules
            if EventPattern.load(json.dumps(r.pattern)).matches_event(event)
        }

    assert targets("checkout.session.completed") == {"FulfillmentFunction"}
    assert targets("checkout.session.expired") == {"FulfillmentFunction"}
    assert targets("payment_intent.payment_failed") == {"FulfillmentFunction"}
    assert targets("charge.refunded") == {"RefundsFunction"}
    assert targets("refund.failed") == {"RefundsFunction"}
    assert targets("charge.dispute.created") == {"RefundsFunction"}
    assert targets("customer.created") == set()


def test_the_expiry_job_runs_on_a_schedule():
    (schedule,) = load().schedules
    assert schedule.function == "ExpiryFunction"
    assert schedule.every_seconds == 300
