"""Parked invocations have Lambda's on-failure shape, and replay puts their events back on the bus."""

import json
import os

import boto3

from local.dlq import invocation_record, replay
from tests.support.bus import BusTap


def test_replay_puts_parked_bus_events_back_and_leaves_the_rest():
    sqs, events = boto3.client("sqs"), boto3.client("events")
    queue_url = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    bus_event = {
        "version": "0",
        "id": "1",
        "detail-type": "checkout.session.completed",
        "source": "boxoffice.stripe",
        "account": "123456789012",
        "time": "2026-11-23T10:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {"conference_id": "demo", "event_id": "evt_1"},
    }
    scheduled = {**bus_event, "source": "aws.scheduler", "detail-type": "Scheduled Event", "detail": {}}
    for event in (bus_event, scheduled):
        record = invocation_record("FulfillmentFunction", event, RuntimeError("boom"), 3)
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(record))
    tap = BusTap(("boxoffice.stripe",))

    replayed, skipped = replay(sqs, events, queue_url, os.environ["EVENT_BUS_NAME"])

    assert (replayed, skipped) == (1, 1)
    (delivered,) = tap.drain()
    assert delivered["detail"] == bus_event["detail"]
    assert delivered["detail-type"] == "checkout.session.completed"


def test_invocation_records_have_lambdas_destination_shape():
    record = invocation_record("RefundsFunction", {"source": "x"}, ValueError("bad"), 3)
    assert set(record) == {
        "version",
        "timestamp",
        "requestContext",
        "requestPayload",
        "responseContext",
        "responsePayload",
    }
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["responsePayload"] == {"errorMessage": "bad", "errorType": "ValueError"}


def test_the_runner_retries_like_lambda_then_parks_and_replays():
    from local import runner

    boto3.client("sqs").create_queue(QueueName=runner.DLQ_NAME)
    boto3.client("events").create_event_bus(Name=runner.LOCAL_NAMES["bus"])
    stack = runner.LocalStack(api_port=0, stripe_port=0)
    calls: list[str] = []

    def failing(function_id: str, event: dict) -> None:
        calls.append(function_id)
        raise RuntimeError("still broken")

    stack.invoke = failing
    event = {"source": "boxoffice.stripe", "detail-type": "refund.failed", "detail": {"event_id": "evt_9"}}
    assert stack.invoke_async("RefundsFunction", event) is False
    assert calls == ["RefundsFunction"] * 3
    assert stack.replay_dlq() == {"replayed": 1, "skipped": 0}
    assert stack.replay_dlq() == {"replayed": 0, "skipped": 0}
