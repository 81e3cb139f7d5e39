"""The world the exploration drives: the real handlers, DynamoDB Local, moto, the Stripe emulator.

- The table is on DynamoDB Local (AWS's own engine); EventBridge, Secrets Manager and SQS stay on
  moto's server, each pointed at by ``AWS_ENDPOINT_URL_*`` (set in this folder's conftest).
- Stripe is the in-process emulator, reached by the app through the official SDK. Its webhooks go
  to a loopback receiver that hands each delivery to the test's thread, which runs the webhook
  function's real handler and answers the emulator with the handler's status. So everything the
  app does runs on one thread, in an order the emulator decides, and a run can be replayed.
- What the webhook publishes reaches a tap on the bus (a rule and an SQS queue on moto); ``settle``
  runs the fulfillment or refunds function's real handler on each envelope, the way the
  template's rules route them, with Lambda's two async retries.
- Both clocks move together: the emulator's (``advance_clock``) and the app's (``store.now``).
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import requests

from local.apigw import http_api_event
from local.lambda_runtime import LambdaContext
from tests.support.bus import BusTap
from tests.support.functions import load_function
from tests.support.http import ADMIN, STAFF, Reply, call

CID = "demo"
SECRET_KEY = "sk_test_explore000000"
PROCESSOR_ATTEMPTS = 3
"""Lambda runs an async invocation once and retries it twice before the dead-letter queue."""
FULFILLMENT_PREFIXES = ("checkout.session.", "payment_intent.")
CONFERENCE: dict[str, Any] = {
    "name": "Explore Conf",
    "currency": "usd",
    "is_active": True,
    "order_hold_minutes": 30,
    "checkout_expiry_minutes": 30,
}
"""The conference as staff set it up (its Stripe keys are added once the webhook endpoint exists)."""
CATALOG: dict[str, tuple[str, dict[str, Any]]] = {
    "general": ("ticket-types/general", {"name": "General", "price": 25000, "bulk_enabled": True}),
    "workshop": ("addons/workshop", {"name": "Workshop", "price": 5000, "bulk_enabled": True}),
}
"""The catalog's items by id: their path under the conference and the body that creates them."""


# --- the webhook receiver ----------------------------------------------------------------------


@dataclass
class Delivery:
    """One POST from the emulator, waiting for the test's thread to answer it."""

    body: str
    signature: str | None
    answered: threading.Event = field(default_factory=threading.Event)
    status: int = 500


class Receiver:
    """A loopback endpoint for the emulator's webhooks: deliveries wait in ``inbox`` until answered.

    Deliveries of an event in ``dropping`` get a 503 without reaching the app (the network lost
    them; the emulator retries, then gives up, and only reconciliation can recover them).
    """

    def __init__(self) -> None:
        self.inbox: queue.Queue[Delivery] = queue.Queue()
        self.dropping: set[str] = set()
        self.drop_next = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                status = receiver._receive(body, self.headers.get("Stripe-Signature"))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def _receive(self, body: str, signature: str | None) -> int:
        try:
            event_id = str(json.loads(body).get("id"))
        except ValueError:
            event_id = ""
        with self._lock:
            if self.drop_next > 0 and event_id not in self.dropping:
                self.drop_next -= 1
                self.dropping.add(event_id)
            if event_id in self.dropping:
                return 503
        delivery = Delivery(body, signature)
        self.inbox.put(delivery)
        if not delivery.answered.wait(60):
            return 504
        return delivery.status

    def reset(self) -> None:
        with self._lock:
            self.dropping.clear()
            self.drop_next = 0

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# --- the app's clock -----------------------------------------------------------------------------


class AppClock:
    """``store.now`` everywhere it is bound, moved by ``offset`` (the emulator's clock moves with it).

    Every store module that binds ``now`` is found, not listed: a module missed keeps the real time,
    and two clocks in one flow disagree (a fulfilment lease taken on one and checked on the other
    ran out at once)."""

    def __init__(self) -> None:
        import importlib
        import pkgutil

        from boxoffice import store
        from boxoffice.store import base

        self.offset = timedelta(0)
        names = [
            "boxoffice.store",
            *(f"boxoffice.store.{m.name}" for m in pkgutil.iter_modules(store.__path__)),
        ]
        self._modules = [importlib.import_module(name) for name in names]
        for module in self._modules:
            bound = getattr(module, "now", None)  # the store's own, or an earlier AppClock's
            if (
                module is base
                or getattr(bound, "__module__", None) == base.__name__
                or isinstance(getattr(bound, "__self__", None), AppClock)
            ):
                module.now = self.now  # type: ignore[attr-defined]

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


# --- the world -----------------------------------------------------------------------------------


@dataclass
class Stats:
    """What the runs reached, so an exploration that never pays or refunds shows it."""

    examples: int = 0
    steps: int = 0
    rules: dict[str, int] = field(default_factory=dict)
    pairs: dict[tuple[str, str], int] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)

    def rule(self, name: str, previous: str | None) -> None:
        self.steps += 1
        self.rules[name] = self.rules.get(name, 0) + 1
        if previous is not None:
            self.pairs[(previous, name)] = self.pairs.get((previous, name), 0) + 1

    def outcome(self, name: str) -> None:
        self.outcomes[name] = self.outcomes.get(name, 0) + 1

    MONEY = (
        ("card refunds", ("order_refund_card:201",)),
        ("credit refunds", ("order_refund_store_credit:201",)),
        ("stray money refunded", ("stray_refund:201",)),
        ("credit applied", ("credit_apply:201",)),
        ("crash recovered", ("crash_recovered:retry:refunded", "crash_recovered:sweep:refunded")),
        ("crash fired", ("crash_fired:True",)),
        ("dashboard refunds", ("dashboard_refund:ok",)),
        ("disputes opened", ("dispute:opened",)),
        ("two tabs paid", ("two_tabs:both_paid", "another_tab:order:paid", "another_tab:purchase:paid")),
        ("sold out", ("order_create:sold_out",)),
        ("capacity changed", ("capacity_general:200", "capacity_workshop:200", "capacity_venue:200")),
        ("events reversed", ("released:reversed:some",)),
        ("bulk refunds", ("bulk_refund:201",)),
    )
    """The outcomes a run must reach to prove anything about the money, summed under one name."""

    def money(self) -> str:
        return ", ".join(f"{name}={sum(self.outcomes.get(k, 0) for k in keys)}" for name, keys in self.MONEY)

    def report(self) -> str:
        lines = [
            "money reached: " + self.money(),
            f"examples run: {self.examples}",
            f"steps: {self.steps}",
            f"distinct rule pairs (A -> B): {len(self.pairs)}",
            "rules: " + ", ".join(f"{k}={v}" for k, v in sorted(self.rules.items())),
            "outcomes: " + ", ".join(f"{k}={v}" for k, v in sorted(self.outcomes.items())),
        ]
        return "\n".join(lines)


STATS = Stats()
"""Counts over every run in this process (the CI lane and ``make explore`` print them)."""


class World:
    """The running parts and the per-example reset; one per test session."""

    def __init__(self, emulator: Any, moto_url: str, ddb_url: str) -> None:
        self.emulator = emulator
        self.moto_url = moto_url
        self.ddb_url = ddb_url
        self.receiver = Receiver()
        self.clock = AppClock()
        self.tap: BusTap | None = None
        self.dead_letters: list[dict[str, Any]] = []
        self.holding = False
        self.stripe = self._client()

    def _client(self) -> Any:
        import stripe

        stripe.enable_telemetry = False
        return stripe.StripeClient(
            SECRET_KEY, base_addresses={"api": self.emulator.url}, max_network_retries=0
        )

    # -- reset -------------------------------------------------------------------------------

    def reset(self) -> None:
        """A fresh table, account, bus, emulator and clock; then the demo conference and catalog."""
        from aws_lambda_powertools.utilities import parameters

        from boxoffice import stripe_intake
        from local.aws import create_table

        self.emulator.release_events()
        self._answer_all(503)
        self.emulator.reset()
        self.emulator.configure(
            async_payment_delay=3600, refund_failure_delay=600, delivery_retry_delays=[0.02, 0.05]
        )
        self.receiver.reset()
        self._answer_all(503)
        self.clock.offset = timedelta(0)
        self.holding = False
        self.dead_letters = []
        requests.post(f"{self.moto_url}/moto-api/reset", timeout=10)
        ddb = boto3.client("dynamodb", endpoint_url=self.ddb_url)
        name = os.environ["TABLE_NAME"]
        if name in ddb.list_tables()["TableNames"]:
            ddb.delete_table(TableName=name)
        create_table(ddb, name)
        boto3.client("events").create_event_bus(Name=os.environ["EVENT_BUS_NAME"])
        parameters.clear_caches()
        stripe_intake._FORCED_READS.clear()
        self.tap = BusTap(("boxoffice.stripe",))
        endpoint = self.stripe.v1.webhook_endpoints.create(
            params={"url": f"{self.receiver.url}/{CID}", "enabled_events": ["*"]}
        )
        conference = {**CONFERENCE, "stripe": {"secret_key": SECRET_KEY, "webhook_secret": endpoint.secret}}
        assert self.api("PUT", f"/v1/conferences/{CID}", conference, ADMIN).status == 201
        for path, body in [
            *CATALOG.values(),
            ("sponsors/acme", {"name": "ACME", "slug": "acme", "contact_email": "ops@acme.example"}),
        ]:
            reply = self.api("PUT", f"/v1/conferences/{CID}/{path}", body, STAFF)
            assert reply.status == 201, reply.text

    def _answer_all(self, status: int) -> None:
        while True:
            try:
                delivery = self.receiver.inbox.get_nowait()
            except queue.Empty:
                return
            delivery.status = status
            delivery.answered.set()

    # -- calling the functions -------------------------------------------------------------------

    def api(
        self,
        method: str,
        path: str,
        body: Any = None,
        claims: dict[str, Any] | None = None,
        *,
        function: str = "api",
        headers: dict[str, str] | None = None,
        query: str = "",
    ) -> Reply:
        """One HTTP request to a function's real handler, shaped as API Gateway sends it."""
        return call(
            load_function(function).handler,
            method,
            path,
            body=body,
            claims=claims,
            headers=headers,
            query=query,
        )

    def _webhook(self, delivery: Delivery) -> int:
        headers = {"content-type": "application/json; charset=utf-8"}
        if delivery.signature is not None:
            headers["stripe-signature"] = delivery.signature
        event = http_api_event(
            "POST",
            f"/v1/webhooks/stripe/{CID}",
            route_key="POST /v1/webhooks/stripe/{cid}",
            path_parameters={"cid": CID},
            headers=headers,
            body=delivery.body,
        )
        try:
            return int(load_function("webhook").handler(event, LambdaContext())["statusCode"])
        except Exception:  # a crash in the handler: API Gateway answers 500, Stripe retries
            return 500

    def _process(self, envelope: dict[str, Any]) -> None:
        """One bus event through its processor function, with Lambda's async retries."""
        detail_type = str(envelope.get("detail-type"))
        name = "fulfillment" if detail_type.startswith(FULFILLMENT_PREFIXES) else "refunds"
        handler = load_function(name).handler
        for attempt in range(PROCESSOR_ATTEMPTS):
            try:
                handler(envelope, LambdaContext())
                return
            except Exception as exc:
                if attempt == PROCESSOR_ATTEMPTS - 1:
                    self.dead_letters.append({"envelope": envelope, "error": f"{type(exc).__name__}: {exc}"})
                    STATS.outcome("dead_letter")

    # -- settling ---------------------------------------------------------------------------------

    def settle(self, timeout: float = 30.0) -> None:
        """Deliver what the network is not holding, and run the processors, until nothing moves."""
        assert self.tap is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            moved = False
            try:
                delivery = self.receiver.inbox.get(timeout=0.01)
            except queue.Empty:
                delivery = None
            if delivery is not None:
                delivery.status = self._webhook(delivery)
                delivery.answered.set()
                moved = True
            for envelope in self.tap.drain():
                self._process(envelope)
                moved = True
            if not moved and self.receiver.inbox.empty() and self.emulator.wait_for_deliveries(0.02):
                late = self.tap.drain()
                if not late and self.receiver.inbox.empty():
                    return
                for envelope in late:
                    self._process(envelope)
        raise AssertionError("the world did not settle in time")

    # -- time -------------------------------------------------------------------------------------

    def advance(self, seconds: int) -> None:
        """Both clocks move forward; what became due at Stripe (expiry, async results) runs."""
        self.clock.offset += timedelta(seconds=seconds)
        self.emulator.advance_clock(seconds)

    def sweep(self) -> dict[str, Any] | None:
        """The expiry function's real handler, as its schedule runs it; None if it raised."""
        try:
            return load_function("expiry").handler({"source": "aws.events"}, LambdaContext())
        except Exception:
            STATS.outcome("sweep_failed")
            return None

    # -- crashes ----------------------------------------------------------------------------------

    @contextmanager
    def crash_once(self, module: str, name: str, when: str) -> Iterator[dict[str, bool]]:
        """``module.name`` raises once, ``before`` doing its work or ``after`` it (the answer lost)."""
        import importlib

        target = importlib.import_module(module)
        original: Callable[..., Any] = getattr(target, name)
        fired = {"fired": False}

        def crashing(*args: Any, **kwargs: Any) -> Any:
            if fired["fired"]:
                return original(*args, **kwargs)
            fired["fired"] = True
            if when == "after":
                original(*args, **kwargs)
            raise InjectedCrash(f"{module}.{name} crashed {when}")

        setattr(target, name, crashing)
        try:
            yield fired
        finally:
            setattr(target, name, original)


class InjectedCrash(Exception):
    """The crash a rule injects between two phases of a money operation."""
