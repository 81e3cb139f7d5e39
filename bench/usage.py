"""What one Lambda invocation used, measured inside the local runner's execution environment.

``make bench-cost`` starts the runner with ``BOXOFFICE_METER=bench.usage``: the environment server
calls :func:`install` before it makes any client, and every environment wraps each invocation in
:func:`invocation`. What it yields is filled when the handler returns and travels back with the
result, so the bench adds up real calls from real handlers, each in its own environment (its own
cached secrets and clients, as on Lambda):

- the handler's wall time (what Lambda bills, at the function's memory);
- DynamoDB requests and consumed capacity, EventBridge entries, Secrets Manager calls and SQS
  messages, through the botocore hooks of :mod:`bench.dynamo_counts`;
- Stripe API calls, counted where the stripe SDK sends each request (after its own retries), by
  method and path with ids left out.
"""

import os
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench import dynamo_counts

_ID = re.compile(r"/(?!v1/)[A-Za-z]+_[A-Za-z0-9_]*\d[A-Za-z0-9_]*")
"""A path segment that is a Stripe id (``cs_test_a1…``, ``pi_3…``), not a resource name."""

TRACE = bool(os.environ.get("COST_TRACE"))
"""Also list every DynamoDB call, with the items it touched and its capacity (``COST_TRACE=1``)."""

_lock = threading.Lock()
_stripe_calls: Counter[str] | None = None


def stripe_route(method: str, url: str) -> str:
    """``POST /v1/checkout/sessions/{id}/expire`` for any session's URL: calls grouped by route."""
    path = re.sub(r"^[a-z]+://[^/]+", "", url).split("?", 1)[0]
    return f"{method.upper()} {_ID.sub('/{id}', path)}"


def _count_stripe(method: str, url: str) -> None:
    with _lock:
        if _stripe_calls is not None:
            _stripe_calls[stripe_route(method, url)] += 1


def _patch_stripe() -> None:
    """Count each request the stripe SDK sends, whichever HTTP client it picked (idempotent)."""
    from stripe import _http_client

    original = _http_client.HTTPClient._request_with_retries_internal
    if getattr(original, "counted", False):
        return

    def counted(self: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        _count_stripe(method, url)
        return original(self, method, url, *args, **kwargs)

    counted.counted = True  # type: ignore[attr-defined]
    _http_client.HTTPClient._request_with_retries_internal = counted  # type: ignore[method-assign]


def install() -> None:
    """The hooks, before the first client exists (the environment server calls this first)."""
    dynamo_counts.install()
    _patch_stripe()


@contextmanager
def invocation() -> Iterator[dict[str, Any]]:
    """Measure one invocation; the dict yielded holds ``ms``, the tally and ``stripe`` at exit."""
    global _stripe_calls
    usage: dict[str, Any] = {}
    stripe_calls: Counter[str] = Counter()
    with _lock:
        _stripe_calls = stripe_calls
    started = time.perf_counter()
    try:
        with dynamo_counts.measure(trace=TRACE) as tally:
            yield usage
    finally:
        usage["ms"] = (time.perf_counter() - started) * 1000
        with _lock:
            _stripe_calls = None
        usage["aws"] = tally.as_dict()
        usage["stripe"] = dict(stripe_calls)
