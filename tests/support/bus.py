"""Watching what reaches the app's EventBridge bus, through a rule and an SQS queue on moto."""

import json
import os
import uuid
from typing import Any

import boto3


def aws_shape(envelope: dict[str, Any]) -> dict[str, Any]:
    """moto's SQS target drops ``account``, which EventBridge always sends; put it back."""
    envelope.setdefault("account", "123456789012")
    return envelope


class BusTap:
    """Every event on the bus whose source is in ``sources``, as EventBridge would deliver it."""

    def __init__(self, sources: tuple[str, ...] = ("boxoffice.stripe", "boxoffice")) -> None:
        self.sqs, events = boto3.client("sqs"), boto3.client("events")
        name = f"tap-{uuid.uuid4().hex[:8]}"
        self.queue_url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        bus = os.environ["EVENT_BUS_NAME"]
        events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps({"source": list(sources)}))
        events.put_targets(Rule=name, EventBusName=bus, Targets=[{"Id": "tap", "Arn": arn}])

    def drain(self) -> list[dict[str, Any]]:
        """The envelopes delivered so far (and not drained before)."""
        seen: list[dict[str, Any]] = []
        while True:
            batch = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not batch:
                return seen
            for message in batch:
                seen.append(aws_shape(json.loads(message["Body"])))
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])


def domain_events(tap: BusTap, detail_type: str) -> list[dict[str, Any]]:
    """The details of the app's events of ``detail_type`` that reached ``tap`` (draining it)."""
    return [e["detail"] for e in tap.drain() if e["detail-type"] == detail_type]
