"""Stripe-looking object ids (`cs_test_…`, `pi_…`, `evt_…`), unique across all accounts."""

from __future__ import annotations

import secrets
import string
import threading

_ALPHABET = string.ascii_letters + string.digits

# prefix → number of random characters after it, roughly as long as Stripe's own ids.
_LENGTHS: dict[str, int] = {
    "cs_test_a1": 56,
    "pi_3": 23,
    "ch_3": 23,
    "re_3": 23,
    "py_3": 23,
    "evt_1": 23,
    "we_1": 23,
    "whsec_": 32,
    "li_1": 23,
    "price_1": 23,
    "prod_": 14,
    "pm_1": 23,
    "mandate_1": 23,
    "dp_1": 23,
    "txn_3": 23,
    "req_": 14,
}


class IdFactory:
    """Hands out random ids and remembers them, so an id is never issued twice."""

    def __init__(self) -> None:
        self._issued: set[str] = set()
        self._lock = threading.Lock()

    def new(self, prefix: str) -> str:
        """A fresh id starting with `prefix` (see `_LENGTHS` for the known prefixes)."""
        length = _LENGTHS.get(prefix, 24)
        with self._lock:
            while True:
                candidate = prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))
                if candidate not in self._issued:
                    self._issued.add(candidate)
                    return candidate

    def issued(self) -> list[str]:
        """Every id handed out so far (saved with the emulator's state)."""
        with self._lock:
            return sorted(self._issued)

    def remember(self, ids: list[str]) -> None:
        """Never hand out these ids (restored from a saved state)."""
        with self._lock:
            self._issued.update(ids)
