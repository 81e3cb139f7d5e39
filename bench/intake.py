"""``make bench-intake``: 2,000 signed webhook events, 30% duplicates, 8 senders, on the local stack.

Prints events per second, p50/p99 latency and the duplicates sent; fails if any event id was lost
or recorded twice. Then prints the cold import table of `make bench-imports` (against the naive handler).
"""

import json
import random
import statistics
import sys
import threading
import time
from collections import Counter
from typing import Any

import requests

TOTAL = 2_000
DUPLICATE_SHARE = 0.30
SENDERS = 8
WEBHOOK_SECRET = "whsec_bench0000000000000000"
TYPES = ["checkout.session.completed", "checkout.session.expired", "charge.refunded", "customer.created"]


def make_events() -> list[dict[str, Any]]:
    unique = int(TOTAL * (1 - DUPLICATE_SHARE))
    rng = random.Random(42)
    events = [
        {
            "id": f"evt_bench{n:06d}",
            "object": "event",
            "created": int(time.time()),
            "livemode": False,
            "type": rng.choice(TYPES),
            "data": {"object": {"id": f"cs_test_{n}", "object": "checkout.session", "metadata": {}}},
        }
        for n in range(unique)
    ]
    deliveries = events + [rng.choice(events) for _ in range(TOTAL - unique)]
    rng.shuffle(deliveries)
    return deliveries


def main() -> int:
    import shutil
    import tempfile
    from pathlib import Path

    from local.dynamodb_local import free_port
    from local.runner import LocalStack
    from local.stripe_emulator import sign

    data_dir = Path(tempfile.mkdtemp(prefix="boxoffice-bench-"))  # never the user's .local-data
    stack = LocalStack(api_port=free_port(), stripe_port=free_port(), data_dir=data_dir)
    stack.start()
    try:
        tokens = stack.seed_demo()
        conference = {
            "name": "Bench",
            "currency": "usd",
            "is_active": True,
            "stripe": {"secret_key": "sk_test_bench000000000", "webhook_secret": WEBHOOK_SECRET},
        }
        reply = requests.put(
            f"{stack.api_url}/v1/conferences/bench",
            json=conference,
            headers={"Authorization": f"Bearer {tokens['admin']}"},
            timeout=30,
        )
        reply.raise_for_status()
        deliveries = make_events()
        latencies: list[float] = []
        statuses: Counter[int] = Counter()
        lock = threading.Lock()
        cursor = iter(deliveries)

        def sender() -> None:
            session = requests.Session()
            while True:
                with lock:
                    event = next(cursor, None)
                if event is None:
                    return
                payload = json.dumps(event)
                started = time.perf_counter()
                answer = session.post(
                    f"{stack.api_url}/v1/webhooks/stripe/bench",
                    data=payload,
                    headers={
                        "Content-Type": "application/json",
                        "Stripe-Signature": sign(payload, WEBHOOK_SECRET),
                    },
                    timeout=30,
                )
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    statuses[answer.status_code] += 1

        began = time.perf_counter()
        threads = [threading.Thread(target=sender) for _ in range(SENDERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - began

        import boto3

        table = boto3.resource("dynamodb").Table("boxoffice-local")
        recorded: Counter[str] = Counter()
        scan: dict[str, Any] = {
            "FilterExpression": "begins_with(PK, :p)",
            "ExpressionAttributeValues": {":p": "EVT#bench#"},
        }
        while True:
            page = table.scan(**scan)
            recorded.update(item["event_id"] for item in page["Items"])
            if "LastEvaluatedKey" not in page:
                break
            scan["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        unique_ids = {e["id"] for e in deliveries}
        lost = unique_ids - recorded.keys()
        twice = [event_id for event_id, n in recorded.items() if n > 1]
        latencies.sort()
        print(
            f"events sent      {len(deliveries)} ({len(deliveries) - len(unique_ids)} duplicates, {SENDERS} senders)"
        )
        print(f"statuses         {dict(statuses)}")
        print(f"throughput       {len(deliveries) / wall:.1f} events/s over {wall:.1f} s")
        print(
            f"latency          p50 {statistics.median(latencies) * 1000:.1f} ms, p99 {latencies[int(len(latencies) * 0.99)] * 1000:.1f} ms"
        )
        print(
            f"records          {sum(recorded.values())} for {len(unique_ids)} unique ids; lost {len(lost)}, recorded twice {len(twice)}"
        )
        ok = not lost and not twice and set(statuses) == {200}
    finally:
        stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)

    from bench.imports import render, report

    print(render(report()))
    if not ok:
        print("FAILED: an event was lost, recorded twice, or refused", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
