"""The webhook: verified against the conference's secret, recorded once, published, 5xx to retry."""

import json
import time

import boto3
import pytest

from boxoffice import bus
from boxoffice.store import stripe_events as records
from local.stripe_emulator import sign
from tests.support import table
from tests.support.bus import BusTap
from tests.support.http import ADMIN, DEMO_CONFERENCE, call
from tests.support.stripe import WEBHOOK_SECRET, deliver_webhook, stripe_event


def test_a_signed_event_is_recorded_published_and_acknowledged(demo):
    tap = BusTap()
    payload = json.dumps(stripe_event())
    reply = deliver_webhook(payload, sign(payload, WEBHOOK_SECRET))
    assert reply.status == 200, reply.text
    assert reply.json == {"received": True}
    record = records.get_event("demo", "evt_1")
    assert (record.status, record.published, record.source) == ("received", True, "webhook")
    assert record.event["type"] == "checkout.session.completed"
    (published,) = tap.drain()
    assert published["source"] == "boxoffice.stripe"
    assert published["detail-type"] == "checkout.session.completed"
    assert published["detail"] == {"conference_id": "demo", "event_id": "evt_1"}


def test_the_payload_is_stored_compressed_and_records_from_before_still_read(demo):
    event = stripe_event()
    event["id"] = "evt_compressed"
    _, created = records.record_event("demo", event, source="webhook")
    assert created
    stored = records.get_event("demo", "evt_compressed")
    assert stored.payload is None
    assert len(stored.payload_z) < len(json.dumps(event))
    assert stored.event == event

    legacy = records.StripeEventRecord(
        *records.StripeEventRecord.key("demo", "evt_legacy"),
        conference_id="demo", event_id="evt_legacy", event_type=event["type"], stripe_created=1,
        payload=json.dumps({**event, "id": "evt_legacy"}), source="webhook", status=records.RECEIVED,
    )  # fmt: skip
    legacy.save()
    assert records.get_event("demo", "evt_legacy").event == {**event, "id": "evt_legacy"}


@pytest.mark.parametrize(
    "case",
    [
        "wrong secret",
        "tampered body",
        "stale timestamp",
        "missing header",
        "garbage header",
        "other conference",
    ],
)
def test_every_bad_signature_is_400_and_stores_nothing(demo, api, case):
    tap = BusTap()
    payload = json.dumps(stripe_event())
    signature = sign(payload, WEBHOOK_SECRET)
    if case == "wrong secret":
        signature = sign(payload, "whsec_not_the_right_one")
    elif case == "tampered body":
        payload = payload.replace("checkout.session.completed", "checkout.session.expired")
    elif case == "stale timestamp":
        signature = sign(payload, WEBHOOK_SECRET, timestamp=int(time.time()) - 301)
    elif case == "missing header":
        signature = None
    elif case == "garbage header":
        signature = "t=abc,v1=zzz"
    elif case == "other conference":
        other = {
            **DEMO_CONFERENCE,
            "stripe": {"secret_key": "sk_test_other12345678", "webhook_secret": "whsec_other12345678"},
        }
        assert call(api, "PUT", "/v1/conferences/other", body=other, claims=ADMIN).status == 201
        signature = sign(payload, "whsec_other12345678")
    reply = deliver_webhook(payload, signature)
    assert reply.status == 400, reply.text
    assert reply.json["error"]["code"] == "bad_request"
    assert table.stripe_event_items() == []
    assert tap.drain() == []


def test_a_header_with_several_v1_values_passes_when_one_is_valid(demo):
    payload = json.dumps(stripe_event())
    good = sign(payload, WEBHOOK_SECRET)
    timestamp, digest = good.split(",")
    header = f"{timestamp},v1={'0' * 64},{digest},v0=ignored"
    assert deliver_webhook(payload, header).status == 200
    assert records.get_event("demo", "evt_1") is not None


def test_a_base64_body_is_verified_on_its_decoded_bytes(demo):
    payload = json.dumps(stripe_event())
    assert deliver_webhook(payload, sign(payload, WEBHOOK_SECRET), base64_body=True).status == 200


def test_an_unknown_conference_is_404(demo):
    """(An inactive conference's events are admitted: tests/unit/test_inactive_conferences.py.)"""
    payload = json.dumps(stripe_event())
    reply = deliver_webhook(payload, sign(payload, WEBHOOK_SECRET), cid="nowhere")
    assert reply.status == 404
    assert table.stripe_event_items() == []


def test_an_oversize_body_is_413(demo):
    event = stripe_event()
    event["data"]["object"]["padding"] = "x" * (300 * 1024)
    payload = json.dumps(event)
    assert deliver_webhook(payload, sign(payload, WEBHOOK_SECRET)).status == 413
    assert table.stripe_event_items() == []


@pytest.mark.parametrize(
    "body", ['{"id": "evt_1"}', "[]", '{"id": "not-an-event", "type": "x", "data": {"object": {}}}', "{nope"]
)
def test_a_signed_body_that_is_not_a_stripe_event_is_400(demo, body):
    assert deliver_webhook(body, sign(body, WEBHOOK_SECRET)).status == 400
    assert table.stripe_event_items() == []


def test_unknown_types_are_acknowledged_recorded_as_ignored_and_not_published(demo):
    tap = BusTap()
    payload = json.dumps(stripe_event(event_type="customer.created"))
    assert deliver_webhook(payload, sign(payload, WEBHOOK_SECRET)).status == 200
    assert records.get_event("demo", "evt_1").status == "ignored"
    assert tap.drain() == []


def test_a_crash_between_record_and_publish_is_healed_by_the_next_delivery(demo, monkeypatch):
    tap = BusTap()
    payload = json.dumps(stripe_event())
    real_publish = bus.publish_stripe_event

    def broken(*_args, **_kwargs):
        raise bus.PublishFailed("InternalFailure: simulated")

    monkeypatch.setattr(bus, "publish_stripe_event", broken)
    first = deliver_webhook(payload, sign(payload, WEBHOOK_SECRET))
    assert first.status == 503
    assert first.json["error"]["code"] == "unavailable"
    assert records.get_event("demo", "evt_1").published is False

    monkeypatch.setattr(bus, "publish_stripe_event", real_publish)
    assert deliver_webhook(payload, sign(payload, WEBHOOK_SECRET)).status == 200
    assert records.get_event("demo", "evt_1").published is True
    assert len(tap.drain()) == 1
    assert len(table.stripe_event_items()) == 1


def test_a_delivery_a_day_later_is_a_duplicate_no_op(demo):
    tap = BusTap()
    payload = json.dumps(stripe_event())
    deliver_webhook(payload, sign(payload, WEBHOOK_SECRET))
    tap.drain()
    # Stripe signs each attempt anew, so a retry a day later carries a fresh signature.
    record = records.get_event("demo", "evt_1")
    record.update(actions=[records.StripeEventRecord.created_at.set(record.created_at.replace(year=2000))])
    assert deliver_webhook(payload, sign(payload, WEBHOOK_SECRET)).status == 200
    assert tap.drain() == []
    assert len(table.stripe_event_items()) == 1


def test_a_rotated_signing_secret_is_picked_up_before_the_cache_expires(demo, api):
    payload = json.dumps(stripe_event())
    assert deliver_webhook(payload, sign(payload, WEBHOOK_SECRET)).status == 200
    rotated = {
        **DEMO_CONFERENCE,
        "stripe": {"secret_key": "sk_test_demo1234567890", "webhook_secret": "whsec_rotated0000000"},
    }
    # Another container rotates the secret: this one's cache still holds the old value.
    boto3.client("secretsmanager").put_secret_value(
        SecretId="boxoffice/test/conferences/demo/stripe", SecretString=json.dumps(rotated["stripe"])
    )
    second = json.dumps(stripe_event("evt_2"))
    assert deliver_webhook(second, sign(second, "whsec_rotated0000000")).status == 200


def test_bad_signatures_force_at_most_one_secret_read_a_minute(demo, monkeypatch):
    from boxoffice import secrets

    real = secrets.get_stripe_keys
    forced: list[str] = []

    def counting(name: str, *, force_fetch: bool = False):
        if force_fetch:
            forced.append(name)
        return real(name, force_fetch=force_fetch)

    monkeypatch.setattr(secrets, "get_stripe_keys", counting)
    payload = json.dumps(stripe_event())
    for _ in range(5):
        assert deliver_webhook(payload, sign(payload, "whsec_forged0000")).status == 400
    assert len(forced) == 1
