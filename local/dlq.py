"""Dead-letter queues: parking failed async invocations as Lambda does, and replaying them.

Lambda's on-failure destination writes an invocation record (``requestContext``,
``requestPayload``, ``responseContext``, ``responsePayload``) to the function's SQS DLQ once its
retries run out. The local runner parks failures in the same shape, so one replay command serves
both: it puts each parked EventBridge event back on the app bus, where the template's rules route
it to its function again, and deletes the message only once the bus took it.

    python -m local.dlq replay --queue-url https://sqs.../boxoffice-prod-FulfillmentDLQ --bus boxoffice-bus
    python -m local.dlq replay --local http://127.0.0.1:3000      # the running `make run`
"""

import argparse
import json
import sys
import uuid
from datetime import UTC, datetime
from typing import Any


def invocation_record(
    function_name: str, event: dict[str, Any], error: BaseException, attempts: int
) -> dict[str, Any]:
    """What Lambda's on-failure destination sends for an invocation whose retries ran out."""
    return {
        "version": "1.0",
        "timestamp": datetime.now(UTC).isoformat(),
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": attempts,
        },
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": str(error)[:1000], "errorType": type(error).__name__},
    }


def replay(
    sqs: Any, events: Any, queue_url: str, bus_name: str, *, max_messages: int = 1000
) -> tuple[int, int]:
    """Put every parked EventBridge event back on ``bus_name``. Returns (replayed, skipped).

    Messages that are not EventBridge events (a scheduled run, say) are left in the queue.
    """
    replayed = skipped = 0
    seen: set[str] = set()
    while replayed + skipped < max_messages:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=30).get(
            "Messages", []
        )
        fresh = [m for m in batch if m["MessageId"] not in seen]
        if not fresh:
            break
        for message in fresh:
            seen.add(message["MessageId"])
            payload = json.loads(message["Body"]).get("requestPayload") or {}
            if (
                not {"source", "detail-type", "detail"} <= payload.keys()
                or payload["source"] == "aws.scheduler"
            ):
                skipped += 1
                continue
            result = events.put_events(
                Entries=[
                    {
                        "Source": payload["source"],
                        "DetailType": payload["detail-type"],
                        "Detail": json.dumps(payload["detail"]),
                        "EventBusName": bus_name,
                    }
                ]
            )
            if result.get("FailedEntryCount"):
                skipped += 1
                continue
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            replayed += 1
    return replayed, skipped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local.dlq", description="Replay parked events from a DLQ."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("replay", help="put parked events back on the bus")
    target = cmd.add_mutually_exclusive_group(required=True)
    target.add_argument("--queue-url", help="an SQS DLQ in AWS (uses your AWS credentials)")
    target.add_argument("--local", metavar="API_URL", help="the local runner, e.g. http://127.0.0.1:3000")
    cmd.add_argument("--bus", help="the app bus name (the stack's EventBusName output); with --queue-url")
    args = parser.parse_args(argv)
    if args.local:
        import requests

        reply = requests.post(f"{args.local.rstrip('/')}/_local/dlq/replay", timeout=60)
        print(reply.text)
        return 0 if reply.ok else 1
    if not args.bus:
        parser.error("--bus is required with --queue-url")
    import boto3

    replayed, skipped = replay(boto3.client("sqs"), boto3.client("events"), args.queue_url, args.bus)
    print(json.dumps({"replayed": replayed, "skipped": skipped}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
