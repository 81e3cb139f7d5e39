"""Helpers for the bulk purchase tests: purchases over HTTP through the real handlers, their codes
and records in the table, and their Checkout Sessions paid at the emulator."""

import re
from datetime import timedelta
from typing import Any

from boxoffice import bulk_purchases
from boxoffice.store import bulk_purchases as purchase_records
from boxoffice.store import stripe_events as event_records
from boxoffice.store import vouchers as voucher_store
from boxoffice.voucher_codes import ALPHABET
from tests.support import pipeline
from tests.support import stripe as stripe_support
from tests.support.functions import api_fn, checkout_fn, fulfillment_fn, refunds_fn
from tests.support.http import ADMIN, SPONSOR_URLS, STAFF, Reply, call

BASE = "/v1/conferences/demo/bulk-purchases"
ZETA = {"sub": "user-zeta", "email": "zeta@example.com", "cognito:groups": ["sponsor:demo:zeta"]}
CODE_CHARS = f"[{ALPHABET}]"


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
        body=SPONSOR_URLS,
        claims=claims,
    )


def approve(pid: str, claims: dict[str, Any] = STAFF, cid: str = "demo") -> Reply:
    return call(checkout_fn(), "POST", f"/v1/conferences/{cid}/bulk-purchases/{pid}/approve", claims=claims)


def fulfill(pid: str, claims: dict[str, Any] = STAFF, cid: str = "demo") -> Reply:
    return call(
        fulfillment_fn(), "POST", f"/v1/conferences/{cid}/bulk-purchases/{pid}/fulfill", claims=claims
    )


def refund_ok(pid: str, amount: int | None = None, cid: str = "demo") -> dict[str, Any]:
    """Staff refund the purchase (all of what is left when ``amount`` is None); it must be taken."""
    body: dict[str, Any] = {"reason": "requested_by_customer"}
    if amount is not None:
        body["amount"] = amount
    reply = call(
        refunds_fn(), "POST", f"/v1/conferences/{cid}/bulk-purchases/{pid}/refund", body=body, claims=STAFF
    )
    assert reply.status == 201, reply.text
    return reply.json


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


def event_status(event_id: str, cid: str = "demo") -> str:
    record = event_records.get_event(cid, event_id)
    assert record is not None
    return record.status


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
    completed = stripe_support.one_event(emulator, "checkout.session.completed", id=session_id)
    assert pipeline.process_one(completed) == "processed"
    assert stored(purchase["id"]).status == "paid"
    return purchase, completed


def put_catalog(path: str, body: dict[str, Any], cid: str = "demo") -> None:
    reply = call(api_fn(), "PUT", f"/v1/conferences/{cid}/{path}", body=body, claims=STAFF)
    assert reply.status in (200, 201), reply.text


def second_paid_session(emulator, purchase: dict[str, Any]) -> str:
    """A second tab: another paid Checkout Session carrying the purchase's metadata; returns its intent."""
    metadata = {"bulk_purchase_id": purchase["id"], "conference_id": "demo", "sponsor_id": "acme"}
    client = stripe_support.stripe_client(emulator)
    return stripe_support.another_paid_session(client, emulator, metadata, purchase["total_amount"])
