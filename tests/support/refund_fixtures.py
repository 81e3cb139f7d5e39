"""Helpers shared by the refund and store credit tests.

Orders are created and paid through the real handlers and the in-process Stripe emulator, and the
emulator's own events are fed through the real pipeline (admission, the bus, the processors).
Amounts are minor units: an order of 10000 stands for "100".
"""

from datetime import UTC, datetime, timedelta
from typing import Any

from boxoffice import stripe_events
from boxoffice.processors import fulfillment_registry, refunds_registry
from boxoffice.store import credits as credit_records
from boxoffice.store import orders as order_records
from boxoffice.store import refunds as refund_records
from boxoffice.store import vouchers as voucher_store
from boxoffice.stripe_events import Registry, handle_bus_event
from tests.support.bus import BusTap
from tests.support.functions import load_function
from tests.support.http import ATTENDEE, DEMO_CONFERENCE, STAFF, Reply, call
from tests.support.stripe import another_paid_session

LEASE = timedelta(seconds=30)
ORDERS = "/v1/conferences/demo/orders"
CREDITS = "/v1/conferences/demo/credits"
URLS = {"success_url": "https://attendee.example/ok", "cancel_url": "https://attendee.example/cancel"}
OTHER_ATTENDEE = {"sub": "user-attendee-2", "email": "attendee2@example.com"}
WORKSHOP = 5000
"""The demo add-on's price: orders here are built from workshops, so totals are multiples of 5000."""


def now() -> datetime:
    return datetime.now(UTC)


def checkout_fn():
    return load_function("checkout").handler


def refunds_fn():
    return load_function("refunds").handler


def api_fn():
    return load_function("api").handler


# --- orders ---------------------------------------------------------------------------------------------------


def new_order(total: int = 10000, claims: dict[str, Any] = ATTENDEE) -> dict[str, Any]:
    """A pending order of ``total`` (a multiple of 5000: that many workshops) for ``claims``."""
    assert total % WORKSHOP == 0
    body = {"lines": [{"addon_id": "workshop", "quantity": total // WORKSHOP}]}
    reply = call(checkout_fn(), "POST", ORDERS, body=body, claims=claims)
    assert reply.status == 201, reply.text
    assert reply.json["total"] == total
    return reply.json


def pay_order(emulator, order_id: str, claims: dict[str, Any] = ATTENDEE) -> str:
    """Check the order out, pay on the emulator's page, run the events; returns the payment intent id."""
    reply = call(checkout_fn(), "POST", f"{ORDERS}/{order_id}/checkout", body=URLS, claims=claims)
    assert reply.status == 200, reply.text
    session_id = reply.json["session_id"]
    emulator.pay(session_id, "succeed")
    sync(emulator)
    order = stored(order_id)
    assert order.status == "paid", order.status
    session = stripe_client(emulator).v1.checkout.sessions.retrieve(session_id).to_dict()
    return session["payment_intent"]


def paid_order(emulator, total: int = 10000, claims: dict[str, Any] = ATTENDEE) -> dict[str, Any]:
    """An order of ``total`` paid by card; the returned view has ``payment_intent_id`` added."""
    order = new_order(total, claims)
    intent = pay_order(emulator, order["id"], claims)
    return {**order, "payment_intent_id": intent}


def stored(order_id: str) -> order_records.Order:
    order = order_records.get("demo", order_id)
    assert order is not None
    return order


def money(order_id: str) -> dict[str, Any]:
    """The order's status and every amount that refunds move."""
    order = stored(order_id)
    return {
        "status": order.status,
        "amount_paid": int(order.amount_paid),
        "amount_refunded": int(order.amount_refunded),
        "refundable": min(int(order.refundable), int(order.refundable_total)),  # to the card
        "refund_reserved": int(order.refund_reserved),
    }


def store_credit_balance(order_id: str) -> int:
    """What may still go back as store credit: everything paid minus every refund."""
    return int(stored(order_id).refundable_total)


def bump(order_id: str, **amounts: int) -> None:
    """Add to the order's amount attributes by hand (synthetic setup)."""
    order = stored(order_id)
    actions = [getattr(order_records.Order, name).add(value) for name, value in amounts.items()]
    order.update(actions=actions, add_version_condition=False)


def add_payment(
    order_id: str,
    method: str,
    amount: int,
    *,
    payment_intent_id: str | None = None,
    created_at: datetime | None = None,
) -> order_records.Payment:
    """A Payment item written straight into the order's partition (synthetic setup)."""
    payment_id = f"pay_{payment_intent_id}" if payment_intent_id else f"pay_{method}_{amount}"
    payment = order_records.Payment(
        *order_records.Payment.key("demo", order_id, payment_id),
        conference_id="demo",
        order_id=order_id,
        payment_id=payment_id,
        method=method,
        status="succeeded",
        amount=amount,
        payment_intent_id=payment_intent_id,
        created_at=created_at or now(),
    )
    payment.save()
    return payment


def comp_voucher(code: str = "COMPED") -> str:
    """A comp voucher (the order is free) saved straight into the table."""
    voucher_store.Voucher(
        *voucher_store.Voucher.key("demo", code),
        conference_id="demo",
        code=code,
        voucher_type="comp",
        discount_value=0,
        max_uses=5,
        times_used=0,
        ticket_type_ids=[],
        addon_ids=[],
        is_active=True,
    ).save()
    return code


# --- refunds over HTTP --------------------------------------------------------------------------------------------


def refund(
    order_id: str,
    amount: int,
    *,
    reason: str = "requested_by_customer",
    destination: str = "card",
    note: str | None = None,
    claims: dict[str, Any] = STAFF,
    key: str | None = None,
    payment_id: str | None = None,
) -> Reply:
    body: dict[str, Any] = {"amount": amount, "reason": reason, "destination": destination}
    if note is not None:
        body["note"] = note
    if payment_id is not None:
        body["payment_id"] = payment_id
    headers = {"Idempotency-Key": key} if key else None
    return call(
        refunds_fn(), "POST", f"{ORDERS}/{order_id}/refunds", body=body, claims=claims, headers=headers
    )


def refund_ok(order_id: str, amount: int, **kw: Any) -> dict[str, Any]:
    reply = refund(order_id, amount, **kw)
    assert reply.status == 201, reply.text
    return reply.json


def list_refunds(order_id: str, claims: dict[str, Any] = STAFF) -> Reply:
    return call(api_fn(), "GET", f"{ORDERS}/{order_id}/refunds", claims=claims)


def stored_refunds(order_id: str) -> list[refund_records.Refund]:
    return refund_records.list_refunds(order_records.Order.key("demo", order_id)[0])


def stored_refund(order_id: str, refund_id: str) -> refund_records.Refund:
    found = refund_records.get_refund(order_records.Order.key("demo", order_id)[0], refund_id)
    assert found is not None
    return found


def make_stale(order_id: str, refund_id: str, minutes: int = 10) -> None:
    """The pending refund was reserved ``minutes`` ago, as the sweep's index sees it."""
    found = stored_refund(order_id, refund_id)
    past = now() - timedelta(minutes=minutes)
    found.update(
        actions=[refund_records.Refund.GSI1SK.set(f"{past.isoformat()}#{refund_id}")],
        add_version_condition=False,
    )


# --- store credit -------------------------------------------------------------------------------------------------


def make_credit(
    amount: int,
    *,
    user_id: str = ATTENDEE["sub"],
    remaining: int | None = None,
    status: str = credit_records.AVAILABLE,
    conference_id: str = "demo",
    credit_id: str = "cr_00000000000000a1",
    expires_at: datetime | None = None,
) -> credit_records.Credit:
    """A Credit item written straight into the table (indexed, so listings find it)."""
    credit = credit_records.Credit(
        *credit_records.Credit.key(conference_id, credit_id),
        conference_id=conference_id,
        credit_id=credit_id,
        user_id=user_id,
        amount=amount,
        remaining_amount=amount if remaining is None else remaining,
        currency="usd",
        status=status,
        expires_at=expires_at,
        note="made by the test",
        created_at=now(),
    )
    credit.index()
    credit.save()
    return credit


def credit(credit_id: str) -> credit_records.Credit:
    found = credit_records.get("demo", credit_id)
    assert found is not None
    return found


def apply_credit(
    credit_id: str, order_id: str, claims: dict[str, Any] = ATTENDEE, cid: str = "demo"
) -> Reply:
    return call(
        refunds_fn(),
        "POST",
        f"/v1/conferences/{cid}/credits/{credit_id}/apply",
        body={"order_id": order_id},
        claims=claims,
    )


def list_credits(claims: dict[str, Any] = ATTENDEE, query: str = "") -> Reply:
    return call(api_fn(), "GET", CREDITS, claims=claims, query=query)


def all_credit_items() -> list[credit_records.Credit]:
    """Every Credit item in the table, by a scan (no help from the code under test)."""
    return list(credit_records.Credit.scan(credit_records.Credit.PK.startswith("CREDIT#")))


# --- the emulator and the event path ------------------------------------------------------------------------


def stripe_client(emulator):
    import stripe

    return stripe.StripeClient(
        DEMO_CONFERENCE["stripe"]["secret_key"], base_addresses={"api": emulator.url}, max_network_retries=0
    )


def stripe_refunds(emulator, payment_intent_id: str) -> list[dict[str, Any]]:
    """Every refund the emulator holds for a payment intent, oldest first."""
    page = stripe_client(emulator).v1.refunds.list(params={"payment_intent": payment_intent_id, "limit": 100})
    return [r.to_dict() for r in page.auto_paging_iter()][::-1]


def paid_intent(emulator, amount: int) -> str:
    """A payment intent of ``amount`` paid at the emulator through a session of its own."""
    session = stripe_client(emulator).v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "success_url": URLS["success_url"],
            "line_items": [
                {
                    "price_data": {
                        "currency": "usd",
                        "unit_amount": amount,
                        "product_data": {"name": "Part"},
                    },
                    "quantity": 1,
                }
            ],
        }
    )
    emulator.pay(session.id, "succeed")
    return stripe_client(emulator).v1.checkout.sessions.retrieve(session.id).to_dict()["payment_intent"]


def emulator_events(emulator, event_type: str | None = None, **match: Any) -> list[dict[str, Any]]:
    """The emulator's events (of ``event_type``), oldest first, whose object matches ``match``."""
    params: dict[str, Any] = {"limit": 100}
    if event_type is not None:
        params["type"] = event_type
    page = stripe_client(emulator).v1.events.list(params=params)
    events = [e.to_dict() for e in page.auto_paging_iter()][::-1]
    return [e for e in events if all(e["data"]["object"].get(k) == v for k, v in match.items())]


def registry_for(event_type: str) -> Registry:
    return refunds_registry() if event_type.startswith(("charge.", "refund.")) else fulfillment_registry()


def process(events: list[dict[str, Any]]) -> list[str]:
    """Admit ``events`` as the webhook does, then run each one that reached the bus, in that order.

    Returns the processing outcomes. An event admitted before is a duplicate: it is not published
    again, so it is not processed again.
    """
    tap = BusTap(("boxoffice.stripe",))
    order = [e["id"] for e in events if stripe_events.admit("demo", e, source="webhook") == "recorded"]
    envelopes = {env["detail"]["event_id"]: env for env in tap.drain()}
    return [handle_bus_event(envelopes[i], registry_for(envelopes[i]["detail-type"]), LEASE) for i in order]


def sync(emulator) -> list[str]:
    """Every event the emulator has emitted so far, through the pipeline, oldest first."""
    return process(emulator_events(emulator))


def rerun(event: dict[str, Any]) -> str:
    """The processor runs again on an admitted event (a Lambda retry, a staff replay)."""
    envelope = {
        "version": "0",
        "id": "00000000-0000-0000-0000-000000000000",
        "detail-type": event["type"],
        "source": "boxoffice.stripe",
        "account": "123456789012",
        "time": "2026-11-23T10:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {"conference_id": "demo", "event_id": event["id"]},
    }
    return handle_bus_event(envelope, registry_for(event["type"]), LEASE)


def renamed(event: dict[str, Any], event_id: str) -> dict[str, Any]:
    """The same event under another id: Stripe telling us the same thing again."""
    return {**event, "id": event_id}


def order_paid_events(tap: BusTap) -> list[dict[str, Any]]:
    return [e["detail"] for e in tap.drain() if e["detail-type"] == "order.paid"]


def second_order_payment(emulator, order: dict[str, Any]) -> str:
    """Another paid Checkout Session carrying the order's metadata (a second tab); returns its intent."""
    metadata = {"order_id": order["id"], "conference_id": "demo", "reference": order["reference"]}
    return another_paid_session(stripe_client(emulator), emulator, metadata, order["total"])


def stray_payment_id(order_id: str, payment_intent_id: str) -> str:
    """The ``id`` staff read in the order's ``payments`` for money that is not its own (``own: false``)."""
    reply = call(api_fn(), "GET", f"{ORDERS}/{order_id}", claims=STAFF)
    assert reply.status == 200, reply.text
    (payment,) = [p for p in reply.json["payments"] if p["payment_intent_id"] == payment_intent_id]
    assert payment["own"] is False, payment
    return payment["id"]


def stored_payment(order_id: str, payment_id: str) -> order_records.Payment:
    found = order_records.get_payment("demo", order_id, payment_id)
    assert found is not None
    return found


def dashboard_refund(emulator, payment_intent: str, amount: int | None = None) -> dict[str, Any]:
    """A refund made in Stripe's dashboard: no metadata of ours."""
    params: dict[str, Any] = {"payment_intent": payment_intent}
    if amount is not None:
        params["amount"] = amount
    return stripe_client(emulator).v1.refunds.create(params=params).to_dict()
