"""Helpers shared by the bulk purchase tests: real handlers, the emulator's real events, the table."""

import re
from datetime import timedelta
from typing import Any

from boxoffice import bulk_purchases, stripe_events
from boxoffice.processors import fulfillment_registry, refunds_registry
from boxoffice.store import bulk_purchases as purchase_records
from boxoffice.store import stripe_events as event_records
from boxoffice.store import vouchers as voucher_store
from boxoffice.stripe_events import Registry, handle_bus_event
from boxoffice.voucher_codes import ALPHABET
from tests.support.bus import BusTap
from tests.support.functions import load_function
from tests.support.http import ADMIN, DEMO_CONFERENCE, OTHER_STAFF, STAFF, Reply, call

LEASE = timedelta(seconds=30)
BASE = "/v1/conferences/demo/bulk-purchases"
URLS = {"success_url": "https://sponsor.example/ok", "cancel_url": "https://sponsor.example/cancel"}
ZETA = {"sub": "user-zeta", "email": "zeta@example.com", "cognito:groups": ["sponsor:demo:zeta"]}
CODE_CHARS = f"[{ALPHABET}]"
FULFILLMENT_TYPES = ("checkout.session.",)


def checkout_fn():
    return load_function("checkout").handler


def fulfillment_fn():
    return load_function("fulfillment").handler


def api_fn():
    return load_function("api").handler


def staff_body(**overrides: Any) -> dict[str, Any]:
    """A valid staff request: 10 general tickets for acme at 20000, percentage codes."""
    body: dict[str, Any] = {
        "sponsor_id": "acme",
        "quantity": 10,
        "ticket_type_id": "general",
        "unit_price": 20000,
        "voucher_config": {"voucher_type": "percentage", "discount_value": 50, "max_uses": 2},
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def comp_body(**overrides: Any) -> dict[str, Any]:
    return staff_body(
        **{"unit_price": 0, "voucher_config": {"voucher_type": "comp", "max_uses": 1}, **overrides}
    )


def create(body: dict[str, Any], claims: dict[str, Any] = STAFF, cid: str = "demo", **kw: Any) -> Reply:
    return call(
        checkout_fn(), "POST", f"/v1/conferences/{cid}/bulk-purchases", body=body, claims=claims, **kw
    )


def create_ok(body: dict[str, Any], claims: dict[str, Any] = STAFF, cid: str = "demo") -> dict[str, Any]:
    reply = create(body, claims, cid)
    assert reply.status == 201, reply.text
    return reply.json


def checkout(pid: str, claims: dict[str, Any] = STAFF, cid: str = "demo") -> Reply:
    return call(
        checkout_fn(),
        "POST",
        f"/v1/conferences/{cid}/bulk-purchases/{pid}/checkout",
        body=URLS,
        claims=claims,
    )


def approve(pid: str, claims: dict[str, Any] = STAFF, cid: str = "demo") -> Reply:
    return call(checkout_fn(), "POST", f"/v1/conferences/{cid}/bulk-purchases/{pid}/approve", claims=claims)


def fulfill(pid: str, claims: dict[str, Any] = STAFF, cid: str = "demo") -> Reply:
    return call(
        fulfillment_fn(), "POST", f"/v1/conferences/{cid}/bulk-purchases/{pid}/fulfill", claims=claims
    )


def get(pid: str, claims: dict[str, Any] = STAFF, cid: str = "demo") -> Reply:
    return call(api_fn(), "GET", f"/v1/conferences/{cid}/bulk-purchases/{pid}", claims=claims)


def vouchers(pid: str, claims: dict[str, Any] = STAFF, query: str = "", cid: str = "demo") -> Reply:
    return call(
        api_fn(), "GET", f"/v1/conferences/{cid}/bulk-purchases/{pid}/vouchers", claims=claims, query=query
    )


def comp_fulfilled(quantity: int = 5, **overrides: Any) -> dict[str, Any]:
    """A comp deal created, approved and fulfilled by staff; returns the purchase view."""
    purchase = create_ok(comp_body(quantity=quantity, **overrides))
    assert approve(purchase["id"]).status == 200
    reply = fulfill(purchase["id"])
    assert reply.status == 200, reply.text
    return reply.json["bulk_purchase"]


def state(pid: str, cid: str = "demo") -> dict[str, Any]:
    """The purchase as the API shows it to an admin."""
    reply = call(api_fn(), "GET", f"/v1/conferences/{cid}/bulk-purchases/{pid}", claims=ADMIN)
    assert reply.status == 200, reply.text
    return reply.json


def stored(pid: str, cid: str = "demo") -> purchase_records.BulkPurchase:
    purchase = purchase_records.get(cid, pid)
    assert purchase is not None
    return purchase


def stored_vouchers(cid: str = "demo") -> list[voucher_store.Voucher]:
    """Every Voucher item of the conference, by a table scan (no help from the code under test)."""
    return list(voucher_store.Voucher.scan(voucher_store.Voucher.PK.startswith(f"VOUCHER#{cid}#")))


def bulk_items() -> list[dict[str, Any]]:
    """Every raw table item a bulk purchase writes (purchase, list entry, code segment), by a scan."""
    import os

    import boto3

    pages = boto3.client("dynamodb").get_paginator("scan").paginate(TableName=os.environ["TABLE_NAME"])
    prefixes = ("BP#", "BPS#", "CODESEG#")
    return [i for page in pages for i in page["Items"] if i["PK"]["S"].startswith(prefixes)]


def purchase_ids(cid: str = "demo") -> list[str]:
    """The purchases staff can list (every one of the conference)."""
    reply = call(api_fn(), "GET", f"/v1/conferences/{cid}/bulk-purchases", claims=ADMIN, query="limit=200")
    assert reply.status == 200, reply.text
    return [p["id"] for p in reply.json["items"]]


def code_pattern(prefix: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(prefix)}{CODE_CHARS}{{4}}-{CODE_CHARS}{{10}}$")


def redeem(cid: str, code: str, times: int = 1) -> None:
    """Simulate a redemption the way an order would record it: times_used on the one item."""
    voucher = voucher_store.get_voucher(cid, code)
    assert voucher is not None
    voucher.update(actions=[voucher_store.Voucher.times_used.set(times)], add_version_condition=False)


def expire_lease(pid: str, cid: str = "demo") -> None:
    purchase = stored(pid, cid)
    purchase.update(
        actions=[
            purchase_records.BulkPurchase.fulfillment_lease_until.set(
                bulk_purchases.store.now() - timedelta(minutes=10)
            )
        ],
        add_version_condition=False,
    )


def die_after_stripe_answers(monkeypatch) -> list[str]:
    """The function dies right after Stripe created the session, before any write of ours."""
    from boxoffice import stripe_gateway

    real = stripe_gateway.create_checkout_session
    created: list[str] = []

    def create_then_die(*args: Any, **kwargs: Any) -> dict[str, Any]:
        session = real(*args, **kwargs)
        created.append(session["id"])
        raise RuntimeError("the function died after Stripe answered")

    monkeypatch.setattr(stripe_gateway, "create_checkout_session", create_then_die)
    return created


# --- the emulator's real objects and events --------------------------------------------------------------


def stripe_client(emulator):
    import stripe

    return stripe.StripeClient(
        DEMO_CONFERENCE["stripe"]["secret_key"], base_addresses={"api": emulator.url}, max_network_retries=0
    )


def emulator_events(emulator, event_type: str | None = None, **match: Any) -> list[dict[str, Any]]:
    """The emulator's events (of ``event_type``), oldest first, whose object matches ``match``."""
    params: dict[str, Any] = {"limit": 100}
    if event_type is not None:
        params["type"] = event_type
    page = stripe_client(emulator).v1.events.list(params=params)
    events = [e.to_dict() for e in page.auto_paging_iter()]  # newest first, as Stripe lists them
    events = [e for e in events if all(e["data"]["object"].get(k) == v for k, v in match.items())]
    return events[::-1]


def one_event(emulator, event_type: str, **match: Any) -> dict[str, Any]:
    found = emulator_events(emulator, event_type, **match)
    assert len(found) == 1, [e["type"] for e in found]
    return found[0]


def registry_for(event_type: str) -> Registry:
    return fulfillment_registry() if event_type.startswith(FULFILLMENT_TYPES) else refunds_registry()


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


def process(event: dict[str, Any], cid: str = "demo") -> str:
    """Admit ``event`` and run its processor once, as the function would (raises what it raises)."""
    return handle_bus_event(admit(event, cid), registry_for(event["type"]), LEASE)


def rerun(event: dict[str, Any], cid: str = "demo") -> str:
    """Run the processor again on an already admitted event (a Lambda retry or a staff replay)."""
    return handle_bus_event(envelope_for(event, cid), registry_for(event["type"]), LEASE)


def event_status(event_id: str, cid: str = "demo") -> str:
    record = event_records.get_event(cid, event_id)
    assert record is not None
    return record.status


def variant(
    event: dict[str, Any], event_id: str, event_type: str | None = None, **obj: Any
) -> dict[str, Any]:
    """A copy of a real emulator event with a new id, and optionally a new type or object fields."""
    return {
        **event,
        "id": event_id,
        "type": event_type or event["type"],
        "data": {**event["data"], "object": {**event["data"]["object"], **obj}},
    }


def checked_out(emulator, body: dict[str, Any] | None = None) -> tuple[dict[str, Any], str]:
    """A purchase in processing with a Stripe session; returns (purchase view, session id)."""
    purchase = create_ok(body or staff_body())
    reply = checkout(purchase["id"])
    assert reply.status == 200, reply.text
    return purchase, reply.json["session_id"]


def paid(emulator, body: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """A purchase paid by card and fulfilled through its completed event; returns (view, event)."""
    purchase, session_id = checked_out(emulator, body)
    emulator.pay(session_id, "succeed")
    completed = one_event(emulator, "checkout.session.completed", id=session_id)
    assert process(completed) == "processed"
    assert stored(purchase["id"]).status == "paid"
    return purchase, completed


def domain_events(tap: BusTap, detail_type: str) -> list[dict[str, Any]]:
    return [e["detail"] for e in tap.drain() if e["detail-type"] == detail_type]


def other_conference() -> None:
    """A second tenant ``other`` with its own catalog: ids that exist only there."""
    api = api_fn()
    body = {**DEMO_CONFERENCE, "name": "Other Conf"}
    assert call(api, "PUT", "/v1/conferences/other", body=body, claims=ADMIN).status == 201
    for path, item in [
        ("ticket-types/vip", {"name": "VIP", "price": 90000, "bulk_enabled": True}),
        ("addons/dinner", {"name": "Dinner", "price": 7000, "bulk_enabled": True}),
        ("sponsors/globex", {"name": "Globex", "slug": "globex", "contact_email": "ops@globex.example"}),
    ]:
        reply = call(api, "PUT", f"/v1/conferences/other/{path}", body=item, claims=OTHER_STAFF)
        assert reply.status == 201, reply.text


def put_catalog(path: str, body: dict[str, Any], cid: str = "demo") -> None:
    reply = call(api_fn(), "PUT", f"/v1/conferences/{cid}/{path}", body=body, claims=STAFF)
    assert reply.status in (200, 201), reply.text


def second_paid_session(emulator, purchase: dict[str, Any]) -> str:
    """A second tab: another paid Checkout Session carrying the purchase's metadata; returns its intent."""
    from tests.support.stripe import another_paid_session

    metadata = {"bulk_purchase_id": purchase["id"], "conference_id": "demo", "sponsor_id": "acme"}
    return another_paid_session(stripe_client(emulator), emulator, metadata, purchase["total_amount"])
