"""The emulator's clock: wall time plus an offset that tests can move forward."""

from __future__ import annotations

import threading
import time


class Clock:
    """Wall-clock time shifted by `advance()`, so expiry can be tested without waiting."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        """Current emulator time in seconds (float)."""
        with self._lock:
            return time.time() + self._offset

    def timestamp(self) -> int:
        """Current emulator time as a Unix timestamp, the way Stripe stamps `created`."""
        return int(self.now())

    @property
    def offset(self) -> float:
        """Seconds the clock has been moved ahead of wall time."""
        with self._lock:
            return self._offset

    def advance(self, seconds: float) -> None:
        """Move the clock forward (never backwards: time only moves one way for Stripe)."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += seconds

    def reset(self) -> None:
        """Go back to wall time."""
        with self._lock:
            self._offset = 0.0
