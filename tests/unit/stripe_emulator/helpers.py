"""Helpers shared by the emulator tests (fixtures live in conftest.py)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import stripe

SECRET_KEY = "sk_test_boxoffice"


def wait_for(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.01) -> Any:
    """Poll until `predicate()` is truthy; return its value or fail the test."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {predicate}")
        time.sleep(interval)


def line_item(currency: str, unit_amount: int, name: str = "Ticket", quantity: int = 1) -> dict[str, Any]:
    """One `line_items[]` entry with inline `price_data`."""
    return {
        "price_data": {"currency": currency, "unit_amount": unit_amount, "product_data": {"name": name}},
        "quantity": quantity,
    }


def session_params(**overrides: Any) -> dict[str, Any]:
    """Valid Checkout Session parameters (one line item: 2 tickets at $25.00)."""
    params: dict[str, Any] = {
        "mode": "payment",
        "success_url": "https://boxoffice.test/done?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://boxoffice.test/cancel",
        "client_reference_id": "bp_123",
        "metadata": {"bulk_purchase_id": "bp_123", "conference_id": "demo"},
        "payment_intent_data": {"metadata": {"bulk_purchase_id": "bp_123", "conference_id": "demo"}},
        "line_items": [
            {
                "price_data": {
                    "currency": "usd",
                    "unit_amount": 2500,
                    "product_data": {"name": "Conference ticket"},
                },
                "quantity": 2,
            }
        ],
    }
    params.update(overrides)
    return params


@dataclass
class Delivery:
    """One webhook POST the receiver got."""

    path: str
    headers: dict[str, str]
    body: str

    @property
    def event(self) -> dict[str, Any]:
        """The JSON event."""
        return json.loads(self.body)


@dataclass
class Receiver:
    """A tiny HTTP server that records webhook deliveries and answers with scripted statuses."""

    url: str
    deliveries: list[Delivery] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def events(self) -> list[dict[str, Any]]:
        """The events received so far, in arrival order."""
        with self.lock:
            return [d.event for d in self.deliveries]

    def types(self) -> list[str]:
        """The event types received so far, in arrival order."""
        return [e["type"] for e in self.events()]

    def wait_for_count(self, count: int, timeout: float = 5.0) -> list[Delivery]:
        """Wait until at least `count` deliveries arrived."""
        wait_for(lambda: len(self.deliveries) >= count, timeout)
        with self.lock:
            return list(self.deliveries)


def event_types(client: stripe.StripeClient, **params: Any) -> list[str]:
    """All event types of the account, oldest first."""
    listing = client.v1.events.list(params={"limit": 100, **params})
    return [event.type for event in reversed(listing.data)]
