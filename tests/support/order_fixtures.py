"""Helpers shared by the order tests: real handlers, vouchers in the store, the emulator's real events."""

from datetime import UTC, datetime, timedelta
from typing import Any

from boxoffice import stripe_events
from boxoffice.processors import fulfillment_registry
from boxoffice.store import orders as order_records
from boxoffice.store import vouchers as voucher_store
from boxoffice.stripe_events import handle_bus_event
from tests.support.bus import BusTap
from tests.support.functions import load_function
from tests.support.http import ADMIN, ATTENDEE, DEMO_CONFERENCE, OTHER_STAFF, Reply, call

LEASE = timedelta(seconds=30)
BASE = "/v1/conferences/demo/orders"
URLS = {"success_url": "https://attendee.example/ok", "cancel_url": "https://attendee.example/cancel"}
OTHER_ATTENDEE = {"sub": "user-attendee-2", "email": "attendee2@example.com"}
GENERAL = {"ticket_type_id": "general", "quantity": 1}
WORKSHOP = {"addon_id": "workshop", "quantity": 1}


def checkout_fn():
    return load_function("checkout").handler


def api_fn():
    return load_function("api").handler


def now() -> datetime:
    return datetime.now(UTC)


# --- orders over HTTP -------------------------------------------------------------------------------------------


def create(body: Any = None, claims: dict[str, Any] = ATTENDEE, **kw: Any) -> Reply:
    return call(checkout_fn(), "POST", BASE, body=body, claims=claims, **kw)


def create_ok(
    lines: list[dict[str, Any]] | None = None, code: str | None = None, claims: dict[str, Any] = ATTENDEE
) -> dict[str, Any]:
    body: dict[str, Any] = {"lines": lines or [GENERAL]}
    if code is not None:
        body["voucher_code"] = code
    reply = create(body, claims)
    assert reply.status == 201, reply.text
    return reply.json


def get(order_id: str, claims: dict[str, Any] = ATTENDEE) -> Reply:
    return call(api_fn(), "GET", f"{BASE}/{order_id}", claims=claims)


def listing(claims: dict[str, Any] = ATTENDEE, query: str = "") -> Reply:
    return call(api_fn(), "GET", BASE, claims=claims, query=query)


def checkout(order_id: str, claims: dict[str, Any] = ATTENDEE) -> Reply:
    return call(checkout_fn(), "POST", f"{BASE}/{order_id}/checkout", body=URLS, claims=claims)


def cancel(order_id: str, claims: dict[str, Any] = ATTENDEE) -> Reply:
    return call(checkout_fn(), "POST", f"{BASE}/{order_id}/cancel", claims=claims)


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


def make_voucher(code: str = "CODE1", **fields: Any) -> voucher_store.Voucher:
    """A voucher saved directly in the table: 10% off everything, 10 uses, active, no window."""
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
    voucher = voucher_store.Voucher(*voucher_store.Voucher.key("demo", code), **values)
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


def stripe_client(emulator):
    import stripe

    return stripe.StripeClient(
        DEMO_CONFERENCE["stripe"]["secret_key"], base_addresses={"api": emulator.url}, max_network_retries=0
    )


def emulator_events(emulator, event_type: str | None = None) -> list[dict[str, Any]]:
    """The emulator's events (of ``event_type``), oldest first."""
    params: dict[str, Any] = {"limit": 100}
    if event_type is not None:
        params["type"] = event_type
    page = stripe_client(emulator).v1.events.list(params=params)
    return [e.to_dict() for e in page.auto_paging_iter()][::-1]


def sessions_for(emulator, order_id: str) -> list[dict[str, Any]]:
    page = stripe_client(emulator).v1.checkout.sessions.list(params={"limit": 100})
    found = [s.to_dict() for s in page.auto_paging_iter()]
    return [s for s in found if (s.get("metadata") or {}).get("order_id") == order_id]


def admit_all(events: list[dict[str, Any]]) -> list[str]:
    """Admit each event as the webhook would, then run the fulfillment processor on what reached the bus."""
    tap = BusTap(("boxoffice.stripe",))
    admitted = [stripe_events.admit("demo", event, source="webhook") for event in events]
    for envelope in tap.drain():
        handle_bus_event(envelope, fulfillment_registry(), LEASE)
    return admitted


def paid_by_card(emulator, order_id: str, outcome: str = "succeed") -> str:
    """Check the order out and pay its session with ``outcome``; returns the session id."""
    reply = checkout(order_id)
    assert reply.status == 200, reply.text
    session_id = reply.json["session_id"]
    emulator.pay(session_id, outcome)
    return session_id


def domain_events(tap: BusTap, detail_type: str = "order.paid") -> list[dict[str, Any]]:
    return [e["detail"] for e in tap.drain() if e["detail-type"] == detail_type]


def move_hold_into_past(order_id: str, minutes: int = 5) -> None:
    """The hold ended ``minutes`` ago: both the field and the sweep's index key."""
    past = now() - timedelta(minutes=minutes)
    order = stored(order_id)
    order.update(
        actions=[
            order_records.Order.hold_expires_at.set(past),
            order_records.Order.GSI1SK.set(f"{past.isoformat()}#{order_id}"),
        ],
        add_version_condition=False,
    )


def other_conference() -> None:
    """A second tenant ``other`` with a ticket type ``vip`` that exists only there."""
    body = {**DEMO_CONFERENCE, "name": "Other Conf"}
    assert call(api_fn(), "PUT", "/v1/conferences/other", body=body, claims=ADMIN).status == 201
    reply = call(
        api_fn(),
        "PUT",
        "/v1/conferences/other/ticket-types/vip",
        body={"name": "VIP", "price": 90000, "bulk_enabled": True},
        claims=OTHER_STAFF,
    )
    assert reply.status == 201, reply.text
