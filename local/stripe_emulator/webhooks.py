"""Webhook signing and delivery.

Every event is signed the way Stripe signs it (`Stripe-Signature: t=<unix>,v1=<hex>` where the
hex is HMAC-SHA256 of `f"{t}.{payload}"` with the endpoint's `whsec_` secret) and POSTed as JSON
by one background worker, so delivery never happens inside the API call that caused it. A
non-2xx answer or a connection error is retried after each of `retry_delays` seconds, then the
delivery gives up. Every attempt is recorded for `GET /_emulator/deliveries`.

Knobs: hold (queue instead of sending) and release (optionally in reverse), a delay before the
first attempt, and "deliver the next N events twice".
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import http.client
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger("local.stripe_emulator")

MAX_RECORDS = 10_000
USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"

type Resolver = Callable[[str, str], tuple[str, str] | None]
type Delivered = Callable[[str, str], None]


def sign(payload: str, secret: str, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` header value for `payload`."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


@dataclass(order=True)
class _Job:
    due: float
    seq: int
    account_key: str = field(compare=False)
    event_id: str = field(compare=False)
    event_type: str = field(compare=False)
    endpoint_id: str = field(compare=False)
    payload: str = field(compare=False)
    duplicate: bool = field(default=False, compare=False)
    attempts: int = field(default=0, compare=False)


class Dispatcher:
    """Queues deliveries and sends them from one worker thread, in order of due time."""

    def __init__(
        self,
        resolve: Resolver,
        delivered: Delivered,
        retry_delays: Iterable[float] = (0.2, 0.5, 1.0, 2.0),
        timeout: float = 10.0,
    ) -> None:
        self._resolve = resolve
        self._delivered = delivered
        self.retry_delays = tuple(retry_delays)
        self.timeout = timeout
        self._cond = threading.Condition()
        self._queue: list[_Job] = []
        self._held: list[_Job] = []
        self._holding = False
        self._delay = 0.0
        self._duplicates = 0
        self._busy = 0
        self._records: list[dict[str, Any]] = []
        self._generation = 0
        self._seq = itertools.count()
        self._stopped = False
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker thread."""
        self._thread = threading.Thread(target=self._run, name="stripe-emulator-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the worker (queued deliveries are dropped)."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout + 1)

    def reset(self) -> None:
        """Drop queued and held deliveries, records and knobs."""
        with self._cond:
            self._queue.clear()
            self._held.clear()
            self._records.clear()
            self._holding = False
            self._delay = 0.0
            self._duplicates = 0
            self._generation += 1
            self._cond.notify_all()

    # -- knobs --------------------------------------------------------------------------------

    def hold(self) -> None:
        """Queue new deliveries instead of sending them, until `release`."""
        with self._cond:
            self._holding = True

    def release(self, reverse: bool = False) -> int:
        """Stop holding and send what was held (newest first if `reverse`). Returns the count."""
        with self._cond:
            held = list(reversed(self._held)) if reverse else list(self._held)
            self._held.clear()
            self._holding = False
            now = time.monotonic()
            for job in held:
                job.due = now + self._delay
                job.seq = next(self._seq)
                heapq.heappush(self._queue, job)
            self._cond.notify_all()
            return len(held)

    def set_delay(self, seconds: float) -> None:
        """Wait `seconds` before the first attempt of each delivery queued from now on."""
        if seconds < 0:
            raise ValueError("the delay must be >= 0")
        with self._cond:
            self._delay = seconds

    def duplicate_next(self, n: int = 1) -> None:
        """Deliver each of the next `n` events twice (to every matching endpoint)."""
        if n < 0:
            raise ValueError("n must be >= 0")
        with self._cond:
            self._duplicates += n

    def state(self) -> dict[str, Any]:
        """The knobs' current values, for `GET /_emulator`."""
        with self._cond:
            return {
                "holding": self._holding,
                "held": len(self._held),
                "queued": len(self._queue) + self._busy,
                "delivery_delay": self._delay,
                "duplicate_next": self._duplicates,
                "retry_delays": list(self.retry_delays),
            }

    # -- queueing -----------------------------------------------------------------------------

    def enqueue(self, account_key: str, event: dict[str, Any], payload: str, endpoint_ids: list[str]) -> None:
        """Queue one event for each endpoint (twice if a duplicate was asked for)."""
        with self._cond:
            copies = 1
            if self._duplicates > 0:
                self._duplicates -= 1
                copies = 2
            due = time.monotonic() + self._delay
            for endpoint_id in endpoint_ids:
                for copy_index in range(copies):
                    job = _Job(
                        due,
                        next(self._seq),
                        account_key,
                        event["id"],
                        event["type"],
                        endpoint_id,
                        payload,
                        duplicate=copy_index > 0,
                    )
                    if self._holding:
                        self._held.append(job)
                    else:
                        heapq.heappush(self._queue, job)
            self._cond.notify_all()

    def records(self) -> list[dict[str, Any]]:
        """Every delivery attempt so far, oldest first."""
        with self._cond:
            return [dict(record) for record in self._records]

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Block until nothing is queued or being sent (held deliveries do not count)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    # -- worker -------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (not self._queue or self._queue[0].due > time.monotonic()):
                    wait = self._queue[0].due - time.monotonic() if self._queue else None
                    self._cond.wait(wait)
                if self._stopped:
                    return
                job = heapq.heappop(self._queue)
                generation = self._generation
                self._busy += 1
            try:
                self._deliver(job, generation)
            except Exception:
                log.exception("webhook delivery of %s crashed", job.event_id)
            finally:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()

    def _deliver(self, job: _Job, generation: int) -> None:
        target = self._resolve(job.account_key, job.endpoint_id)
        job.attempts += 1
        record: dict[str, Any] = {
            "event_id": job.event_id,
            "event_type": job.event_type,
            "endpoint_id": job.endpoint_id,
            "url": target[0] if target else None,
            "attempt": job.attempts,
            "duplicate": job.duplicate,
            "at": time.time(),
            "status_code": None,
            "error": None,
            "outcome": "",
        }
        if target is None:
            record.update(outcome="dropped", error="endpoint deleted or disabled")
            self._record(record, generation)
            return
        url, secret = target
        status, error = self._post(url, job.payload, sign(job.payload, secret))
        record.update(status_code=status, error=error)
        if status is not None and 200 <= status < 300:
            record["outcome"] = "delivered"
        elif job.attempts <= len(self.retry_delays):
            record["outcome"] = "retrying"
            delay = self.retry_delays[job.attempts - 1]
            with self._cond:
                if generation == self._generation and not self._stopped:
                    job.due = time.monotonic() + delay
                    job.seq = next(self._seq)
                    heapq.heappush(self._queue, job)
        else:
            record["outcome"] = "gave_up"
        self._record(record, generation)
        if record["outcome"] == "delivered" and not job.duplicate:
            self._delivered(job.account_key, job.event_id)
        log.debug("webhook %s %s → %s: %s", job.event_type, job.event_id, url, record["outcome"])

    def _record(self, record: dict[str, Any], generation: int) -> None:
        with self._cond:
            if generation != self._generation:
                return
            self._records.append(record)
            if len(self._records) > MAX_RECORDS:
                del self._records[: len(self._records) - MAX_RECORDS]

    def _post(self, url: str, payload: str, signature: str) -> tuple[int | None, str | None]:
        """POST without following redirects (Stripe counts a 3xx as a failure)."""
        parts = urlsplit(url)
        connection_class = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        connection = connection_class(parts.hostname or "", parts.port, timeout=self.timeout)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        try:
            connection.request(
                "POST",
                path,
                body=payload.encode("utf-8"),
                headers={
                    "Content-Type": "application/json; charset=utf-8",
                    "Stripe-Signature": signature,
                    "User-Agent": USER_AGENT,
                    "Accept": "*/*; q=0.5, application/xml",
                    "Cache-Control": "no-cache",
                },
            )
            response = connection.getresponse()
            response.read(64 * 1024)
            return response.status, None
        except (OSError, http.client.HTTPException) as exc:
            return None, f"{type(exc).__name__}: {exc}"
        finally:
            connection.close()
