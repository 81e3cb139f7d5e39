"""Count DynamoDB requests and consumed capacity through botocore's event hooks, not app code.

PynamoDB makes one botocore session per connection and thread (``Connection.session`` calls
``botocore.session.get_session``) and its client from that session. Every new botocore session
registers the handlers listed in ``botocore.handlers.BUILTIN_HANDLERS``, and a client copies its
session's handlers. :func:`install` adds three handlers there, so every DynamoDB client made after
it, PynamoDB's in every worker thread included, reports to the running :func:`measure`:

- ``before-parameter-build.dynamodb`` asks for ``ReturnConsumedCapacity: INDEXES`` (the total,
  split into table and index units; PynamoDB itself asks for TOTAL);
- ``before-send.dynamodb`` counts HTTP attempts, botocore's own retries included;
- ``after-call.dynamodb`` counts calls per operation and adds up their ``ConsumedCapacity``.

Install before the first DynamoDB client exists: a client made earlier is not counted.
"""

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore import handlers

WRITE_OPERATIONS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})


@dataclass
class Tally:
    """What one measured stretch sent to DynamoDB."""

    calls: Counter[str] = field(default_factory=Counter)
    units: Counter[str] = field(default_factory=Counter)
    """Consumed capacity units by operation (WCU for writes, RCU for reads)."""
    index_units: float = 0.0
    """The part of the write units billed for index writes."""
    attempts: int = 0
    """HTTP requests sent, retries included."""
    failed: Counter[str] = field(default_factory=Counter)
    unreported: Counter[str] = field(default_factory=Counter)
    """Calls that came back without ``ConsumedCapacity`` (errors do)."""

    @property
    def requests(self) -> int:
        return sum(self.calls.values())

    @property
    def wcu(self) -> float:
        return sum(u for op, u in self.units.items() if op in WRITE_OPERATIONS)

    @property
    def rcu(self) -> float:
        return sum(u for op, u in self.units.items() if op not in WRITE_OPERATIONS)

    def breakdown(self) -> str:
        """``GetItem 2 (1.0 RCU), UpdateItem 3 (3.0 WCU), ...`` in order of first call."""
        parts = []
        for op, n in self.calls.items():
            kind = "WCU" if op in WRITE_OPERATIONS else "RCU"
            extra = f", {self.failed[op]} failed" if self.failed[op] else ""
            parts.append(f"{op} {n} ({self.units[op]:g} {kind}{extra})")
        return ", ".join(parts)


_lock = threading.Lock()
_tally: Tally | None = None


def _capacities(parsed: dict[str, Any]) -> list[dict[str, Any]]:
    consumed = parsed.get("ConsumedCapacity")
    if consumed is None:
        return []
    return consumed if isinstance(consumed, list) else [consumed]


def _ask_for_capacity(params: dict[str, Any], model: Any, **_: Any) -> None:
    if _tally is not None and "ReturnConsumedCapacity" in model.input_shape.members:
        params["ReturnConsumedCapacity"] = "INDEXES"


def _count_attempt(**_: Any) -> None:
    with _lock:
        if _tally is not None:
            _tally.attempts += 1


def _count_call(http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
    op = model.name
    with _lock:
        tally = _tally
        if tally is None:
            return
        tally.calls[op] += 1
        if getattr(http_response, "status_code", 200) >= 300:
            tally.failed[op] += 1
        capacities = _capacities(parsed)
        if not capacities:
            tally.unreported[op] += 1
        tally.units[op] += 0.0
        for capacity in capacities:
            tally.units[op] += float(capacity.get("CapacityUnits", 0.0))
            if op in WRITE_OPERATIONS:
                for index in (capacity.get("GlobalSecondaryIndexes") or {}).values():
                    tally.index_units += float(index.get("CapacityUnits", 0.0))
                for index in (capacity.get("LocalSecondaryIndexes") or {}).values():
                    tally.index_units += float(index.get("CapacityUnits", 0.0))


_HANDLERS = (
    ("before-parameter-build.dynamodb", _ask_for_capacity),
    ("before-send.dynamodb", _count_attempt),
    ("after-call.dynamodb", _count_call),
)


def install() -> None:
    """Put the counting handlers on every botocore session made from now on (idempotent)."""
    for spec in _HANDLERS:
        if spec not in handlers.BUILTIN_HANDLERS:
            handlers.BUILTIN_HANDLERS.append(spec)


@contextmanager
def measure() -> Iterator[Tally]:
    """Count every DynamoDB call made, from any thread, until the block ends. One at a time."""
    global _tally
    tally = Tally()
    with _lock:
        if _tally is not None:
            raise RuntimeError("a measurement is already running")
        _tally = tally
    try:
        yield tally
    finally:
        with _lock:
            _tally = None
