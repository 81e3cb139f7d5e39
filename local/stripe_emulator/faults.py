"""Fault injection for API calls: the next N requests fail with a 500 or a dropped connection."""

from __future__ import annotations

import threading
from collections import deque

MODES = ("500", "reset", "reset_after")
"""`500`: Stripe's api_error JSON, nothing done. `reset`: the connection is closed before
anything is done. `reset_after`: the request is carried out, then the connection is closed
without a response (the client cannot know it worked; a retry with the same idempotency key
gets the saved result)."""


class Faults:
    """A queue of failures for the next API calls (`/v1/...` only)."""

    def __init__(self) -> None:
        self._pending: deque[str] = deque()
        self._lock = threading.Lock()

    def fail_next(self, n: int = 1, mode: str = "500") -> None:
        """Make the next `n` API calls fail in `mode`."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        if n < 0:
            raise ValueError("n must be >= 0")
        with self._lock:
            self._pending.extend([mode] * n)

    def take(self) -> str | None:
        """The failure for this request, if one is queued."""
        with self._lock:
            return self._pending.popleft() if self._pending else None

    def pending(self) -> list[str]:
        """Failures still queued."""
        with self._lock:
            return list(self._pending)

    def reset(self) -> None:
        """Forget queued failures."""
        with self._lock:
            self._pending.clear()
