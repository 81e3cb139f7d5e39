"""Helpers for the refund and store credit tests.

Orders are created and paid through the real handlers and the in-process Stripe emulator, and the
emulator's own events are fed through the real pipeline (``tests.support.pipeline``).
Amounts are minor units: an order of 10000 stands for "100".
"""

from datetime import datetime, timedelta
from typing import Any

from boxoffice.store import credits as credit_records
from boxoffice.store import orders as order_records
from boxoffice.store import refunds as refund_records
from tests.support import clock, pipeline
from tests.support import order_fixtures as orders
from tests.support import stripe as stripe_support
from tests.support.functions import api_fn, checkout_fn, refunds_fn
from tests.support.http import ATTENDEE, ATTENDEE_URLS, ORDERS, STAFF, Reply, call

CREDITS = "/v1/conferences/demo/credits"
WORKSHOP_PRICE = 5000
"""The demo add-on's price: orders here are built from workshops, so totals are multiples of 5000."""


# --- orders ---------------------------------------------------------------------------------------------------


def new_order(total: int = 10000, claims: dict[str, Any] = ATTENDEE) -> dict[str, Any]:
    """A pending order of ``total`` (a multiple of 5000: that many workshops) for ``claims``."""
    assert total % WORKSHOP_PRICE == 0
    body = {"lines": [{"addon_id": "workshop", "quantity": total // WORKSHOP_PRICE}]}
    reply = call(checkout_fn(), "POST", ORDERS, body=body, claims=claims)
    assert reply.status == 201, reply.text
    assert reply.json["total"] == total
    return reply.json


def pay_order(emulator, order_id: str, claims: dict[str, Any] = ATTENDEE) -> str:
    """Check the order out, pay on the emulator's page, run the events; returns the payment intent id."""
    reply = call(checkout_fn(), "POST", f"{ORDERS}/{order_id}/checkout", body=ATTENDEE_URLS, claims=claims)
    assert reply.status == 200, reply.text
    session_id = reply.json["session_id"]
    emulator.pay(session_id, "succeed")
    pipeline.sync(emulator)
    order = orders.stored(order_id)
    assert order.status == "paid", order.status
    session = stripe_support.stripe_client(emulator).v1.checkout.sessions.retrieve(session_id).to_dict()
    return session["payment_intent"]


def paid_order(emulator, total: int = 10000, claims: dict[str, Any] = ATTENDEE) -> dict[str, Any]:
    """An order of ``total`` paid by card; the returned view has ``payment_intent_id`` added."""
    order = new_order(total, claims)
    intent = pay_order(emulator, order["id"], claims)
    return {**order, "payment_intent_id": intent}


def money(order_id: str) -> dict[str, Any]:
    """The order's status and every amount that refunds move."""
    order = orders.stored(order_id)
    return {
        "status": order.status,
        "amount_paid": int(order.amount_paid),
        "amount_refunded": int(order.amount_refunded),
        "refundable": min(int(order.refundable), int(order.refundable_total)),  # to the card
        "refund_reserved": int(order.refund_reserved),
    }


def store_credit_balance(order_id: str) -> int:
    """What may still go back as store credit: everything paid minus every refund."""
    return int(orders.stored(order_id).refundable_total)


def bump(order_id: str, **amounts: int) -> None:
    """Add to the order's amount attributes by hand (synthetic setup)."""
    order = orders.stored(order_id)
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
        created_at=created_at or clock.now(),
    )
    payment.save()
    return payment


def comp_voucher(code: str = "COMPED") -> str:
    """A comp voucher (the order is free) of five uses, saved straight into the table."""
    orders.make_voucher(code, voucher_type="comp", discount_value=0, max_uses=5)
    return code


def cancelled_order(_emulator: Any = None) -> str:
    """A pending order of 10000 its attendee cancelled; returns its id.

    It takes (and ignores) an emulator so that it stands beside the makers of orders in other states.
    """
    order_id = new_order(10000)["id"]
    orders.cancel_ok(order_id)
    return order_id


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
    past = clock.now() - timedelta(minutes=minutes)
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
        created_at=clock.now(),
    )
    credit.index()
    credit.save()
    return credit


def credit(credit_id: str) -> credit_records.Credit:
    found = credit_records.get("demo", credit_id)
    assert found is not None
    return found


def ledger(credit_id: str) -> list[tuple[str, int]]:
    """The credit's applications: (order id, amount) each, in the order they were made."""
    return [(a.order_id, int(a.amount)) for a in credit(credit_id).applications]


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


def stripe_refunds(emulator, payment_intent_id: str) -> list[dict[str, Any]]:
    """Every refund the emulator holds for a payment intent, oldest first."""
    page = stripe_support.stripe_client(emulator).v1.refunds.list(
        params={"payment_intent": payment_intent_id, "limit": 100}
    )
    return [r.to_dict() for r in page.auto_paging_iter()][::-1]


def paid_intent(emulator, amount: int) -> str:
    """A payment intent of ``amount`` paid at the emulator through a session of its own."""
    client = stripe_support.stripe_client(emulator)
    session = client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "success_url": ATTENDEE_URLS["success_url"],
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
    return client.v1.checkout.sessions.retrieve(session.id).to_dict()["payment_intent"]


def second_order_payment(emulator, order: dict[str, Any]) -> str:
    """Another paid Checkout Session carrying the order's metadata (a second tab); returns its intent."""
    metadata = {"order_id": order["id"], "conference_id": "demo", "reference": order["reference"]}
    client = stripe_support.stripe_client(emulator)
    return stripe_support.another_paid_session(client, emulator, metadata, order["total"])


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
    return stripe_support.stripe_client(emulator).v1.refunds.create(params=params).to_dict()


def split_order(emulator: Any) -> tuple[str, str, str]:
    """A 30000 order paid by two intents: 10000 (older) then 20000 (newer). Returns (order, older, newer).

    Synthetic setup: the two intents are real and paid at the emulator, but their Payment items and
    the order's amounts are written by hand, since checkout makes one session per order.
    """
    order_id = new_order(30000)["id"]
    older, newer = paid_intent(emulator, 10000), paid_intent(emulator, 20000)
    at = clock.now()
    add_payment(order_id, "stripe", 10000, payment_intent_id=older, created_at=at - timedelta(hours=2))
    add_payment(order_id, "stripe", 20000, payment_intent_id=newer, created_at=at - timedelta(hours=1))
    orders.stored(order_id).update(
        actions=[
            order_records.Order.status.set("paid"),
            order_records.Order.amount_paid.set(30000),
            order_records.Order.refundable.set(30000),
            order_records.Order.refundable_total.set(30000),
            *order_records.leave_pending_index(),
        ],
        add_version_condition=False,
    )
    return order_id, older, newer
