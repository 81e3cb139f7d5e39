"""Helpers for the order tests: orders over HTTP through the real handlers, vouchers in the store,
the order's Checkout Sessions at the emulator."""

from datetime import timedelta
from typing import Any

from boxoffice import stripe_events
from boxoffice.processors import fulfillment_registry
from boxoffice.store import orders as order_records
from boxoffice.store import vouchers as voucher_store
from boxoffice.stripe_events import handle_bus_event
from tests.support import clock, pipeline
from tests.support import stripe as stripe_support
from tests.support.bus import BusTap
from tests.support.functions import api_fn, checkout_fn
from tests.support.http import ATTENDEE, ATTENDEE_URLS, ORDERS, Reply, call

GENERAL = {"ticket_type_id": "general", "quantity": 1}
WORKSHOP = {"addon_id": "workshop", "quantity": 1}


# --- orders over HTTP -------------------------------------------------------------------------------------------


def create(body: Any = None, claims: dict[str, Any] = ATTENDEE, **kw: Any) -> Reply:
    return call(checkout_fn(), "POST", ORDERS, body=body, claims=claims, **kw)


def create_ok(
    lines: list[dict[str, Any]] | None = None, code: str | None = None, claims: dict[str, Any] = ATTENDEE
) -> dict[str, Any]:
    body: dict[str, Any] = {"lines": lines or [GENERAL]}
    if code is not None:
        body["voucher_code"] = code
    reply = create(body, claims)
    assert reply.status == 201, reply.text
    return reply.json


def order_call(n: int, code: str | None = None) -> Any:
    """Racer ``n`` (an attendee of its own) ordering one general ticket, with ``code`` if given: the
    invocation of the checkout function a container of ``tests.support.containers`` runs."""
    from tests.support.containers import Invocation
    from tests.support.http import api_event

    claims = {"sub": f"user-racer-{n}", "email": f"racer{n}@example.com"}
    body: dict[str, Any] = {"lines": [GENERAL]}
    if code:
        body["voucher_code"] = code
    return Invocation("checkout", api_event("POST", ORDERS, body=body, claims=claims))


def get(order_id: str, claims: dict[str, Any] = ATTENDEE) -> Reply:
    return call(api_fn(), "GET", f"{ORDERS}/{order_id}", claims=claims)


def listing(claims: dict[str, Any] = ATTENDEE, query: str = "") -> Reply:
    return call(api_fn(), "GET", ORDERS, claims=claims, query=query)


def checkout(order_id: str, claims: dict[str, Any] = ATTENDEE) -> Reply:
    return call(checkout_fn(), "POST", f"{ORDERS}/{order_id}/checkout", body=ATTENDEE_URLS, claims=claims)


def checkout_session(order_id: str) -> str:
    """The attendee checks out; the Checkout Session's id."""
    reply = checkout(order_id)
    assert reply.status == 200, reply.text
    return reply.json["session_id"]


def cancel(order_id: str, claims: dict[str, Any] = ATTENDEE) -> Reply:
    return call(checkout_fn(), "POST", f"{ORDERS}/{order_id}/cancel", claims=claims)


def cancel_ok(order_id: str, claims: dict[str, Any] = ATTENDEE) -> None:
    """The order's attendee cancels it, and it is cancelled."""
    reply = cancel(order_id, claims)
    assert reply.status == 200, reply.text
    assert reply.json["status"] == "cancelled"


def check_code(code: str, claims: dict[str, Any] = ATTENDEE) -> Reply:
    return call(api_fn(), "GET", f"/v1/conferences/demo/vouchers/{code}/check", claims=claims)


def voucher_reason(reply: Reply) -> str:
    """The reason a 422 gives for refusing the voucher."""
    assert reply.status == 422, reply.text
    error = reply.json["error"]
    assert error["code"] == "validation_error"
    (detail,) = error["details"]
    assert detail["loc"] == ["body", "voucher_code"]
    return detail["reason"]


def stored(order_id: str) -> order_records.Order:
    order = order_records.get("demo", order_id)
    assert order is not None
    return order


def payments(order_id: str) -> list[order_records.Payment]:
    return order_records.payments_of("demo", order_id)


# --- vouchers in the store ----------------------------------------------------------------------------------------


def voucher_item(code: str = "CODE1", **fields: Any) -> voucher_store.Voucher:
    """A voucher as the store holds one, not saved: 10% off everything, 10 uses, active, no window."""
    values: dict[str, Any] = {
        "conference_id": "demo",
        "code": code,
        "voucher_type": "percentage",
        "discount_value": 10,
        "max_uses": 10,
        "times_used": 0,
        "ticket_type_ids": [],
        "addon_ids": [],
        "is_active": True,
    }
    values.update(fields)
    return voucher_store.Voucher(*voucher_store.Voucher.key("demo", code), **values)


def make_voucher(code: str = "CODE1", **fields: Any) -> voucher_store.Voucher:
    """``voucher_item(code, **fields)`` saved directly in the table."""
    voucher = voucher_item(code, **fields)
    voucher.save()
    return voucher


def times_used(code: str) -> int:
    voucher = voucher_store.get_voucher("demo", code)
    assert voucher is not None
    return int(voucher.times_used)


def set_times_used(code: str, value: int) -> None:
    voucher = voucher_store.get_voucher("demo", code)
    assert voucher is not None
    voucher.update(actions=[voucher_store.Voucher.times_used.set(value)], add_version_condition=False)


# --- the emulator and the event path ---------------------------------------------------------------------------


def sessions_for(emulator: Any, order_id: str) -> list[dict[str, Any]]:
    """Every Checkout Session the in-process emulator holds for the order."""
    return stripe_support.sessions_of(stripe_support.stripe_client(emulator), order_id)


def admit_all(events: list[dict[str, Any]]) -> list[str]:
    """Admit each event as the webhook would, then run the fulfillment processor on what reached the bus."""
    tap = BusTap(("boxoffice.stripe",))
    admitted = [stripe_events.admit("demo", event, source="webhook") for event in events]
    for envelope in tap.drain():
        handle_bus_event(envelope, fulfillment_registry(), pipeline.LEASE)
    return admitted


def paid_by_card(emulator, order_id: str, outcome: str = "succeed") -> str:
    """Check the order out and pay its session with ``outcome``; returns the session id."""
    reply = checkout(order_id)
    assert reply.status == 200, reply.text
    session_id = reply.json["session_id"]
    emulator.pay(session_id, outcome)
    return session_id


def move_hold_into_past(order_id: str, minutes: int = 5) -> None:
    """The hold ended ``minutes`` ago: both the field and the sweep's index key."""
    past = clock.now() - timedelta(minutes=minutes)
    order = stored(order_id)
    order.update(
        actions=[
            order_records.Order.hold_expires_at.set(past),
            order_records.Order.GSI1SK.set(f"{past.isoformat()}#{order_id}"),
        ],
        add_version_condition=False,
    )
