"""`StripeEmulator`: wires the store, the HTTP server, the webhook worker and the clock ticker.

Threads: the HTTP server (one thread per connection), one webhook delivery worker, and a ticker
that runs the emulator clock's due work (session expiry, delayed async payment results,
refunds that fail later). The Python methods below are the same knobs as `/_emulator/...`.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, Self

from . import checkout, disputes, refunds
from .clock import Clock
from .errors import resource_missing
from .faults import Faults
from .idempotency import IdempotencyCache
from .ids import IdFactory
from .server import EmulatorServer
from .store import SESSION, Ctx, Store
from .webhooks import Dispatcher

log = logging.getLogger("local.stripe_emulator")


class StripeEmulator:
    """A stateful, local Stripe API for tests and offline runs. Never deployed."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        delivery_retry_delays: Iterable[float] = (0.2, 0.5, 1.0, 2.0),
        *,
        async_payment_delay: float = 0.5,
        refund_failure_delay: float = 0.5,
        delivery_timeout: float = 10.0,
        tick_interval: float = 0.05,
    ) -> None:
        self.host = host
        self.port = port
        self.tick_interval = tick_interval
        self.clock = Clock()
        self.ids = IdFactory()
        self.faults = Faults()
        self.idempotency = IdempotencyCache()
        self.store = Store(self.clock, self.ids)
        self.store.async_payment_delay = async_payment_delay
        self.store.refund_failure_delay = refund_failure_delay
        self.dispatcher = Dispatcher(
            self.store.endpoint_target, self.store.delivery_succeeded, delivery_retry_delays, delivery_timeout
        )
        self.store.on_event = self._queue_event
        self.store.expirer = self._expire
        self.store.on_change = self.changed
        self.on_change: Callable[[], None] | None = None
        """Called after anything may have changed the state (see `persistence.Saver`)."""
        self._server: EmulatorServer | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind the port and start serving in background threads."""
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = EmulatorServer((self.host, self.port), self)
        self.port = self._server.server_address[1]
        self.store.base_url = self.url
        self.dispatcher.start()
        serve = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="stripe-emulator-http",
            daemon=True,
        )
        ticker = threading.Thread(target=self._tick_loop, name="stripe-emulator-clock", daemon=True)
        self._threads = [serve, ticker]
        for thread in self._threads:
            thread.start()
        log.info("Stripe emulator listening on %s", self.url)
        return self

    @property
    def url(self) -> str:
        """Base URL, e.g. `http://127.0.0.1:12111` (use as the SDK's `api` base address)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def stop(self) -> None:
        """Stop serving, end open connections, stop the worker threads."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.close_connections()
        server.server_close()
        self.dispatcher.stop()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def changed(self) -> None:
        """The state may have changed (a request that is not a GET, the clock's work, a delivery)."""
        if self.on_change is not None:
            self.on_change()

    def _tick_loop(self) -> None:
        while not self._stopping.wait(self.tick_interval):
            try:
                self.store.tick()
            except Exception:
                log.exception("the emulator clock tick failed")

    def _queue_event(self, account_key: str, event: dict[str, Any], endpoint_ids: list[str]) -> None:
        self.dispatcher.enqueue(account_key, event, Store.payload(event), endpoint_ids)

    @staticmethod
    def _expire(store: Store, ctx: Ctx, session: dict[str, Any]) -> None:
        checkout.expire(store, ctx, session)

    # -- fault injection and control ------------------------------------------------------------

    def fail_next(self, n: int = 1, mode: str = "500") -> None:
        """Fail the next `n` API calls: `500` (api_error JSON), `reset` (connection closed, nothing
        done) or `reset_after` (done, then the connection is closed without a response)."""
        self.faults.fail_next(n, mode)

    def duplicate_next_delivery(self, n: int = 1) -> None:
        """Deliver each of the next `n` events twice."""
        self.dispatcher.duplicate_next(n)

    def hold_events(self) -> None:
        """Queue webhook deliveries instead of sending them (events are still recorded)."""
        self.dispatcher.hold()

    def release_events(self, reverse: bool = False) -> int:
        """Stop holding and deliver the held events, oldest first or `reverse`d. Returns the count."""
        return self.dispatcher.release(reverse)

    def set_delivery_delay(self, seconds: float) -> None:
        """Wait `seconds` before delivering each event queued from now on."""
        self.dispatcher.set_delay(seconds)

    def advance_clock(self, seconds: float) -> None:
        """Move the emulator clock forward and run what became due (expiry, async results...)."""
        self.clock.advance(seconds)
        self.store.tick()
        self.changed()

    def reset(self) -> None:
        """Drop all state: accounts, objects, events, idempotency keys, queued deliveries, knobs."""
        self.store.reset()
        self.dispatcher.reset()
        self.faults.reset()
        self.idempotency.reset()
        self.clock.reset()

    def configure(
        self,
        *,
        async_payment_delay: float | None = None,
        refund_failure_delay: float | None = None,
        delivery_retry_delays: Iterable[float] | None = None,
        delivery_timeout: float | None = None,
    ) -> None:
        """Change timings at run time (seconds; the first two are on the emulator clock)."""
        with self.store.lock:
            if async_payment_delay is not None:
                self.store.async_payment_delay = async_payment_delay
            if refund_failure_delay is not None:
                self.store.refund_failure_delay = refund_failure_delay
        if delivery_retry_delays is not None:
            self.dispatcher.retry_delays = tuple(delivery_retry_delays)
        if delivery_timeout is not None:
            self.dispatcher.timeout = delivery_timeout

    def knob_state(self) -> dict[str, Any]:
        """Current knob values (also at `GET /_emulator`)."""
        return {
            **self.dispatcher.state(),
            "pending_failures": self.faults.pending(),
            "clock": self.clock.timestamp(),
            "clock_offset": self.clock.offset,
            "async_payment_delay": self.store.async_payment_delay,
            "refund_failure_delay": self.store.refund_failure_delay,
        }

    # -- acting as the customer and the bank --------------------------------------------------

    def pay(self, session_id: str, outcome: str) -> str | None:
        """Submit the hosted page with `outcome` (succeed | decline | async_succeed | async_fail).

        Returns the success URL the page redirects to, or None when the card was declined.
        Raises `PaymentRefused` for a session that is not open or an unknown outcome.
        """
        with self.store.lock:
            found = self.store.find(session_id)
            if found is None or found[1]["object"] != SESSION:
                raise resource_missing(SESSION, session_id, "session")
            account, session = found
            return checkout.pay(self.store, Ctx(account), session, outcome)

    def complete_async(self, session_id: str) -> None:
        """Deliver a session's pending async payment result now instead of after the delay."""
        with self.store.lock:
            checkout.complete_async(self.store, session_id)

    def fail_refund(self, refund_id: str, failure_reason: str = "lost_or_stolen_card") -> dict[str, Any]:
        """Make a refund that succeeded fail, as a bank does later. Returns the refund."""
        with self.store.lock:
            return copy.deepcopy(refunds.fail_by_id(self.store, refund_id, failure_reason))

    def open_dispute(
        self, charge: str, amount: int | None = None, reason: str = "fraudulent"
    ) -> dict[str, Any]:
        """The cardholder charges back a card payment (`charge` is a charge or PaymentIntent id).

        `amount` defaults to the charge's amount. Emits `charge.dispute.created` then
        `charge.dispute.funds_withdrawn`. Returns the dispute.
        """
        with self.store.lock:
            return disputes.snapshot(disputes.open_dispute(self.store, charge, amount, reason))

    def close_dispute(self, dispute_id: str, status: str) -> dict[str, Any]:
        """The network closes a dispute `won` or `lost`. Emits `charge.dispute.closed`, then
        `charge.dispute.funds_reinstated` when won. Returns the dispute."""
        with self.store.lock:
            return disputes.snapshot(disputes.close_dispute(self.store, dispute_id, status))

    # -- inspection ---------------------------------------------------------------------------

    def deliveries(self) -> list[dict[str, Any]]:
        """Every webhook delivery attempt so far, oldest first."""
        return self.dispatcher.records()

    def wait_for_deliveries(self, timeout: float = 5.0) -> bool:
        """Block until no delivery is queued or in flight (held ones excepted); False on timeout."""
        return self.dispatcher.wait_idle(timeout)
