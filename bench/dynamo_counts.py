"""Count DynamoDB requests and consumed capacity (and the app's other AWS calls) through botocore's
event hooks, not app code.

PynamoDB makes one botocore session per connection and thread (``Connection.session`` calls
``botocore.session.get_session``) and its client from that session. Every new botocore session
registers the handlers listed in ``botocore.handlers.BUILTIN_HANDLERS``, and a client copies its
session's handlers. :func:`install` adds three handlers there, so every DynamoDB client made after
it, PynamoDB's in every worker thread included, reports to the running :func:`measure`:

- ``before-parameter-build.dynamodb`` asks for ``ReturnConsumedCapacity: INDEXES`` (the total,
  split into table and index units; PynamoDB itself asks for TOTAL);
- ``before-send.dynamodb`` counts HTTP attempts, botocore's own retries included;
- ``after-call.dynamodb`` counts calls per operation and adds up their ``ConsumedCapacity``.

A write refused by its condition (or a cancelled transaction) comes back without
``ConsumedCapacity``, yet DynamoDB bills it: ``failed_units`` estimates it, the written item's
size for a ``PutItem`` (the item it collided with is usually the same record) and the minimum
otherwise (1 unit per item, 2 per item of a transaction).

The same sessions also count what ``make bench-cost`` prices among the other services: EventBridge
entries put, Secrets Manager calls and SQS messages sent (``after-call`` on each).

Install before the first client exists: a client made earlier is not counted.
"""

import math
import re
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
    failed_units: float = 0.0
    """Estimated write units of writes DynamoDB refused (billed, but reported without capacity)."""
    services: Counter[str] = field(default_factory=Counter)
    """Calls to the other AWS services by ``service.Operation`` (``eventbridge.PutEvents``, ...)."""
    event_entries: int = 0
    """EventBridge entries accepted (each is billed as one event up to 64 KB)."""
    sqs_messages: int = 0
    trace: list[str] | None = None
    """With tracing on (``measure(trace=True)``), one line per DynamoDB call: what it touched, what it cost."""

    @property
    def requests(self) -> int:
        return sum(self.calls.values())

    @property
    def wcu(self) -> float:
        return sum(u for op, u in self.units.items() if op in WRITE_OPERATIONS)

    @property
    def rcu(self) -> float:
        return sum(u for op, u in self.units.items() if op not in WRITE_OPERATIONS)

    @property
    def secrets_calls(self) -> int:
        return sum(n for op, n in self.services.items() if op.startswith("secrets-manager."))

    def as_dict(self) -> dict[str, Any]:
        """Plain data, to send across a process boundary (``merge`` takes it back)."""
        return {
            "calls": dict(self.calls),
            "units": dict(self.units),
            "index_units": self.index_units,
            "attempts": self.attempts,
            "failed": dict(self.failed),
            "unreported": dict(self.unreported),
            "failed_units": self.failed_units,
            "services": dict(self.services),
            "event_entries": self.event_entries,
            "sqs_messages": self.sqs_messages,
            "trace": self.trace,
        }

    def merge(self, other: "Tally | dict[str, Any]") -> None:
        """Add another tally (or its ``as_dict``) to this one."""
        data = other.as_dict() if isinstance(other, Tally) else other
        for name in ("calls", "units", "failed", "unreported", "services"):
            getattr(self, name).update(data.get(name, {}))
        self.index_units += data.get("index_units", 0.0)
        self.attempts += data.get("attempts", 0)
        self.failed_units += data.get("failed_units", 0.0)
        self.event_entries += data.get("event_entries", 0)
        self.sqs_messages += data.get("sqs_messages", 0)
        if data.get("trace") is not None:
            self.trace = [*(self.trace or []), *data["trace"]]

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


_thread = threading.local()


def _note_write(params: dict[str, Any], model: Any, **_: Any) -> None:
    """Remember, per thread, what a refused write would be billed (see the module's docstring),
    and, when tracing, which items the call is about."""
    if _tally is not None and _tally.trace is not None:
        _thread.about = _about(model.name, params)
    if model.name == "PutItem":
        _thread.refused_units = float(max(1, math.ceil(item_bytes(params.get("Item") or {}) / 1024)))
    elif model.name == "TransactWriteItems":
        _thread.refused_units = 2.0 * len(params.get("TransactItems") or ())
    elif model.name == "BatchWriteItem":
        _thread.refused_units = 0.0  # unprocessed items come back as such, never refused
    else:
        _thread.refused_units = 1.0


def _key_of(item: dict[str, Any]) -> str:
    """``ORDER#bench#ord_…/PAYMENT#…``: the item's key, its ids shortened."""
    parts = [
        str(next(iter((item.get(name) or {"S": "?"}).values()))) for name in ("PK", "SK") if name in item
    ]
    return "/".join(re.sub(r"([a-z]+_[0-9a-f]{4})[0-9a-f]{4,}", r"\1…", p) for p in parts)


def _about(op: str, params: dict[str, Any]) -> str:
    if op in ("GetItem", "UpdateItem", "DeleteItem"):
        return _key_of(params.get("Key") or {})
    if op == "PutItem":
        return _key_of(params.get("Item") or {})
    if op == "Query":
        values = params.get("ExpressionAttributeValues") or {}
        first = next(iter(values.values()), {"S": "?"})
        return f"{params.get('IndexName', 'table')} {next(iter(first.values()))}"
    if op == "TransactWriteItems":
        inner = [(kind, spec) for entry in params.get("TransactItems") or () for kind, spec in entry.items()]
        return ", ".join(
            f"{kind} {_key_of(spec.get('Key') or spec.get('Item') or {})}" for kind, spec in inner
        )
    if op in ("BatchGetItem", "BatchWriteItem"):
        requests = params.get("RequestItems") or {}
        return f"{sum(len(v) if isinstance(v, list) else len(v.get('Keys', [])) for v in requests.values())} items"
    return ""


def item_bytes(attributes: dict[str, Any]) -> int:
    """DynamoDB's size of a serialized item (names plus values), which capacity is billed on."""

    def value(v: dict[str, Any]) -> int:
        (kind, inner), *_ = v.items()
        if kind in ("S", "B"):
            return len(inner.encode()) if isinstance(inner, str) else len(inner)
        if kind == "N":
            return (len(inner.strip("-").replace(".", "").lstrip("0")) + 1) // 2 + 1
        if kind in ("BOOL", "NULL"):
            return 1
        if kind == "L":
            return 3 + sum(1 + value(x) for x in inner)
        if kind == "M":
            return 3 + sum(1 + len(k.encode()) + value(x) for k, x in inner.items())
        return sum(len(str(x)) for x in inner)  # sets

    return sum(len(name.encode()) + value(v) for name, v in attributes.items())


def _count_call(http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
    op = model.name
    with _lock:
        tally = _tally
        if tally is None:
            return
        tally.calls[op] += 1
        refused = getattr(http_response, "status_code", 200) >= 300
        if refused:
            tally.failed[op] += 1
        capacities = _capacities(parsed)
        if not capacities:
            tally.unreported[op] += 1
            if refused and op in WRITE_OPERATIONS:
                tally.failed_units += getattr(_thread, "refused_units", 1.0)
        tally.units[op] += 0.0
        if tally.trace is not None:
            tally.trace.append(_traced(op, capacities, refused))
        for capacity in capacities:
            tally.units[op] += float(capacity.get("CapacityUnits", 0.0))
            if op in WRITE_OPERATIONS:
                for index in (capacity.get("GlobalSecondaryIndexes") or {}).values():
                    tally.index_units += float(index.get("CapacityUnits", 0.0))
                for index in (capacity.get("LocalSecondaryIndexes") or {}).values():
                    tally.index_units += float(index.get("CapacityUnits", 0.0))


def _traced(op: str, capacities: list[dict[str, Any]], refused: bool) -> str:
    units = sum(float(c.get("CapacityUnits", 0.0)) for c in capacities)
    split = [
        f"{name} {index.get('CapacityUnits', 0):g}"
        for c in capacities
        for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes")
        for name, index in (c.get(kind) or {}).items()
    ]
    if capacities and split:
        table = sum(float((c.get("Table") or {}).get("CapacityUnits", 0.0)) for c in capacities)
        split.insert(0, f"table {table:g}")
    cost = "refused" if refused else f"{units:g}" + (f" ({', '.join(split)})" if split else "")
    return f"{op} {getattr(_thread, 'about', '')}: {cost}"


def _count_service_call(parsed: dict[str, Any], model: Any, **_: Any) -> None:
    """EventBridge, Secrets Manager and SQS: calls, entries accepted, messages sent."""
    service = model.service_model.service_id.hyphenize()
    with _lock:
        tally = _tally
        if tally is None:
            return
        tally.services[f"{service}.{model.name}"] += 1
        if model.name == "PutEvents":
            entries = parsed.get("Entries") or []
            tally.event_entries += sum(1 for e in entries if "EventId" in e)
        elif model.name == "SendMessage" and "MessageId" in parsed:
            tally.sqs_messages += 1
        elif model.name == "SendMessageBatch":
            tally.sqs_messages += len(parsed.get("Successful") or [])


_HANDLERS = (
    ("before-parameter-build.dynamodb", _ask_for_capacity),
    ("before-parameter-build.dynamodb", _note_write),
    ("before-send.dynamodb", _count_attempt),
    ("after-call.dynamodb", _count_call),
    ("after-call.eventbridge", _count_service_call),
    ("after-call.secrets-manager", _count_service_call),
    ("after-call.sqs", _count_service_call),
)


def install() -> None:
    """Put the counting handlers on every botocore session made from now on (idempotent)."""
    for spec in _HANDLERS:
        if spec not in handlers.BUILTIN_HANDLERS:
            handlers.BUILTIN_HANDLERS.append(spec)


@contextmanager
def measure(*, trace: bool = False) -> Iterator[Tally]:
    """Count every DynamoDB call made, from any thread, until the block ends. One at a time."""
    global _tally
    tally = Tally(trace=[] if trace else None)
    with _lock:
        if _tally is not None:
            raise RuntimeError("a measurement is already running")
        _tally = tally
    try:
        yield tally
    finally:
        with _lock:
            _tally = None
