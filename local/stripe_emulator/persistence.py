"""The emulator's state on disk, so a restarted local stack is consistent with "Stripe's side".

Everything the API can show or act on later is saved: each account's objects (sessions,
intents, charges, refunds, disputes, events, webhook endpoints and their secrets, line items),
finished idempotent requests, issued ids, the clock's offset, and timed work still to come
(async payment results, refunds that fail later). Webhook deliveries in flight are not saved:
on restore every event still waiting for an endpoint (``pending_webhooks`` > 0) is queued
again, as Stripe keeps retrying an undelivered event (receivers dedupe by event id).

`Saver` writes after each change, coalesced: a background thread wakes on a change, writes
the whole state to a temporary file and renames it over the old one (a crash never leaves a
half-written file), then waits ``min_interval`` before the next write, so a burst of requests
costs one write, not one per request. ``stop()`` writes a last time.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .store import EVENT, KINDS, WEBHOOK_ENDPOINT, SessionExtras

if TYPE_CHECKING:
    from .emulator import StripeEmulator

log = logging.getLogger("local.stripe_emulator")

FORMAT = 1


def snapshot(emulator: StripeEmulator) -> dict[str, Any]:
    """Everything needed to carry on after a restart, as JSON-ready data."""
    store = emulator.store
    with store.lock:
        accounts = [
            {
                "key": account.key,
                "objects": {kind: list(account.objects[kind].values()) for kind in KINDS},
                "line_items": account.line_items,
                "session_extras": {k: asdict(v) for k, v in account.session_extras.items()},
                "endpoint_secrets": account.endpoint_secrets,
            }
            for account in store.accounts.values()
        ]
        tasks = [
            {"key": task.key, "due": task.due, "spec": task.spec}
            for task in store.pending_tasks()
            if task.spec is not None
        ]
        state = {
            "format": FORMAT,
            "clock_offset": emulator.clock.offset,
            "accounts": accounts,
            "tasks": tasks,
            "ids": emulator.ids.issued(),
            "idempotency": emulator.idempotency.export(),
        }
        copied: dict[str, Any] = json.loads(json.dumps(state))  # a deep copy, taken under the lock
        return copied


def restore(emulator: StripeEmulator, state: dict[str, Any]) -> None:
    """Load a `snapshot()` into a fresh emulator (before it serves anything)."""
    if state.get("format") != FORMAT:
        raise ValueError(f"unknown emulator state format {state.get('format')!r}")
    store = emulator.store
    with store.lock:
        emulator.clock.advance(float(state["clock_offset"]))
        for saved in state["accounts"]:
            account = store.account(saved["key"])
            for kind in KINDS:
                for obj in saved["objects"].get(kind, []):
                    store.add(account, obj)
            account.line_items = saved["line_items"]
            account.session_extras = {k: SessionExtras(**v) for k, v in saved["session_extras"].items()}
            account.endpoint_secrets = saved["endpoint_secrets"]
        for task in state["tasks"]:
            store.schedule_at(task["key"], float(task["due"]), task["spec"])
        emulator.ids.remember(state["ids"])
        emulator.idempotency.load(state["idempotency"])


def redeliver_pending(emulator: StripeEmulator) -> int:
    """Queue again every event some endpoint has not acknowledged yet; returns how many."""
    store = emulator.store
    count = 0
    with store.lock:
        for account in store.accounts.values():
            endpoints = [e for e in account.objects[WEBHOOK_ENDPOINT].values() if e["status"] == "enabled"]
            for event in reversed(account.newest_first(EVENT)):
                if event["pending_webhooks"] <= 0:
                    continue
                targets = [
                    e["id"]
                    for e in endpoints
                    if "*" in e["enabled_events"] or event["type"] in e["enabled_events"]
                ]
                if targets and store.on_event is not None:
                    store.on_event(account.key, event, targets)
                    count += 1
    return count


def rebase_webhook_urls(emulator: StripeEmulator, old_prefix: str, new_prefix: str) -> int:
    """Point endpoints at ``old_prefix…`` to ``new_prefix…`` (the local API moved port); returns how many."""
    store = emulator.store
    moved = 0
    with store.lock:
        for account in store.accounts.values():
            for endpoint in account.objects[WEBHOOK_ENDPOINT].values():
                if old_prefix != new_prefix and endpoint["url"].startswith(old_prefix):
                    endpoint["url"] = new_prefix + endpoint["url"][len(old_prefix) :]
                    moved += 1
    if moved:
        emulator.changed()
    return moved


class Saver:
    """Writes the emulator's state to ``path`` after changes (coalesced) and once more on stop."""

    def __init__(self, emulator: StripeEmulator, path: Path, min_interval: float = 0.2) -> None:
        self.emulator = emulator
        self.path = path
        self.min_interval = min_interval
        self._cond = threading.Condition()
        self._dirty = False
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="stripe-emulator-saver", daemon=True)

    def load(self) -> bool:
        """Restore from ``path`` if it exists; True when state was restored."""
        if not self.path.is_file():
            return False
        restore(self.emulator, json.loads(self.path.read_text()))
        return True

    def start(self) -> None:
        self.emulator.on_change = self.mark
        self._thread.start()

    def mark(self) -> None:
        """Something changed: write soon."""
        with self._cond:
            self._dirty = True
            self._cond.notify()

    def save(self) -> None:
        """Write the state now (atomically: temporary file, then rename)."""
        data = json.dumps(snapshot(self.emulator))
        temporary = self.path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(data)
        os.replace(temporary, self.path)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._dirty and not self._stopped:
                    self._cond.wait()
                if self._stopped:
                    return
                self._dirty = False
            try:
                self.save()
            except Exception:
                log.exception("saving the emulator's state failed")
            with self._cond:
                self._cond.wait_for(lambda: self._stopped, timeout=self.min_interval)

    def stop(self) -> None:
        """Stop the thread and write the final state."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._thread.join(timeout=10)
        self.emulator.on_change = None
        self.save()
