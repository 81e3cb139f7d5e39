"""Every function, built from the lock, imports and answers a sample event outside the development venv.

The chain follows a deployment's first minutes: the API function sets up a conference, checkout
takes an order, the webhook records two signed Stripe events, fulfillment and refunds process
what the webhook recorded, and the expiry sweep reconciles the conference with Stripe.
"""

import json
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import canonicalize_name

from local.stripe_emulator import sign
from local.template import load as load_template
from tests.artifact.conftest import LOCK, Build, FunctionFailed, run_function
from tests.support.functions import sample_event
from tests.support.requirements import pins


def _status(reply: dict[str, Any]) -> int:
    return reply["statusCode"]


@pytest.fixture(scope="session")
def api_report(
    build: Build, deployed_account: str, stripe_emulator: Any, tmp_path_factory: pytest.TempPathFactory
):
    events = [
        sample_event("http-api-put-conference.json"),
        sample_event("http-api-put-ticket-type.json"),
        sample_event("http-api-get-health.json"),
        sample_event("http-api-get-console-file.json"),
    ]
    return run_function("api", events, build, tmp_path_factory.mktemp("api"))


@pytest.fixture(scope="session")
def webhook_report(api_report: dict[str, Any], build: Build, tmp_path_factory: pytest.TempPathFactory):
    """Both sample deliveries, signed now with the webhook secret the conference was set up with."""
    secret = json.loads(sample_event("http-api-put-conference.json")["body"])["stripe"]["webhook_secret"]
    events = []
    for name in ("checkout-session-completed", "charge-refunded"):
        event = sample_event(f"http-api-post-stripe-webhook-{name}.json")
        event["headers"]["stripe-signature"] = sign(event["body"], secret)
        events.append(event)
    return run_function("webhook", events, build, tmp_path_factory.mktemp("webhook"))


def test_api_function_sets_up_a_conference_and_answers_health(api_report: dict[str, Any]) -> None:
    put_conference, put_ticket_type, health, _ = api_report["replies"]
    assert _status(put_conference) == 201, put_conference
    assert _status(put_ticket_type) == 201, put_ticket_type
    assert _status(health) == 200, health


def test_api_function_serves_the_console_files_it_ships_with(api_report: dict[str, Any]) -> None:
    *_, script = api_report["replies"]
    assert _status(script) == 200, script
    assert script["headers"]["Content-Type"].startswith("text/javascript")
    assert script["body"] == (Path(__file__).parents[2] / "functions/api/console/app.js").read_text()


def test_functions_take_the_sdks_from_the_built_layer_not_the_runtime(
    api_report: dict[str, Any], webhook_report: dict[str, Any], build: Build
) -> None:
    """boxoffice, boto3 and botocore (and stripe, which the webhook verifies with) are the layer's own copies."""
    origins = {**api_report["origins"], **webhook_report["origins"]}
    assert set(origins) == {"boxoffice", "boto3", "botocore", "stripe"}
    outside = {name: path for name, path in origins.items() if not path.startswith(str(build.layer))}
    assert outside == {}, f"imported from outside the built layer: {outside}"


def test_built_functions_load_no_sdk_until_their_first_request_needs_it(
    api_report: dict[str, Any], webhook_report: dict[str, Any]
) -> None:
    """The import alone loads neither boto3, nor PynamoDB, nor Stripe; the webhook not even pydantic."""
    for report in (api_report, webhook_report):
        early = [m for m in report["cold_modules"] if m.split(".")[0] in ("boto3", "pynamodb", "stripe")]
        assert early == [], report["app_file"]
    assert [m for m in webhook_report["cold_modules"] if m.split(".")[0] == "pydantic"] == []


def test_the_first_requests_compile_nothing_the_build_ships(
    api_report: dict[str, Any], webhook_report: dict[str, Any], build: Build
) -> None:
    """What the first requests load (the store, boto3, Stripe) comes from the shipped bytecode too."""
    for report in (api_report, webhook_report):
        assert "boto3" in report["origins"], report["app_file"]
        assert [path for path in report["compiled"] if path.startswith(str(build.root))] == []


def test_the_built_layer_holds_exactly_the_locked_versions(api_report: dict[str, Any]) -> None:
    built = {canonicalize_name(name): version for name, version in api_report["layer_versions"].items()}
    assert built == pins(LOCK)


def test_a_function_without_the_layer_cannot_even_import(build: Build, tmp_path: Path) -> None:
    with pytest.raises(FunctionFailed, match="ModuleNotFoundError"):
        run_function("api", [sample_event("http-api-get-health.json")], build, tmp_path, with_layer=False)


def test_checkout_function_takes_an_order_for_the_conference(
    api_report: dict[str, Any], build: Build, tmp_path: Path
) -> None:
    (reply,) = run_function("checkout", [sample_event("http-api-post-order.json")], build, tmp_path)[
        "replies"
    ]
    assert _status(reply) == 201, reply
    order = json.loads(reply["body"])
    assert order["status"] == "pending"
    assert order["total"] == 2 * 25000


def test_webhook_function_records_signed_stripe_deliveries(webhook_report: dict[str, Any]) -> None:
    assert [_status(reply) for reply in webhook_report["replies"]] == [200, 200], webhook_report["replies"]


@pytest.mark.parametrize(
    ("function", "event"),
    [
        ("fulfillment", "eventbridge-stripe-checkout-session-completed.json"),
        ("refunds", "eventbridge-stripe-charge-refunded.json"),
    ],
)
def test_processor_functions_process_what_the_webhook_recorded(
    webhook_report: dict[str, Any], build: Build, tmp_path: Path, function: str, event: str
) -> None:
    (reply,) = run_function(function, [sample_event(event)], build, tmp_path)["replies"]
    assert reply == {"status": "processed"}


def test_expiry_function_sweeps_the_conference_against_stripe(
    webhook_report: dict[str, Any], stripe_emulator: Any, build: Build, tmp_path: Path
) -> None:
    secret_key = json.loads(sample_event("http-api-put-conference.json")["body"])["stripe"]["secret_key"]
    with stripe_emulator.store.lock:  # forget what earlier processors asked Stripe with this key
        stripe_emulator.store.accounts.pop(secret_key, None)
    (report,) = run_function("expiry", [sample_event("scheduled-expiry.json")], build, tmp_path)["replies"]
    assert report["conferences"] == 1
    assert report["failures"] == []
    assert secret_key in stripe_emulator.store.accounts, (
        "the sweep never reached Stripe with the conference's key"
    )


@pytest.mark.parametrize(
    ("function", "event"),
    [
        ("api", "http-api-put-conference.json"),
        ("api", "http-api-put-ticket-type.json"),
        ("api", "http-api-get-health.json"),
        ("api", "http-api-get-console-file.json"),
        ("checkout", "http-api-post-order.json"),
        ("webhook", "http-api-post-stripe-webhook-checkout-session-completed.json"),
        ("webhook", "http-api-post-stripe-webhook-charge-refunded.json"),
    ],
)
def test_each_sample_http_event_is_one_that_api_gateway_sends_that_function(
    function: str, event: str
) -> None:
    """The route key, path parameters and authorizer of each sample are the template's for that function."""
    template = load_template()
    given = sample_event(event)
    found = template.route_for(given["requestContext"]["http"]["method"], given["rawPath"])
    assert found is not None
    route, params = found
    assert template.functions[route.function].code_uri.name == function
    assert given["routeKey"] == given["requestContext"]["routeKey"] == route.route_key
    assert given.get("pathParameters", {}) == params
    assert ("authorizer" in given["requestContext"]) == route.authorized


@pytest.mark.parametrize(
    ("function", "event"),
    [
        ("fulfillment", "eventbridge-stripe-checkout-session-completed.json"),
        ("refunds", "eventbridge-stripe-charge-refunded.json"),
    ],
)
def test_each_sample_bus_event_is_one_a_template_rule_sends_that_function(function: str, event: str) -> None:
    template = load_template()
    given = sample_event(event)
    targets = {
        template.functions[rule.function].code_uri.name
        for rule in template.rules
        if given["source"] in rule.pattern.get("source", [])
        and any(
            given["detail-type"] == want
            or (isinstance(want, dict) and given["detail-type"].startswith(want["prefix"]))
            for want in rule.pattern.get("detail-type", [])
        )
    }
    assert targets == {function}
