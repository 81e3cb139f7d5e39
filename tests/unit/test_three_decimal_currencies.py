"""Three-decimal currencies (BHD, JOD, KWD, OMR, TND): every amount stays on Stripe's grid of 10.

Stripe refuses a three-decimal amount that does not end in 0, so prices, fixed discounts, percentage
discounts, totals and refund amounts are kept on that grid: no order can exist that Stripe will
refuse to charge.
"""

from typing import Any

import pytest

from boxoffice.store import vouchers as voucher_store
from tests.support.functions import api_fn, checkout_fn
from tests.support.http import ADMIN, ATTENDEE, ATTENDEE_URLS, DEMO_CONFERENCE, STAFF, call

KWD = "/v1/conferences/kwdconf"


@pytest.fixture
def kwd(emulator) -> str:
    body = {**DEMO_CONFERENCE, "name": "Kuwait Conf", "currency": "kwd"}
    assert call(api_fn(), "PUT", KWD, body=body, claims=ADMIN).status == 201
    ticket = {"name": "General", "price": 10010, "bulk_enabled": True}
    reply = call(api_fn(), "PUT", f"{KWD}/ticket-types/general", body=ticket, claims=ADMIN)
    assert reply.status == 201, reply.text
    return "kwdconf"


def _voucher(code: str, **fields: Any) -> None:
    voucher_store.Voucher(
        *voucher_store.Voucher.key("kwdconf", code),
        conference_id="kwdconf", code=code, voucher_type="percentage", discount_value=15,
        max_uses=10, times_used=0, ticket_type_ids=[], addon_ids=[], is_active=True, **fields,
    ).save()  # fmt: skip


def test_a_percentage_code_in_kwd_makes_a_total_stripe_accepts(kwd):
    """Seen broken: 15% of 10.010 KWD made a total Stripe refuses, so the order could never be paid."""
    _voucher("FIFTEEN")
    body = {"lines": [{"ticket_type_id": "general", "quantity": 1}], "voucher_code": "FIFTEEN"}
    reply = call(checkout_fn(), "POST", f"{KWD}/orders", body=body, claims=ATTENDEE)
    assert reply.status == 201, reply.text
    order = reply.json
    assert (order["discount_amount"], order["total"]) == (1500, 8510)
    session = call(
        checkout_fn(), "POST", f"{KWD}/orders/{order['id']}/checkout", body=ATTENDEE_URLS, claims=ATTENDEE
    )
    assert session.status == 200, session.text


@pytest.mark.parametrize("price", [10015, 1, 99_999_999])
def test_a_kwd_price_off_the_grid_is_refused_naming_the_field(kwd, price):
    ticket = {"name": "Odd", "price": price}
    reply = call(api_fn(), "PUT", f"{KWD}/ticket-types/odd", body=ticket, claims=ADMIN)
    assert reply.status == 422, reply.text
    assert reply.json["error"]["details"][0]["loc"] == ["body", "price"]
    catalog = call(api_fn(), "GET", f"{KWD}/catalog", claims=ADMIN).json
    assert [t["id"] for t in catalog["ticket_types"]] == ["general"]


def test_a_kwd_bulk_purchase_off_the_grid_is_refused(kwd):
    body = {
        "quantity": 2, "ticket_type_id": "general", "unit_price": 10015,
        "voucher_config": {"voucher_type": "comp", "max_uses": 1},
    }  # fmt: skip
    reply = call(checkout_fn(), "POST", f"{KWD}/bulk-purchases", body=body, claims=ADMIN)
    assert reply.status == 422, reply.text
    assert reply.json["error"]["details"][0]["loc"] == ["body", "unit_price"]
    fixed = {
        **body,
        "unit_price": 10010,
        "voucher_config": {"voucher_type": "fixed_amount", "discount_value": 5, "max_uses": 1},
    }
    reply = call(checkout_fn(), "POST", f"{KWD}/bulk-purchases", body=fixed, claims=ADMIN)
    assert reply.status == 422, reply.text
    assert reply.json["error"]["details"][0]["loc"] == ["body", "voucher_config", "discount_value"]


def test_a_usd_price_of_one_cent_is_fine(demo):
    reply = call(
        api_fn(),
        "PUT",
        "/v1/conferences/demo/ticket-types/cent",
        body={"name": "Cent", "price": 1},
        claims=STAFF,
    )
    assert reply.status == 201, reply.text
