"""The Stripe event path in process: admit an event as the webhook does, run its processor as the
bus would deliver it, run it again as a Lambda retry or a staff replay would.

The emulator's own events go through the real pipeline (admission, the bus, the processors), so a
test sees exactly what production does with them.
"""

from datetime import timedelta
from typing import Any

from boxoffice import stripe_events
from boxoffice.processors import fulfillment_registry, refunds_registry
from boxoffice.stripe_events import Registry, handle_bus_event
from tests.support.bus import BusTap
from tests.support.stripe import emulator_events

LEASE = timedelta(seconds=30)
"""How long a processor holds an event it works on (the functions' own lease)."""

REFUND_EVENTS = ("charge.", "refund.")
"""Event types the refunds function handles (refunds and disputes); every other goes to fulfilment."""


def registry_for(event_type: str) -> Registry:
    """The registry of the function the bus delivers ``event_type`` to."""
    return refunds_registry() if event_type.startswith(REFUND_EVENTS) else fulfillment_registry()


def envelope_for(event: dict[str, Any], cid: str = "demo") -> dict[str, Any]:
    """What the bus delivers to a processor for an admitted event (source ``boxoffice.stripe``)."""
    return {
        "version": "0",
        "id": "00000000-0000-0000-0000-000000000000",
        "detail-type": event["type"],
        "source": "boxoffice.stripe",
        "account": "123456789012",
        "time": "2026-11-23T10:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {"conference_id": cid, "event_id": event["id"]},
    }


def admit(event: dict[str, Any], cid: str = "demo") -> dict[str, Any]:
    """Admit ``event`` as the webhook does (record it once, publish it); returns the bus envelope."""
    assert stripe_events.admit(cid, event, source="webhook") == "recorded"
    return envelope_for(event, cid)


def process_one(event: dict[str, Any], cid: str = "demo") -> str:
    """Admit ``event`` and run its processor once, as the function would (raises what it raises)."""
    return handle_bus_event(admit(event, cid), registry_for(event["type"]), LEASE)


def process(events: list[dict[str, Any]], cid: str = "demo") -> list[str]:
    """Admit ``events`` as the webhook does, then run each one that reached the bus, in that order.

    Returns the processing outcomes. An event admitted before is a duplicate: it is not published
    again, so it is not processed again.
    """
    tap = BusTap(("boxoffice.stripe",))
    order = [e["id"] for e in events if stripe_events.admit(cid, e, source="webhook") == "recorded"]
    envelopes = {env["detail"]["event_id"]: env for env in tap.drain()}
    return [handle_bus_event(envelopes[i], registry_for(envelopes[i]["detail-type"]), LEASE) for i in order]


def sync(emulator: Any) -> list[str]:
    """Every event the emulator has emitted so far, through the pipeline, oldest first."""
    return process(emulator_events(emulator))


def rerun(event: dict[str, Any], cid: str = "demo") -> str:
    """Run the processor again on an already admitted event (a Lambda retry or a staff replay)."""
    return handle_bus_event(envelope_for(event, cid), registry_for(event["type"]), LEASE)
