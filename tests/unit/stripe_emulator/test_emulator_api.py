"""Stripe's REST conventions: keys and accounts, idempotency, pagination, form encoding, errors."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
import requests
import stripe

from local.stripe_emulator import StripeEmulator, api, forms

from .helpers import SECRET_KEY, line_item, session_params


def test_missing_api_key_gets_stripes_401(emulator: StripeEmulator) -> None:
    response = requests.get(f"{emulator.url}/v1/checkout/sessions", timeout=5)
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert "You did not provide an API key" in error["message"]


@pytest.mark.parametrize("key", ["sk_live_abc", "pk_test_abc", "nonsense"])
def test_bad_api_key_gets_stripes_401(make_client: Callable[[str], stripe.StripeClient], key: str) -> None:
    with pytest.raises(stripe.AuthenticationError) as error:
        make_client(key).v1.checkout.sessions.list()
    assert error.value.http_status == 401
    assert error.value.json_body["error"]["code"] == "api_key_invalid"


def test_basic_auth_with_the_key_as_username_is_accepted(emulator: StripeEmulator) -> None:
    response = requests.get(f"{emulator.url}/v1/events", auth=(SECRET_KEY, ""), timeout=5)
    assert response.status_code == 200
    assert response.json()["object"] == "list"


def test_each_secret_key_is_its_own_account(
    make_client: Callable[[str], stripe.StripeClient],
    client: stripe.StripeClient,
    new_session: Callable[..., stripe.checkout.Session],
) -> None:
    session = new_session()
    other = make_client("sk_test_another_conference")
    with pytest.raises(stripe.InvalidRequestError) as error:
        other.v1.checkout.sessions.retrieve(session.id)
    assert (error.value.http_status, error.value.code) == (404, "resource_missing")
    assert other.v1.checkout.sessions.list().data == []
    assert other.v1.events.list().data == []
    assert client.v1.checkout.sessions.retrieve(session.id).id == session.id


def test_same_idempotency_key_and_params_replays_the_first_response(
    client: stripe.StripeClient,
) -> None:
    first = client.v1.checkout.sessions.create(
        params=session_params(), options={"idempotency_key": "bp_123:1"}
    )
    again = client.v1.checkout.sessions.create(
        params=session_params(), options={"idempotency_key": "bp_123:1"}
    )
    assert again.id == first.id
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.last_response.headers
    assert again.last_response.idempotency_key == "bp_123:1"
    assert len(client.v1.checkout.sessions.list().data) == 1


def test_same_idempotency_key_with_different_params_is_refused(client: stripe.StripeClient) -> None:
    client.v1.checkout.sessions.create(params=session_params(), options={"idempotency_key": "key-1"})
    with pytest.raises(stripe.IdempotencyError) as error:
        client.v1.checkout.sessions.create(
            params=session_params(client_reference_id="other"), options={"idempotency_key": "key-1"}
        )
    assert error.value.http_status == 400
    assert error.value.error.type == "idempotency_error"


def test_same_idempotency_key_on_another_endpoint_is_refused(
    client: stripe.StripeClient, paid_intent: stripe.PaymentIntent
) -> None:
    client.v1.refunds.create(
        params={"payment_intent": paid_intent.id, "amount": 100}, options={"idempotency_key": "k"}
    )
    with pytest.raises(stripe.IdempotencyError):
        client.v1.checkout.sessions.create(params=session_params(), options={"idempotency_key": "k"})


def test_idempotency_keys_are_scoped_per_account(make_client: Callable[[str], stripe.StripeClient]) -> None:
    one = make_client("sk_test_one").v1.checkout.sessions.create(
        params=session_params(), options={"idempotency_key": "shared"}
    )
    two = make_client("sk_test_two").v1.checkout.sessions.create(
        params=session_params(), options={"idempotency_key": "shared"}
    )
    assert one.id != two.id
    assert "Idempotent-Replayed" not in two.last_response.headers


def test_an_idempotent_error_is_replayed_but_a_validation_error_is_not_saved(
    client: stripe.StripeClient, paid_intent: stripe.PaymentIntent
) -> None:
    too_much = {"payment_intent": paid_intent.id, "amount": 999_999}
    for _ in range(2):
        with pytest.raises(stripe.InvalidRequestError) as error:
            client.v1.refunds.create(params=too_much, options={"idempotency_key": "refund-x"})
    assert error.value.headers["Idempotent-Replayed"] == "true"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.refunds.create(
            params={"payment_intent": paid_intent.id, "amount": 0}, options={"idempotency_key": "v"}
        )
    refund = client.v1.refunds.create(
        params={"payment_intent": paid_intent.id, "amount": 10}, options={"idempotency_key": "v"}
    )
    assert refund.amount == 10


def test_lists_are_newest_first_and_paginate_with_cursors(client: stripe.StripeClient) -> None:
    ids = [client.v1.checkout.sessions.create(params=session_params()).id for _ in range(5)]
    newest_first = list(reversed(ids))
    page = client.v1.checkout.sessions.list(params={"limit": 2})
    assert (page.object, page.url, page.has_more) == ("list", "/v1/checkout/sessions", True)
    assert [s.id for s in page.data] == newest_first[:2]
    page2 = client.v1.checkout.sessions.list(params={"limit": 2, "starting_after": page.data[-1].id})
    assert [s.id for s in page2.data] == newest_first[2:4]
    page3 = client.v1.checkout.sessions.list(params={"limit": 2, "starting_after": page2.data[-1].id})
    assert ([s.id for s in page3.data], page3.has_more) == (newest_first[4:], False)
    back = client.v1.checkout.sessions.list(params={"limit": 2, "ending_before": page3.data[0].id})
    assert [s.id for s in back.data] == newest_first[2:4]
    assert [
        s.id for s in client.v1.checkout.sessions.list(params={"limit": 2}).auto_paging_iter()
    ] == newest_first
    assert len(client.v1.checkout.sessions.list().data) == 5


@pytest.mark.parametrize("limit", [0, 101])
def test_list_limit_must_be_between_1_and_100(client: stripe.StripeClient, limit: int) -> None:
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.events.list(params={"limit": limit})
    assert error.value.param == "limit"


def test_unknown_cursor_is_resource_missing(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.checkout.sessions.list(params={"starting_after": "cs_test_nope"})
    assert (error.value.code, error.value.param) == ("resource_missing", "starting_after")


def test_expand_data_dot_field_on_lists(
    emulator: StripeEmulator, client: stripe.StripeClient, new_session: Callable[..., stripe.checkout.Session]
) -> None:
    emulator.pay(new_session().id, "succeed")
    listing = client.v1.checkout.sessions.list(params={"expand": ["data.payment_intent"]})
    assert isinstance(listing.data[0].payment_intent, stripe.PaymentIntent)
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.checkout.sessions.list(params={"expand": ["data.nothing"]})
    assert error.value.param == "expand"


def _bad_items(**price_data: Any) -> list[dict[str, Any]]:
    item = line_item("usd", 1000)
    item["price_data"].update(price_data)
    return [item]


@pytest.mark.parametrize(
    ("overrides", "param"),
    [
        ({"success_url": None}, "success_url"),
        ({"mode": None}, "mode"),
        ({"mode": "sideways"}, "mode"),
        ({"line_items": None}, "line_items"),
        ({"line_items": _bad_items(unit_amount=-1)}, "line_items[0][price_data][unit_amount]"),
        ({"line_items": _bad_items(unit_amount="12.5")}, "line_items[0][price_data][unit_amount]"),
        ({"line_items": _bad_items(currency="xyz")}, "line_items[0][price_data][currency]"),
        (
            {"line_items": _bad_items(product_data={"description": "no name"})},
            "line_items[0][price_data][product_data][name]",
        ),
        ({"line_items": _bad_items(unit_amount=0)}, "line_items"),
        ({"line_items": [{"price_data": line_item("usd", 100)["price_data"]}]}, "line_items[0][quantity]"),
        ({"line_items": [line_item("usd", 100, quantity=0)]}, "line_items[0][quantity]"),
        (
            {"line_items": [line_item("usd", 1000), line_item("eur", 1000)]},
            "line_items[1][price_data][currency]",
        ),
        ({"success_url": "not a url"}, "success_url"),
        ({"metadata": {"k" * 41: "v"}}, f"metadata[{'k' * 41}]"),
        ({"payment_intent_data": {"colour": "red"}}, "payment_intent_data[colour]"),
        ({"unknown_thing": "1"}, "unknown_thing"),
        ({"expires_at": "soon"}, "expires_at"),
    ],
)
def test_bad_session_input_gets_invalid_request_error_naming_the_param(
    client: stripe.StripeClient, overrides: dict[str, Any], param: str
) -> None:
    params = {k: v for k, v in session_params(**overrides).items() if v is not None}
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.checkout.sessions.create(params=params)
    assert error.value.http_status == 400
    assert error.value.error.type == "invalid_request_error"
    assert error.value.param == param


def test_unknown_route_is_stripes_404(emulator: StripeEmulator) -> None:
    response = requests.get(f"{emulator.url}/v1/customers", auth=(SECRET_KEY, ""), timeout=5)
    assert response.status_code == 404
    assert "Unrecognized request URL (GET: /v1/customers)" in response.json()["error"]["message"]


def test_retrieving_a_missing_object_is_resource_missing(client: stripe.StripeClient) -> None:
    for call in (
        lambda: client.v1.checkout.sessions.retrieve("cs_test_missing"),
        lambda: client.v1.payment_intents.retrieve("pi_missing"),
        lambda: client.v1.charges.retrieve("ch_missing"),
        lambda: client.v1.refunds.retrieve("re_missing"),
        lambda: client.v1.events.retrieve("evt_missing"),
    ):
        with pytest.raises(stripe.InvalidRequestError) as error:
            call()
        assert (error.value.http_status, error.value.code) == (404, "resource_missing")


def test_an_unexpected_exception_answers_api_error_500_and_the_server_keeps_serving(
    emulator: StripeEmulator,
    client: stripe.StripeClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    route = next(r for r in api.ROUTES if r.method == "GET" and r.pattern.pattern == "/v1/events")

    def explode(*args: Any) -> dict[str, Any]:
        raise RuntimeError("boom")

    broken = api.Route(route.method, route.pattern, route.schema, explode)
    monkeypatch.setattr(api, "ROUTES", [broken if r is route else r for r in api.ROUTES])
    with (
        caplog.at_level(logging.ERROR, logger="local.stripe_emulator"),
        pytest.raises(stripe.APIError) as error,
    ):
        client.v1.events.list()
    assert error.value.http_status == 500
    assert error.value.error.type == "api_error"
    assert "boom" in caplog.text
    monkeypatch.undo()
    assert client.v1.events.list().object == "list"


def test_bracket_forms_decode_nested_hashes_and_both_array_styles() -> None:
    decoded = forms.decode(
        "line_items[0][price_data][unit_amount]=100&line_items[0][quantity]=2&expand[]=a&expand[]=b"
        "&metadata[k]=v&created[gte]=5&types[0]=x&types[1]=y"
    )
    assert decoded == {
        "line_items": {"0": {"price_data": {"unit_amount": "100"}, "quantity": "2"}},
        "expand": ["a", "b"],
        "metadata": {"k": "v"},
        "created": {"gte": "5"},
        "types": {"0": "x", "1": "y"},
    }


def test_raw_form_posts_with_expand_brackets_work(emulator: StripeEmulator) -> None:
    body = (
        "mode=payment&success_url=https://x.test/ok&line_items[0][price_data][currency]=usd"
        "&line_items[0][price_data][unit_amount]=700&line_items[0][price_data][product_data][name]=Pass"
        "&line_items[0][quantity]=1&expand[]=line_items"
    )
    response = requests.post(
        f"{emulator.url}/v1/checkout/sessions",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        auth=(SECRET_KEY, ""),
        timeout=5,
    )
    assert response.status_code == 200
    assert response.json()["line_items"]["data"][0]["amount_total"] == 700
