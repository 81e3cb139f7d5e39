"""Stripe's `Idempotency-Key` semantics for POST requests, scoped per account key.

- The first request with a key runs; its response is saved once the endpoint has started
  working (parameter validation errors are not saved, as with Stripe).
- The same key with the same endpoint and parameters replays the saved response, marked with
  `Idempotent-Replayed: true`.
- The same key with other parameters or another endpoint is a 400 `idempotency_error`.
- The same key while the first request is still running is a 409.
Keys are forgotten after 24 hours on the emulator clock.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from .errors import StripeError, idempotency_error, idempotency_key_in_use

TTL = 24 * 60 * 60


@dataclass
class Saved:
    """A finished request's response."""

    status: int
    body: bytes
    headers: dict[str, str]


@dataclass
class _Entry:
    method: str
    path: str
    params: dict[str, Any]
    created: float
    response: Saved | None = None


class IdempotencyCache:
    """Remembers idempotent requests by `(account key, idempotency key)`."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._lock = threading.Lock()

    def begin(
        self, account: str, key: str, method: str, path: str, params: dict[str, Any], now: float
    ) -> Saved | None:
        """Claim `key`; returns a saved response to replay, None to go ahead, or raises."""
        with self._lock:
            entry = self._entries.get((account, key))
            if entry is not None and now - entry.created > TTL:
                entry = None
            if entry is None:
                self._entries[(account, key)] = _Entry(method, path, params, now)
                return None
            if entry.response is None:
                raise idempotency_key_in_use()
            if (entry.method, entry.path) != (method, path):
                raise idempotency_error(
                    "Keys for idempotent requests can only be used for the same endpoint they were first "
                    f"used for ('{entry.method} {entry.path}' vs '{method} {path}'). Try using a key other "
                    f"than '{key}' if you meant to execute a different request."
                )
            if entry.params != params:
                raise idempotency_error(
                    "Keys for idempotent requests can only be used with the same parameters they were "
                    f"first used with. Try using a key other than '{key}' if you meant to execute a "
                    "different request."
                )
            return entry.response

    def finish(self, account: str, key: str, response: Saved) -> None:
        """Save the response of the request that claimed `key`."""
        with self._lock:
            entry = self._entries.get((account, key))
            if entry is not None:
                entry.response = response

    def abandon(self, account: str, key: str) -> None:
        """Release `key` without saving (validation errors, injected faults, crashes)."""
        with self._lock:
            entry = self._entries.get((account, key))
            if entry is not None and entry.response is None:
                del self._entries[(account, key)]

    def export(self) -> list[dict[str, Any]]:
        """Finished requests, JSON-ready (requests still running are not worth replaying)."""
        with self._lock:
            return [
                {
                    "account": account,
                    "key": key,
                    "method": e.method,
                    "path": e.path,
                    "params": e.params,
                    "created": e.created,
                    "status": e.response.status,
                    "body": e.response.body.decode("utf-8"),
                    "headers": e.response.headers,
                }
                for (account, key), e in self._entries.items()
                if e.response is not None
            ]

    def load(self, saved: list[dict[str, Any]]) -> None:
        """Restore `export()`ed requests."""
        with self._lock:
            for s in saved:
                response = Saved(s["status"], s["body"].encode("utf-8"), s["headers"])
                entry = _Entry(s["method"], s["path"], s["params"], s["created"], response)
                self._entries[(s["account"], s["key"])] = entry

    def reset(self) -> None:
        """Forget every key."""
        with self._lock:
            self._entries.clear()


def is_saved_error(error: StripeError) -> bool:
    """Errors raised after the endpoint started work are saved and replayed; 5xx are not."""
    return error.status < 500
