"""``make bench-cost``: what each real flow would bill on AWS, per operation and per 1,000.

The whole local stack runs in this process (``local.runner.LocalStack``: the real handlers in their
own execution environments behind the local API Gateway, DynamoDB Local, moto for EventBridge, SQS
and Secrets Manager, the Stripe emulator), with every environment metered (``bench.usage``). Each
operation is driven as its users drive it, over HTTP, with payments made on the emulator, and is
counted from its first request until the stack is quiet again: every webhook Stripe sends
delivered, every bus event processed. What is counted, and where:

- Lambda invocations and billed duration: the handler's wall time in its environment, rounded up to
  the millisecond, at the function's memory from template.yaml;
- API Gateway requests: what the local gateway answered, Stripe's webhook deliveries included;
- DynamoDB read and write request units: ``ReturnConsumedCapacity: INDEXES`` on every call (index
  writes included), plus an estimate for writes refused by their condition (billed, never reported);
- EventBridge entries put, Secrets Manager calls, SQS messages (dead letters), Stripe API calls.

Each operation runs once unmeasured, to warm its environments as steady traffic keeps them, then
``COST_REPEATS`` times (default 3); the table shows the mean of those runs. Prices are in
``bench/prices.py`` with their date. Not counted: Stripe's fees, CloudWatch Logs and metrics,
X-Ray traces, storage, data transfer, and the free tiers. Exits 1 when a flow does not end as it
should (an order not paid, a refund not recorded, an invocation that failed).
"""

import json
import math
import os
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from bench import prices
from bench.dynamo_counts import Tally

ROOT = Path(__file__).resolve().parent.parent
CONFERENCE = "bench"
SWEEP_CONFERENCE = "sweep"
PAID_CONFERENCE = "sweep-paid"
PAID_ORDERS = 100
"""Orders paid in ``PAID_CONFERENCE`` at the start of the bench: the day's history the second sweep sees."""
BOOKS_OVERLAP = timedelta(minutes=2, seconds=10)
"""The books' overlap (boxoffice.books.sweep.SWEEP_OVERLAP) and a margin: older changes are not new."""
PENDING_ORDERS = 1_000
PENDING_AGE = timedelta(minutes=10)
"""The sweep's pending orders were placed this long ago: past the books' overlap, inside their hold."""
REPEATS = int(os.environ.get("COST_REPEATS", "3"))
ONLY = os.environ.get("COST_ONLY", "")
"""Measure only the operations whose name contains this (``COST_ONLY=refund``); the sweep is ``sweep``."""
TICKET_PRICE = 25_000
QUIET_SECONDS = 1.5
"""The stack is settled once nothing has run, been delivered or been queued for this long."""
URLS = {"success_url": "https://bench.example/thanks", "cancel_url": "https://bench.example/cancel"}
STRIPE_KEYS = {
    CONFERENCE: "sk_test_benchcost000000000",
    SWEEP_CONFERENCE: "sk_test_benchsweep00000000",
    PAID_CONFERENCE: "sk_test_benchpaid000000000",
}
USERS = {
    "admin": ("bench-admin", ["admin"]),
    "staff": ("bench-staff", [f"staff:{CONFERENCE}"]),
    "sponsor": ("bench-sponsor", [f"sponsor:{CONFERENCE}:acme"]),
    "attendee": ("bench-attendee", []),
}


# --- what one operation used --------------------------------------------------------------------------------


@dataclass
class Usage:
    """Everything one measured stretch of the stack used, added up over its invocations."""

    invocations: Counter[str] = field(default_factory=Counter)
    billed_ms: Counter[str] = field(default_factory=Counter)
    """Per function: each invocation's handler time rounded up to 1 ms, summed."""
    gb_seconds: float = 0.0
    api: Counter[str] = field(default_factory=Counter)
    aws: Tally = field(default_factory=Tally)
    stripe: Counter[str] = field(default_factory=Counter)
    dead_letters: int = 0
    errors: list[str] = field(default_factory=list)
    trace: list[str] | None = None
    """Every DynamoDB call of one run, with ``COST_TRACE=1``."""

    def add_invocation(self, function_id: str, memory_mb: int, usage: dict[str, Any]) -> None:
        billed = math.ceil(usage["ms"])
        self.invocations[function_id] += 1
        self.billed_ms[function_id] += billed
        self.gb_seconds += billed / 1000 * memory_mb / 1024
        aws = dict(usage["aws"])
        if aws.get("trace") is not None:
            aws["trace"] = [f"{function_id.removesuffix('Function')}: {line}" for line in aws["trace"]]
        self.aws.merge(aws)
        self.stripe.update(usage["stripe"])
        if usage["status"] != "ok":
            self.errors.append(function_id)

    @property
    def wru(self) -> float:
        return self.aws.wcu + self.aws.failed_units

    @property
    def rru(self) -> float:
        return self.aws.rcu

    def costs(self) -> dict[str, float]:
        """Dollars by what bills them."""
        return {
            "Lambda requests": sum(self.invocations.values()) * prices.LAMBDA_REQUEST,
            "Lambda duration": self.gb_seconds * prices.LAMBDA_GB_SECOND,
            "API Gateway": sum(self.api.values()) * prices.HTTP_API_REQUEST,
            "DynamoDB writes": self.wru * prices.DYNAMODB_WRITE_REQUEST_UNIT,
            "DynamoDB reads": self.rru * prices.DYNAMODB_READ_REQUEST_UNIT,
            "EventBridge": self.aws.event_entries * prices.EVENTBRIDGE_EVENT,
            "Secrets Manager": self.aws.secrets_calls * prices.SECRETS_MANAGER_CALL,
            "SQS": (self.aws.sqs_messages + self.dead_letters) * prices.SQS_MESSAGE,
        }

    def driver(self, runs: int = 1) -> str:
        """The component that costs most, its share, and within it what does (per run)."""
        costs = self.costs()
        top = max(costs, key=lambda k: costs[k])
        share = costs[top] / (sum(costs.values()) or 1)
        detail = ""
        if top.startswith("DynamoDB"):
            writes = top.endswith("writes")
            parts = {op: u for op, u in self.aws.units.items() if (op in WRITES) == writes and u}
            if writes:
                parts |= {"index writes": self.aws.index_units, "refused writes": self.aws.failed_units}
            total = self.wru if writes else self.rru
            detail = f": {number(total / runs)} {'WRU' if writes else 'RRU'}"
            if parts:
                name = max(parts, key=lambda k: parts[k])
                detail += f", {number(parts[name] / runs)} of them {name}"
        elif top == "Lambda duration":
            function = max(self.billed_ms, key=lambda k: self.billed_ms[k])
            detail = f": {function.removesuffix('Function')} {self.billed_ms[function] / runs:,.0f} ms"
        elif top == "Lambda requests":
            detail = f": {number(sum(self.invocations.values()) / runs)}"
        return f"{top} {share:.0%}{detail}"


WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})


class Meter:
    """Adds what each metered invocation reports to the operation being measured."""

    def __init__(self, stack: Any) -> None:
        self.stack = stack
        self._lock = threading.Lock()
        self._current: Usage | None = None
        self.invocations = 0
        self.unmeasured_errors: list[str] = []
        self.memory = {fid: memory_mb(stack.template, fid) for fid in stack.template.functions}
        stack.environments.on_usage = self._on_usage

    def _on_usage(self, function_id: str, usage: dict[str, Any]) -> None:
        with self._lock:
            self.invocations += 1
            if self._current is not None:
                self._current.add_invocation(function_id, self.memory[function_id], usage)
            elif usage["status"] != "ok":
                self.unmeasured_errors.append(function_id)

    @contextmanager
    def measure(self) -> Iterator[Usage]:
        """Count from now until the block ends and the stack is quiet again."""
        self.settle()
        usage = Usage()
        api_before, dead_before = Counter(self.stack.requests), self.stack.dead_letters
        with self._lock:
            self._current = usage
        try:
            yield usage
            self.settle()
        finally:
            with self._lock:
                self._current = None
            usage.api = Counter(self.stack.requests) - api_before
            usage.dead_letters = self.stack.dead_letters - dead_before

    def settle(self, timeout: float = 120) -> None:
        """Wait until no webhook is pending, no invocation runs and no bus event waits, for QUIET_SECONDS."""
        deadline = time.monotonic() + timeout
        seen = None
        calm_since = time.monotonic()
        while time.monotonic() - calm_since < QUIET_SECONDS:
            if time.monotonic() > deadline:
                raise RuntimeError("the stack did not settle")
            time.sleep(0.1)
            idle = self.stack.stripe.wait_for_deliveries(0) and self.stack.environments.busy() == 0
            now_seen = (self.invocations, sum(self.stack.requests.values()))
            if not idle or now_seen != seen or self._queued():
                calm_since, seen = time.monotonic(), now_seen

    def _queued(self) -> bool:
        """Events on the bus not yet handed to a function (the runner's rule queues)."""
        import boto3

        sqs = boto3.client("sqs")
        for rule in self.stack.template.rules:
            url = sqs.get_queue_url(QueueName=f"local-{rule.name}")["QueueUrl"]
            attributes = sqs.get_queue_attributes(
                QueueUrl=url,
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]
            if any(int(v) for v in attributes.values()):
                return True
        return False


def memory_mb(template: Any, function_id: str) -> int:
    """The function's MemorySize, or the template's Globals."""
    props = template.raw["Resources"][function_id].get("Properties", {})
    default = template.raw.get("Globals", {}).get("Function", {}).get("MemorySize", 128)
    return int(props.get("MemorySize", default))


# --- driving the stack --------------------------------------------------------------------------------------


class FlowFailed(Exception):
    """A flow did not end as its users would expect; its numbers would mean nothing."""


class Bench:
    """The running stack, its meter, and a client per role."""

    def __init__(self, stack: Any) -> None:
        from local import tokens

        self.stack = stack
        self.meter = Meter(stack)
        self.http = requests.Session()
        self.tokens = {
            role: tokens.mint(sub, email=f"{sub}@bench.example", groups=groups)
            for role, (sub, groups) in USERS.items()
        }
        self.codes: list[str] = []
        self.webhook_secrets: dict[str, str] = {}

    def call(
        self,
        method: str,
        path: str,
        role: str | None,
        body: Any = None,
        *,
        key: str | None = None,
        expect: int = 200,
    ) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        if key:
            headers["Idempotency-Key"] = key
        reply = self.http.request(method, self.stack.api_url + path, json=body, headers=headers, timeout=120)
        if reply.status_code != expect:
            raise FlowFailed(f"{method} {path}: {reply.status_code} {reply.text[:300]}")
        return reply.json()

    def pay(self, session_id: str) -> None:
        """The customer pays on the hosted page (the emulator then sends Stripe's webhooks)."""
        self.stack.stripe.pay(session_id, "succeed")

    def webhook(self, conference_id: str, payload: str) -> None:
        from local.stripe_emulator import sign

        reply = self.http.post(
            f"{self.stack.api_url}/v1/webhooks/stripe/{conference_id}",
            data=payload,
            headers={
                "Content-Type": "application/json",
                "Stripe-Signature": sign(payload, self.webhook_secrets[conference_id]),
            },
            timeout=60,
        )
        if reply.status_code != 200:
            raise FlowFailed(f"webhook: {reply.status_code} {reply.text[:300]}")


def until(check: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    """``check()``'s first truthy value, polled; FlowFailed after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise FlowFailed(f"timed out waiting for {what}")


def order_record(conference_id: str, order_id: str) -> Any:
    from boxoffice.store import orders

    return orders.get(conference_id, order_id)


def set_up_conference(bench: Bench, conference_id: str) -> None:
    """A conference with its own Stripe account on the emulator and a webhook endpoint that sends
    exactly the event types the app handles (as the README tells operators to select)."""
    import stripe

    from boxoffice.stripe_events import HANDLED_TYPES

    stripe.enable_telemetry = False
    client = stripe.StripeClient(STRIPE_KEYS[conference_id], base_addresses={"api": bench.stack.stripe.url})
    endpoint = client.v1.webhook_endpoints.create(
        params={
            "url": f"{bench.stack.api_url}/v1/webhooks/stripe/{conference_id}",
            "enabled_events": sorted(HANDLED_TYPES),
        }
    )
    bench.webhook_secrets[conference_id] = str(endpoint.secret)
    base = f"/v1/conferences/{conference_id}"
    conference = {
        "name": f"Cost bench {conference_id}",
        "currency": "usd",
        "is_active": True,
        "max_bulk_quantity": 1000,
        "stripe": {"secret_key": STRIPE_KEYS[conference_id], "webhook_secret": endpoint.secret},
    }
    bench.call("PUT", base, "admin", conference, expect=201)
    bench.call(
        "PUT",
        f"{base}/ticket-types/general",
        "admin",
        {"name": "General", "price": TICKET_PRICE, "bulk_enabled": True},
        expect=201,
    )
    bench.call(
        "PUT",
        f"{base}/sponsors/acme",
        "admin",
        {"name": "ACME", "slug": "acme", "contact_email": "ops@acme.example"},
        expect=201,
    )


# --- the operations -----------------------------------------------------------------------------------------

BASE = f"/v1/conferences/{CONFERENCE}"


def sponsor_codes(bench: Bench, n: int) -> list[str]:
    """``n`` single-use 20% codes from a comp deal staff approve and fulfil (setup, not measured)."""
    deal = {
        "sponsor_id": "acme",
        "quantity": n,
        "ticket_type_id": "general",
        "unit_price": 0,
        "voucher_config": {"voucher_type": "percentage", "discount_value": 20, "max_uses": 1},
    }
    created = bench.call("POST", f"{BASE}/bulk-purchases", "staff", deal, expect=201)
    bench.call("POST", f"{BASE}/bulk-purchases/{created['id']}/approve", "staff")
    bench.call("POST", f"{BASE}/bulk-purchases/{created['id']}/fulfill", "staff")
    listed = bench.call("GET", f"{BASE}/bulk-purchases/{created['id']}/vouchers?limit=200", "staff")
    return [v["code"] for v in listed["items"]]


def place_and_pay(bench: Bench, code: str | None, conference_id: str = CONFERENCE) -> dict[str, Any]:
    """An attendee orders one ticket (with a code), checks out and pays; returns the order when paid."""
    base = f"/v1/conferences/{conference_id}"
    body: dict[str, Any] = {"lines": [{"ticket_type_id": "general", "quantity": 1}]}
    if code:
        body["voucher_code"] = code
    order = bench.call("POST", f"{base}/orders", "attendee", body, expect=201)
    session = bench.call("POST", f"{base}/orders/{order['id']}/checkout", "attendee", URLS)
    bench.pay(session["session_id"])
    until(lambda: order_record(conference_id, order["id"]).status == "paid", f"order {order['id']} paid")
    return order


def order_with_code(bench: Bench, _: None) -> None:
    place_and_pay(bench, bench.codes.pop())


def bulk_by_card(bench: Bench, _: None) -> None:
    from boxoffice.store import bulk_purchases

    created = bench.call(
        "POST",
        f"{BASE}/bulk-purchases",
        "sponsor",
        {"ticket_type_id": "general", "quantity": 100},
        expect=201,
    )
    session = bench.call("POST", f"{BASE}/bulk-purchases/{created['id']}/checkout", "sponsor", URLS)
    bench.pay(session["session_id"])

    def issued() -> bool:
        purchase = bulk_purchases.get(CONFERENCE, created["id"])
        return purchase is not None and purchase.status == "paid" and int(purchase.vouchers_generated) == 100

    until(issued, "100 codes issued")


def comp_deal(bench: Bench, _: None) -> None:
    deal = {
        "sponsor_id": "acme",
        "quantity": 500,
        "ticket_type_id": "general",
        "unit_price": 0,
        "voucher_config": {"voucher_type": "comp", "max_uses": 1},
    }
    created = bench.call("POST", f"{BASE}/bulk-purchases", "staff", deal, expect=201)
    bench.call("POST", f"{BASE}/bulk-purchases/{created['id']}/approve", "staff")
    done = bench.call("POST", f"{BASE}/bulk-purchases/{created['id']}/fulfill", "staff")
    if done["vouchers_created"] != 500:
        raise FlowFailed(f"the comp deal issued {done['vouchers_created']} codes")


def paid_order(bench: Bench) -> dict[str, Any]:
    return place_and_pay(bench, None)


def card_refund(bench: Bench, order: dict[str, Any]) -> None:
    refund = {"amount": TICKET_PRICE, "reason": "requested_by_customer", "destination": "card"}
    made = bench.call(
        "POST", f"{BASE}/orders/{order['id']}/refunds", "staff", refund, key=f"card-{order['id']}", expect=201
    )
    if made["status"] != "succeeded":
        raise FlowFailed(f"the card refund is {made['status']}")
    until(lambda: order_record(CONFERENCE, order["id"]).status == "refunded", "order refunded")


def credit_refund_and_use(bench: Bench, order: dict[str, Any]) -> None:
    refund = {"amount": TICKET_PRICE, "reason": "requested_by_customer", "destination": "store_credit"}
    made = bench.call(
        "POST",
        f"{BASE}/orders/{order['id']}/refunds",
        "staff",
        refund,
        key=f"credit-{order['id']}",
        expect=201,
    )
    credit = made["credit"]["id"]
    second = bench.call(
        "POST",
        f"{BASE}/orders",
        "attendee",
        {"lines": [{"ticket_type_id": "general", "quantity": 1}]},
        expect=201,
    )
    bench.call(
        "POST",
        f"{BASE}/credits/{credit}/apply",
        "attendee",
        {"order_id": second["id"]},
        key=f"apply-{second['id']}",
        expect=201,
    )
    until(lambda: order_record(CONFERENCE, second["id"]).status == "paid", "the credit-paid order")


def stripe_event(n: int) -> str:
    """A ``checkout.session.expired`` for a session none of ours: recorded, published, processed, no-op."""
    from local.stripe_emulator.objects import event

    session = {
        "id": f"cs_test_bench{n}",
        "object": "checkout.session",
        "status": "expired",
        "payment_status": "unpaid",
        "metadata": {},
    }
    envelope = event(
        event_id=f"evt_bench{time.time_ns()}{n}",
        created=int(time.time()),
        type_="checkout.session.expired",
        data_object=session,
        previous_attributes=None,
        pending_webhooks=1,
        request_id=None,
        idempotency_key=None,
    )
    return json.dumps(envelope)


def event_finished(payload: str) -> bool:
    from boxoffice.store import stripe_events

    record = stripe_events.get_event(CONFERENCE, json.loads(payload)["id"])
    return record is not None and record.status in stripe_events.FINISHED


_events = iter(range(1_000_000))


def new_event(bench: Bench) -> str:
    return stripe_event(next(_events))


def webhook_new(bench: Bench, payload: str) -> None:
    bench.webhook(CONFERENCE, payload)
    until(lambda: event_finished(payload), "the event processed")


def delivered_event(bench: Bench) -> str:
    payload = new_event(bench)
    webhook_new(bench, payload)
    return payload


def webhook_duplicate(bench: Bench, payload: str) -> None:
    bench.webhook(CONFERENCE, payload)


@contextmanager
def backdated(by: timedelta) -> Iterator[None]:
    """``store.now`` in this process runs ``by`` behind, wherever the store bound it."""
    import importlib

    names = [
        "boxoffice.store",
        "boxoffice.store.base",
        "boxoffice.store.capacity",
        "boxoffice.store.vouchers",
        "boxoffice.store.conferences",
        "boxoffice.store.orders",
        "boxoffice.store.stripe_events",
    ]
    modules = [importlib.import_module(name) for name in names]
    originals = [module.now for module in modules]
    for module in modules:
        module.now = lambda: datetime.now(UTC) - by
    try:
        yield
    finally:
        for module, original in zip(modules, originals, strict=True):
            module.now = original


def pending_orders(n: int) -> None:
    """``n`` pending one-ticket orders in the sweep's conference, placed ``PENDING_AGE`` ago.

    Placed through the order service in this process (setup, not measured): their holds run for
    an hour, so the sweep has nothing to cancel, and they are older than the books' overlap, so a
    sweep that has already seen them has nothing to audit either.
    """
    from concurrent.futures import ThreadPoolExecutor

    from boxoffice import orders

    request = orders.OrderRequest.model_validate({"lines": [{"ticket_type_id": "general", "quantity": 1}]})
    with backdated(PENDING_AGE), ThreadPoolExecutor(max_workers=4) as pool:
        placed = list(
            pool.map(lambda i: orders.create(SWEEP_CONFERENCE, f"sweeper-{i % 50}", request), range(n))
        )
    if sum(1 for o in placed if o.status == "pending") != n:
        raise FlowFailed("the sweep's orders are not all pending")


def paid_history(bench: Bench) -> float:
    """``PAID_ORDERS`` orders paid in ``PAID_CONFERENCE`` (setup, 4 buyers at once); returns when the last was."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda _: place_and_pay(bench, None, PAID_CONFERENCE), range(PAID_ORDERS)))
    bench.meter.settle()
    return time.monotonic()


def only_active(bench: Bench, active: str) -> None:
    """The sweep visits every active conference and those deactivated within the settling window:
    all but ``active`` are switched off as if long ago, so the sweep measured is ``active``'s alone."""
    from boxoffice.store.conferences import (
        SETTLING_WINDOW,
        WINDING_DOWN_CONFERENCES,
        Conference,
        get_conference,
    )

    long_ago = datetime.now(UTC) - SETTLING_WINDOW - timedelta(days=1)
    for conference_id in (CONFERENCE, SWEEP_CONFERENCE, PAID_CONFERENCE):
        body = {
            "name": f"Cost bench {conference_id}",
            "currency": "usd",
            "is_active": conference_id == active,
        }
        bench.call("PUT", f"/v1/conferences/{conference_id}", "admin", body)
        conference = get_conference(conference_id)
        if conference is not None and conference.GSI1PK == WINDING_DOWN_CONFERENCES:
            conference.update(
                actions=[
                    Conference.deactivated_at.set(long_ago),
                    Conference.GSI1SK.set(f"{long_ago.isoformat()}#{conference_id}"),
                ],
                add_version_condition=False,
            )


def sweep(bench: Bench, _: None) -> dict[str, Any]:
    event = {
        "version": "0",
        "id": f"bench-sweep-{time.time_ns()}",
        "detail-type": "Scheduled Event",
        "source": "aws.scheduler",
        "account": "123456789012",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "us-east-1",
        "resources": [],
        "detail": {},
    }
    report = bench.stack.invoke("ExpiryFunction", event)
    busy = ("failures", "orders_cancelled", "books_breaks", "events_admitted", "purchases_settled")
    if any(report.get(name) for name in busy):
        raise FlowFailed(f"the sweep found something to do: {report}")
    return report


def nothing(bench: Bench) -> None:
    return None


@dataclass(frozen=True)
class Operation:
    """A flow: ``prepare`` sets up what one run needs (not measured), ``run`` is what is measured."""

    name: str
    prepare: Callable[[Bench], Any]
    run: Callable[[Bench, Any], Any]
    orders: int = 0
    """Orders one run makes, for the per-1,000-orders figure."""
    codes: int = 0
    """Sponsor codes one run issues, for the per-1,000-codes figures."""


OPERATIONS = [
    Operation("order with a code (create, checkout, pay, fulfil)", nothing, order_with_code, orders=1),
    Operation("bulk purchase of 100 codes, paid by card", nothing, bulk_by_card, codes=100),
    Operation("comp deal of 500 codes (create, approve, fulfil)", nothing, comp_deal, codes=500),
    Operation("card refund of an order (and Stripe's events)", paid_order, card_refund),
    Operation("store-credit refund, used on a new order", paid_order, credit_refund_and_use, orders=1),
    Operation("webhook event, new (recorded, published, processed)", new_event, webhook_new),
    Operation("webhook event, duplicate", delivered_event, webhook_duplicate),
]
SWEEP = Operation(f"sweep: {PENDING_ORDERS:,} pending orders, nothing to do", nothing, sweep)
SWEEP_AUDIT = Operation(
    f"sweep: the run after {PAID_ORDERS} paid orders, auditing each (one run)", nothing, sweep
)
SWEEP_PAID = Operation(f"sweep: {PAID_ORDERS} orders paid earlier today, nothing new", nothing, sweep)


def run_operation(bench: Bench, operation: Operation, repeats: int, *, warm_up: bool = True) -> Usage:
    """One warm-up run (unless told not to), then ``repeats`` measured runs added up into one Usage."""
    total = Usage()
    for attempt in range(repeats + 1):
        if attempt == 0 and not warm_up:
            continue
        state = operation.prepare(bench)
        bench.meter.settle()
        if attempt == 0:
            operation.run(bench, state)
            continue
        with bench.meter.measure() as usage:
            operation.run(bench, state)
        if usage.errors or usage.dead_letters:
            raise FlowFailed(f"{operation.name}: invocations failed in {usage.errors}")
        add(total, usage)
    return total


def add(total: Usage, usage: Usage) -> None:
    total.invocations.update(usage.invocations)
    total.billed_ms.update(usage.billed_ms)
    total.gb_seconds += usage.gb_seconds
    total.api.update(usage.api)
    if total.trace is None:
        total.trace = usage.aws.trace
    total.aws.merge({**usage.aws.as_dict(), "trace": None})
    total.stripe.update(usage.stripe)
    total.dead_letters += usage.dead_letters


# --- the report ---------------------------------------------------------------------------------------------


def row(name: str, usage: Usage, runs: int) -> dict[str, Any]:
    costs = usage.costs()
    return {
        "operation": name,
        "invocations": sum(usage.invocations.values()) / runs,
        "billed_ms": sum(usage.billed_ms.values()) / runs,
        "api": sum(usage.api.values()) / runs,
        "rru": usage.rru / runs,
        "wru": usage.wru / runs,
        "events": usage.aws.event_entries / runs,
        "secrets": usage.aws.secrets_calls / runs,
        "sqs": (usage.aws.sqs_messages + usage.dead_letters) / runs,
        "stripe": sum(usage.stripe.values()) / runs,
        "dollars": sum(costs.values()) / runs,
        "driver": usage.driver(runs),
        "detail": {
            "functions": {f: (n / runs, usage.billed_ms[f] / runs) for f, n in usage.invocations.items()},
            "dynamodb": {op: (n / runs, usage.aws.units[op] / runs) for op, n in usage.aws.calls.items()},
            "index_wru": usage.aws.index_units / runs,
            "refused_wru": usage.aws.failed_units / runs,
            "stripe": {route: n / runs for route, n in usage.stripe.items()},
            "api": {route: n / runs for route, n in usage.api.items()},
            "trace": usage.trace,
        },
    }


def number(value: float) -> str:
    return f"{value:,.1f}".removesuffix(".0")


def table(rows: list[dict[str, Any]]) -> str:
    columns = [
        ("operation", "operation", 52),
        ("invocations", "Lambda", 6),
        ("billed_ms", "ms", 6),
        ("api", "API", 4),
        ("rru", "RRU", 6),
        ("wru", "WRU", 6),
        ("events", "events", 6),
        ("secrets", "secrets", 7),
        ("sqs", "SQS", 3),
        ("stripe", "Stripe", 6),
        ("dollars", "$ per op", 10),
        ("per_1000", "$ per 1,000", 11),
    ]
    lines = [
        "| " + " | ".join(title for _, title, _ in columns) + " | top driver |",
        "|" + "|".join("---" if key == "operation" else "---:" for key, _, _ in columns) + "|---|",
    ]
    for r in rows:
        cells = []
        for key, _, _ in columns:
            if key == "operation":
                cells.append(r[key])
            elif key == "dollars":
                cells.append(f"{r['dollars']:.7f}")
            elif key == "per_1000":
                cells.append(f"{r['dollars'] * 1000:.4f}")
            else:
                cells.append(number(r[key]))
        lines.append("| " + " | ".join(cells) + f" | {r['driver']} |")
    return "\n".join(lines)


def report(rows: dict[str, dict[str, Any]]) -> str:
    sweeps_a_month = 30 * 24 * 60 // 5
    lines = [
        f"AWS cost of each operation, measured on the local stack, priced at {prices.REGION} on-demand list "
        f"prices of {prices.AS_OF} (bench/prices.py), without Stripe's fees; mean of {REPEATS} runs after a "
        "warm-up. Lambda = invocations, ms = billed duration (512 MB), RRU/WRU = DynamoDB request units "
        "(index writes and refused writes included), events = EventBridge entries, secrets = Secrets "
        "Manager calls, Stripe = Stripe API calls.",
        "",
        table(list(rows.values())),
        "",
    ]
    order, bulk, comp = OPERATIONS[0], OPERATIONS[1], OPERATIONS[2]
    totals = [
        (order, 1000 / order.orders, "per 1,000 orders with a code"),
        (
            bulk,
            1000 / bulk.codes,
            f"per 1,000 sponsor codes bought by card ({1000 // bulk.codes} purchases of {bulk.codes})",
        ),
        (
            comp,
            1000 / comp.codes,
            f"per 1,000 sponsor codes in comp deals ({1000 // comp.codes} deals of {comp.codes})",
        ),
        (SWEEP, sweeps_a_month, f"a month of sweeps (every 5 minutes, {sweeps_a_month:,} runs) of the first"),
        (SWEEP_PAID, sweeps_a_month, "a month of sweeps of the second (a quiet conference after a burst)"),
    ]
    for operation, times, what in totals:
        if operation.name in rows:
            lines.append(f"- {what}: ${rows[operation.name]['dollars'] * times:.4f}")
    if SWEEP_AUDIT.name in rows and SWEEP_PAID.name in rows:
        audit = max(0.0, rows[SWEEP_AUDIT.name]["dollars"] - rows[SWEEP_PAID.name]["dollars"]) / PAID_ORDERS
        lines.append(f"- the sweep's audit of each new paid order, per 1,000 orders: ${audit * 1000:.4f}")
    return "\n".join(lines)


def details(rows: dict[str, dict[str, Any]]) -> str:
    lines = ["", "where each operation's calls go (per run):"]
    for name, r in rows.items():
        d = r["detail"]
        lines.append(f"  {name}")
        lines.append(
            "    functions: "
            + ", ".join(
                f"{f.removesuffix('Function')} {number(n)} x {number(ms)} ms"
                for f, (n, ms) in d["functions"].items()
            )
        )
        lines.append("    API: " + ", ".join(f"{route} {number(n)}" for route, n in d["api"].items()))
        dynamo = ", ".join(f"{op} {number(n)} ({u:g} RU)" for op, (n, u) in d["dynamodb"].items())
        extra = []
        if d["index_wru"]:
            extra.append(f"index writes {d['index_wru']:g} WRU")
        if d["refused_wru"]:
            extra.append(f"refused writes ≈{d['refused_wru']:g} WRU")
        lines.append(f"    DynamoDB: {dynamo}" + (f" [{'; '.join(extra)}]" if extra else ""))
        if d["stripe"]:
            lines.append(
                "    Stripe: " + ", ".join(f"{route} {number(n)}" for route, n in d["stripe"].items())
            )
        lines += [f"      {line}" for line in d["trace"] or []]
    return "\n".join(lines)


# --- main ---------------------------------------------------------------------------------------------------


def main() -> int:
    os.environ["BOXOFFICE_METER"] = "bench.usage"
    os.environ["BOXOFFICE_SCHEDULE_SECONDS"] = "86400"  # the bench runs each sweep itself
    os.environ["BOXOFFICE_IDLE_SECONDS"] = "86400"  # warm environments stay warm, as under steady traffic
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    from local.dynamodb_local import free_port
    from local.runner import LocalStack

    # The stack's own output (the runner's lines, the functions' logs) goes to a file, shown on failure.
    log_fd, log_path = tempfile.mkstemp(prefix="boxoffice-bench-cost-", suffix=".log")
    out, err = os.fdopen(os.dup(1), "w", buffering=1), os.fdopen(os.dup(2), "w", buffering=1)
    sys.stdout.flush()
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    data_dir = Path(tempfile.mkdtemp(prefix="boxoffice-bench-cost-"))
    stack = LocalStack(api_port=free_port(), stripe_port=free_port(), data_dir=data_dir)
    started = time.monotonic()
    rows: dict[str, dict[str, Any]] = {}
    try:
        stack.start()
        stack.ready.set()  # no demo: the bench sets up its own conferences
        bench = Bench(stack)
        set_up_conference(bench, CONFERENCE)
        bench.codes = sponsor_codes(bench, REPEATS + 1)
        sweeps = [o for o in (SWEEP, SWEEP_PAID) if ONLY in o.name]
        history_done = time.monotonic()
        if SWEEP_PAID in sweeps:
            print(f"placing {PAID_ORDERS} paid orders for the second sweep", file=err)
            set_up_conference(bench, PAID_CONFERENCE)
            history_done = paid_history(bench)
        for operation in [o for o in OPERATIONS if ONLY in o.name]:
            print(f"measuring: {operation.name}", file=err)
            rows[operation.name] = row(operation.name, run_operation(bench, operation, REPEATS), REPEATS)
        if SWEEP in sweeps:
            print(f"measuring: {SWEEP.name} (placing the orders first)", file=err)
            set_up_conference(bench, SWEEP_CONFERENCE)
            pending_orders(PENDING_ORDERS)
            only_active(bench, SWEEP_CONFERENCE)
            rows[SWEEP.name] = row(SWEEP.name, run_operation(bench, SWEEP, REPEATS), REPEATS)
        if SWEEP_PAID in sweeps:
            print(f"measuring: {SWEEP_PAID.name}", file=err)
            only_active(bench, PAID_CONFERENCE)
            # The quiet sweeps look back the books' overlap before the audit's start: the orders must be
            # older than that (hours old, in the day this stands for).
            time.sleep(max(0.0, history_done + BOOKS_OVERLAP.total_seconds() - time.monotonic()))
            audit = run_operation(bench, SWEEP_AUDIT, 1, warm_up=False)
            rows[SWEEP_AUDIT.name] = row(SWEEP_AUDIT.name, audit, 1)
            quiet = run_operation(bench, SWEEP_PAID, REPEATS, warm_up=False)
            rows[SWEEP_PAID.name] = row(SWEEP_PAID.name, quiet, REPEATS)
        if bench.meter.unmeasured_errors:
            raise FlowFailed(f"invocations failed outside the measured runs: {bench.meter.unmeasured_errors}")
    except Exception as exc:
        stack.stop()
        tail = Path(log_path).read_text(errors="replace").splitlines()[-40:]
        print("\n".join(tail), file=err)
        print(f"FAILED: {type(exc).__name__}: {exc} (the stack's log: {log_path})", file=err)
        return 1
    else:
        stack.stop()
        os.unlink(log_path)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    print(report(rows), file=out)
    print(details(rows), file=out)
    print(f"\n(measured in {time.monotonic() - started:.0f} s on {os.cpu_count()} cores)", file=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
