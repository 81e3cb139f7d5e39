"""All emulator state, guarded by one lock: accounts, their objects and events, timed tasks.

Each distinct secret key is its own Stripe account. Objects live in the account that created
them; ids are unique across accounts, and another account's id answers `resource_missing`.
The store also stamps events, hands them to the webhook dispatcher, and runs the emulator
clock's timed work (session expiry, "later" async payment results, refunds that fail later).
"""

from __future__ import annotations

import copy
import heapq
import itertools
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import objects
from .clock import Clock
from .errors import StripeError, invalid_request, resource_missing
from .ids import IdFactory
from .params import in_range

log = logging.getLogger("local.stripe_emulator")

SESSION = "checkout.session"
PAYMENT_INTENT = "payment_intent"
CHARGE = "charge"
REFUND = "refund"
EVENT = "event"
WEBHOOK_ENDPOINT = "webhook_endpoint"
DISPUTE = "dispute"
KINDS = (SESSION, PAYMENT_INTENT, CHARGE, REFUND, EVENT, WEBHOOK_ENDPOINT, DISPUTE)

# Which string-id fields each object type lets `expand[]` replace with the object itself.
# Fields that are always null in the emulator are listed so that expanding them is not an error.
EXPANDABLE: dict[str, frozenset[str]] = {
    SESSION: frozenset(
        {
            "payment_intent",
            "line_items",
            "customer",
            "invoice",
            "payment_link",
            "setup_intent",
            "subscription",
        }
    ),
    PAYMENT_INTENT: frozenset({"latest_charge", "customer", "payment_method", "review", "application"}),
    CHARGE: frozenset({"payment_intent", "balance_transaction", "customer", "review", "application"}),
    REFUND: frozenset({"charge", "payment_intent", "balance_transaction", "failure_balance_transaction"}),
    DISPUTE: frozenset({"charge", "payment_intent"}),
    "item": frozenset({"price"}),
}

type EventHook = Callable[[str, dict[str, Any], list[str]], None]
type TaskBuilder = Callable[["Store", dict[str, Any]], Callable[[], object]]

TASK_BUILDERS: dict[str, TaskBuilder] = {}
"""Timed work by kind (``spec["kind"]``): how to rebuild a saved task after a restart."""


def register_task(kind: str, builder: TaskBuilder) -> None:
    """Let tasks of ``kind`` be saved and rebuilt from their spec (see `Store.schedule`)."""
    TASK_BUILDERS[kind] = builder


@dataclass
class SessionExtras:
    """What a session remembers but does not show: the data for the intent it will create."""

    intent_metadata: dict[str, str] = field(default_factory=dict)
    intent_description: str | None = None
    receipt_email: str | None = None
    statement_descriptor: str | None = None
    statement_descriptor_suffix: str | None = None


@dataclass
class Account:
    """One secret key's world."""

    key: str
    objects: dict[str, dict[str, dict[str, Any]]] = field(default_factory=lambda: {k: {} for k in KINDS})
    line_items: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    session_extras: dict[str, SessionExtras] = field(default_factory=dict)
    endpoint_secrets: dict[str, str] = field(default_factory=dict)

    def newest_first(self, kind: str) -> list[dict[str, Any]]:
        """Objects of `kind`, newest first (creation order breaks ties in `created`)."""
        return list(reversed(self.objects[kind].values()))


@dataclass
class Ctx:
    """The caller of one API request: its account and what events should say caused them."""

    account: Account
    request_id: str | None = None
    idempotency_key: str | None = None


@dataclass(order=True)
class _Task:
    due: float
    seq: int
    key: str = field(compare=False)
    run: Callable[[], object] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)
    spec: dict[str, Any] | None = field(default=None, compare=False)


class Store:
    """The emulator's state. Hold `store.lock` around every read or write."""

    def __init__(self, clock: Clock, ids: IdFactory) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.ids = ids
        self.base_url = "http://127.0.0.1"
        self.on_event: EventHook | None = None
        self.async_payment_delay = 0.5
        self.refund_failure_delay = 0.5
        self.accounts: dict[str, Account] = {}
        self._index: dict[str, tuple[str, str]] = {}
        self._tasks: list[_Task] = []
        self._tasks_by_key: dict[str, _Task] = {}
        self._seq = itertools.count()
        self.expirer: Callable[[Store, Ctx, dict[str, Any]], None] | None = None
        self.on_change: Callable[[], None] | None = None
        """Called when the clock's timed work or a delivery changed state (for saving it)."""

    # -- accounts and objects -------------------------------------------------------------

    def account(self, key: str) -> Account:
        """The account for a secret key, created on first use."""
        account = self.accounts.get(key)
        if account is None:
            account = self.accounts[key] = Account(key)
        return account

    def add(self, account: Account, obj: dict[str, Any]) -> dict[str, Any]:
        """Store a new object under its `object` type."""
        kind = obj["object"]
        account.objects[kind][obj["id"]] = obj
        self._index[obj["id"]] = (account.key, kind)
        return obj

    def get(self, account: Account, kind: str, object_id: str, param: str = "id") -> dict[str, Any]:
        """An object of the caller's account, or Stripe's 404."""
        obj = account.objects[kind].get(object_id)
        if obj is None:
            raise resource_missing(kind, object_id, param)
        return obj

    def find(self, object_id: str) -> tuple[Account, dict[str, Any]] | None:
        """Any account's object by id (for the hosted page and the control API)."""
        entry = self._index.get(object_id)
        if entry is None:
            return None
        account = self.accounts[entry[0]]
        return account, account.objects[entry[1]][object_id]

    def lookup(self, account: Account, object_id: str) -> dict[str, Any] | None:
        """An object of `account` by id, whatever its type."""
        entry = self._index.get(object_id)
        if entry is None or entry[0] != account.key:
            return None
        return account.objects[entry[1]].get(object_id)

    # -- rendering --------------------------------------------------------------------------

    def render(
        self, account: Account, obj: dict[str, Any], expand: list[str] | None = None
    ) -> dict[str, Any]:
        """A private copy of `obj` with the `expand[]` paths replaced by objects."""
        result = copy.deepcopy(obj)
        for path in expand or ():
            parts = path.split(".")
            if len(parts) > 4:
                raise invalid_request(
                    f"You cannot expand more than 4 levels of a property. Property: {path}", param="expand"
                )
            self._expand(account, result, parts, path)
        return result

    def _expand(self, account: Account, obj: dict[str, Any], parts: list[str], path: str) -> None:
        head, rest = parts[0], parts[1:]
        kind = obj.get("object")
        if kind == "list" and head == "data":
            if not rest:
                raise invalid_request(f"This property cannot be expanded ({path}).", param="expand")
            for item in obj["data"]:
                self._expand(account, item, rest, path)
            return
        if head not in EXPANDABLE.get(str(kind), frozenset()):
            raise invalid_request(f"This property cannot be expanded ({path}).", param="expand")
        if kind == SESSION and head == "line_items":
            items = account.line_items.get(obj["id"], [])
            obj["line_items"] = objects.list_object(
                f"/v1/checkout/sessions/{obj['id']}/line_items", copy.deepcopy(items), False
            )
            value = obj["line_items"]
        else:
            value = obj.get(head)
            if isinstance(value, str):
                target = self.lookup(account, value)
                if target is not None:
                    value = obj[head] = copy.deepcopy(target)
        if rest and isinstance(value, dict):
            self._expand(account, value, rest, path)

    def paginate(
        self,
        account: Account,
        items: list[dict[str, Any]],
        params: dict[str, Any],
        url: str,
        kind: str,
    ) -> dict[str, Any]:
        """One page of a newest-first list, with Stripe's cursors and `has_more`."""
        limit = params.get("limit", 10)
        ids = [item["id"] for item in items]
        if "starting_after" in params:
            cursor = params["starting_after"]
            if cursor not in ids:
                raise resource_missing(kind, cursor, "starting_after")
            start = ids.index(cursor) + 1
            page, has_more = items[start : start + limit], start + limit < len(items)
        elif "ending_before" in params:
            cursor = params["ending_before"]
            if cursor not in ids:
                raise resource_missing(kind, cursor, "ending_before")
            end = ids.index(cursor)
            start = max(0, end - limit)
            page, has_more = items[start:end], start > 0
        else:
            page, has_more = items[:limit], len(items) > limit
        listing = objects.list_object(url, [copy.deepcopy(item) for item in page], has_more)
        return self.render(account, listing, params.get("expand"))

    @staticmethod
    def created_filter(items: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
        """Apply `created[gte]`-style bounds when present."""
        bounds = params.get("created")
        if not bounds:
            return items
        return [item for item in items if in_range(bounds, item["created"])]

    # -- events -----------------------------------------------------------------------------

    def emit(
        self,
        ctx: Ctx,
        type_: str,
        obj: dict[str, Any],
        previous_attributes: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Record an event with a snapshot of `obj` and queue it for matching webhook endpoints."""
        account = ctx.account
        endpoints = [
            endpoint["id"]
            for endpoint in account.objects[WEBHOOK_ENDPOINT].values()
            if endpoint["status"] == "enabled"
            and ("*" in endpoint["enabled_events"] or type_ in endpoint["enabled_events"])
        ]
        event = objects.event(
            event_id=self.ids.new("evt_1"),
            created=self.clock.timestamp(),
            type_=type_,
            data_object=copy.deepcopy(obj),
            previous_attributes=previous_attributes,
            pending_webhooks=len(endpoints),
            request_id=ctx.request_id,
            idempotency_key=ctx.idempotency_key,
        )
        self.add(account, event)
        if endpoints and self.on_event is not None:
            self.on_event(account.key, event, endpoints)
        return event

    def endpoint_target(self, account_key: str, endpoint_id: str) -> tuple[str, str] | None:
        """`(url, secret)` of a live, enabled endpoint, else None (deleted or disabled)."""
        with self.lock:
            account = self.accounts.get(account_key)
            if account is None:
                return None
            endpoint = account.objects[WEBHOOK_ENDPOINT].get(endpoint_id)
            if endpoint is None or endpoint["status"] != "enabled":
                return None
            return endpoint["url"], account.endpoint_secrets[endpoint_id]

    def delivery_succeeded(self, account_key: str, event_id: str) -> None:
        """One endpoint got the event (a 2xx answer): lower its `pending_webhooks`."""
        with self.lock:
            account = self.accounts.get(account_key)
            event = account.objects[EVENT].get(event_id) if account else None
            if event is not None and event["pending_webhooks"] > 0:
                event["pending_webhooks"] -= 1
                if self.on_change is not None:
                    self.on_change()

    @staticmethod
    def payload(event: dict[str, Any]) -> str:
        """The JSON body Stripe POSTs for an event."""
        return json.dumps(event, indent=2)

    # -- timed work ---------------------------------------------------------------------------

    def schedule(
        self, key: str, delay: float, run: Callable[[], object], spec: dict[str, Any] | None = None
    ) -> None:
        """Run `run` (under the lock) once the emulator clock is `delay` seconds later.

        `spec` (``{"kind": …}`` of a `register_task` kind, JSON-ready) lets the task be saved
        and rebuilt after a restart; tasks without one are forgotten on restart.
        """
        self.cancel(key)
        task = _Task(self.clock.now() + delay, next(self._seq), key, run, spec=spec)
        self._tasks_by_key[key] = task
        heapq.heappush(self._tasks, task)

    def schedule_at(self, key: str, due: float, spec: dict[str, Any]) -> None:
        """Rebuild a saved task from its spec, due at emulator time `due`."""
        run = TASK_BUILDERS[spec["kind"]](self, spec)
        self.schedule(key, due - self.clock.now(), run, spec)

    def pending_tasks(self) -> list[_Task]:
        """Timed work still waiting, soonest first."""
        return sorted(self._tasks_by_key.values())

    def cancel(self, key: str) -> bool:
        """Drop a scheduled task; True if there was one."""
        task = self._tasks_by_key.pop(key, None)
        if task is None:
            return False
        task.cancelled = True
        return True

    def run_now(self, key: str) -> bool:
        """Run a scheduled task immediately; False if none is waiting under `key`."""
        task = self._tasks_by_key.pop(key, None)
        if task is None:
            return False
        task.cancelled = True
        task.run()
        return True

    def tick(self) -> None:
        """Run what is due on the emulator clock: timed tasks, then session expiry."""
        with self.lock:
            now = self.clock.now()
            while self._tasks and self._tasks[0].due <= now:
                task = heapq.heappop(self._tasks)
                if task.cancelled:
                    continue
                self._tasks_by_key.pop(task.key, None)
                if self.on_change is not None:
                    self.on_change()
                try:
                    task.run()
                except StripeError as exc:
                    log.warning("timed task %s refused: %s", task.key, exc.message)
                except Exception:
                    log.exception("timed task %s failed", task.key)
            if self.expirer is None:
                return
            for account in list(self.accounts.values()):
                for session in list(account.objects[SESSION].values()):
                    if session["status"] == "open" and session["expires_at"] <= now:
                        self.expirer(self, Ctx(account), session)
                        if self.on_change is not None:
                            self.on_change()

    def reset(self) -> None:
        """Forget every account, object and timed task."""
        with self.lock:
            self.accounts.clear()
            self._index.clear()
            self._tasks.clear()
            self._tasks_by_key.clear()
