"""Webhook endpoints, Stripe-compatible signatures, and asynchronous delivery with retries."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import stripe

from local.stripe_emulator import StripeEmulator, sign

from .helpers import Receiver, wait_for


def test_webhook_endpoint_secret_is_only_returned_on_create(
    client: stripe.StripeClient, endpoint: stripe.WebhookEndpoint, receiver: Receiver
) -> None:
    assert endpoint.secret.startswith("whsec_")
    assert (endpoint.url, endpoint.status, endpoint.enabled_events) == (receiver.url, "enabled", ["*"])
    assert "secret" not in client.v1.webhook_endpoints.retrieve(endpoint.id)
    assert "secret" not in client.v1.webhook_endpoints.list().data[0]


def test_deleted_webhook_endpoint_is_gone(
    client: stripe.StripeClient, endpoint: stripe.WebhookEndpoint
) -> None:
    deleted = client.v1.webhook_endpoints.delete(endpoint.id)
    assert deleted.deleted is True
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.webhook_endpoints.retrieve(endpoint.id)
    assert error.value.code == "resource_missing"
    assert client.v1.webhook_endpoints.list().data == []


def test_deliveries_verify_with_the_sdk_and_arrive_in_event_order(
    emulator: StripeEmulator,
    client: stripe.StripeClient,
    endpoint: stripe.WebhookEndpoint,
    receiver: Receiver,
    new_session: Callable[..., stripe.checkout.Session],
) -> None:
    session = new_session()
    emulator.pay(session.id, "succeed")
    deliveries = receiver.wait_for_count(4)
    events = [
        stripe.Webhook.construct_event(d.body, d.headers["Stripe-Signature"], endpoint.secret, tolerance=300)
        for d in deliveries
    ]
    assert [e.type for e in events] == [
        "payment_intent.created",
        "payment_intent.succeeded",
        "charge.succeeded",
        "checkout.session.completed",
    ]
    assert all(d.headers["Content-Type"].startswith("application/json") for d in deliveries)
    assert events[-1].data.object.id == session.id
    assert events[-1].id == client.v1.events.list(params={"limit": 1}).data[0].id


def test_tampered_body_wrong_secret_and_stale_timestamp_fail_verification(
    emulator: StripeEmulator,
    endpoint: stripe.WebhookEndpoint,
    receiver: Receiver,
    new_session: Callable[..., stripe.checkout.Session],
) -> None:
    emulator.pay(new_session().id, "succeed")
    delivery = receiver.wait_for_count(1)[0]
    header = delivery.headers["Stripe-Signature"]
    stripe.Webhook.construct_event(delivery.body, header, endpoint.secret, tolerance=300)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(
            delivery.body.replace("usd", "eur"), header, endpoint.secret, tolerance=300
        )
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(delivery.body, header, "whsec_wrong", tolerance=300)
    stale = sign(delivery.body, endpoint.secret, int(time.time()) - 301)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(delivery.body, stale, endpoint.secret, tolerance=300)


def test_signature_is_hmac_sha256_of_timestamp_dot_payload() -> None:
    header = sign('{"id": "evt_1"}', "whsec_test", 1700000000)
    assert header == stripe.WebhookSignature.generate_signature_header(
        '{"id": "evt_1"}', "whsec_test", timestamp=1700000000
    )


def test_enabled_events_filter_what_an_endpoint_receives(
    emulator: StripeEmulator,
    client: stripe.StripeClient,
    receiver: Receiver,
    new_session: Callable[..., stripe.checkout.Session],
) -> None:
    client.v1.webhook_endpoints.create(
        params={"url": receiver.url, "enabled_events": ["checkout.session.completed", "charge.refunded"]}
    )
    emulator.pay(new_session().id, "succeed")
    assert emulator.wait_for_deliveries()
    assert receiver.types() == ["checkout.session.completed"]


def test_each_account_delivers_only_to_its_own_endpoints(
    emulator: StripeEmulator,
    make_client: Callable[[str], stripe.StripeClient],
    endpoint: stripe.WebhookEndpoint,
    receiver: Receiver,
) -> None:
    other = make_client("sk_test_other_account")
    other_session = other.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "success_url": "https://other.test/ok",
            "line_items": [
                {
                    "price_data": {"currency": "usd", "unit_amount": 900, "product_data": {"name": "X"}},
                    "quantity": 1,
                }
            ],
        }
    )
    emulator.pay(other_session.id, "succeed")
    assert emulator.wait_for_deliveries()
    assert receiver.deliveries == []


def test_failed_delivery_is_retried_with_backoff_then_succeeds(
    emulator: StripeEmulator,
    client: stripe.StripeClient,
    endpoint: stripe.WebhookEndpoint,
    receiver: Receiver,
    new_session: Callable[..., stripe.checkout.Session],
) -> None:
    client.v1.webhook_endpoints.update(endpoint.id, params={"enabled_events": ["checkout.session.completed"]})
    receiver.statuses.extend([500, 503])
    emulator.pay(new_session().id, "succeed")
    receiver.wait_for_count(3)
    assert emulator.wait_for_deliveries()
    attempts = emulator.deliveries()
    assert [(a["attempt"], a["status_code"], a["outcome"]) for a in attempts] == [
        (1, 500, "retrying"),
        (2, 503, "retrying"),
        (3, 200, "delivered"),
    ]
    assert attempts[1]["at"] - attempts[0]["at"] >= 0.05
    event = client.v1.events.retrieve(attempts[0]["event_id"])
    assert event.pending_webhooks == 0


def test_delivery_gives_up_after_the_configured_retries(
    emulator: StripeEmulator,
    client: stripe.StripeClient,
    endpoint: stripe.WebhookEndpoint,
    receiver: Receiver,
    new_session: Callable[..., stripe.checkout.Session],
) -> None:
    client.v1.webhook_endpoints.update(endpoint.id, params={"enabled_events": ["checkout.session.completed"]})
    receiver.statuses.extend([500, 500, 500, 500])
    emulator.pay(new_session().id, "succeed")
    wait_for(lambda: any(a["outcome"] == "gave_up" for a in emulator.deliveries()))
    assert [a["outcome"] for a in emulator.deliveries()] == ["retrying", "retrying", "gave_up"]
    assert len(receiver.deliveries) == 3
    undelivered = client.v1.events.list(params={"delivery_success": False}).data
    assert [(e.type, e.pending_webhooks) for e in undelivered] == [("checkout.session.completed", 1)]


def test_unreachable_endpoint_records_connection_errors(
    emulator: StripeEmulator, client: stripe.StripeClient, new_session: Callable[..., stripe.checkout.Session]
) -> None:
    client.v1.webhook_endpoints.create(
        params={"url": "http://127.0.0.1:9/nowhere", "enabled_events": ["checkout.session.completed"]}
    )
    emulator.pay(new_session().id, "succeed")
    wait_for(lambda: any(a["outcome"] == "gave_up" for a in emulator.deliveries()))
    first = emulator.deliveries()[0]
    assert first["status_code"] is None
    assert first["error"]


def test_disabled_endpoint_receives_nothing(
    emulator: StripeEmulator,
    client: stripe.StripeClient,
    endpoint: stripe.WebhookEndpoint,
    receiver: Receiver,
    new_session: Callable[..., stripe.checkout.Session],
) -> None:
    updated = client.v1.webhook_endpoints.update(endpoint.id, params={"disabled": True})
    assert updated.status == "disabled"
    emulator.pay(new_session().id, "succeed")
    assert emulator.wait_for_deliveries()
    assert receiver.deliveries == []


def test_bad_webhook_endpoint_params_are_refused(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.webhook_endpoints.create(params={"url": "not a url", "enabled_events": ["*"]})
    assert error.value.param == "url"
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.webhook_endpoints.create(params={"url": "https://x.test/hook"})
    assert error.value.param == "enabled_events"
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.webhook_endpoints.create(
            params={"url": "https://x.test/hook", "enabled_events": ["Bad Event"]}
        )
    assert error.value.param == "enabled_events[0]"
