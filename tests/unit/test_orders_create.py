"""Creating orders through the checkout function: line validation, hidden tickets, totals, hold, free orders."""

from datetime import datetime, timedelta

import pytest

from boxoffice.store.vouchers import Voucher
from tests.support.bus import BusTap, domain_events
from tests.support.conferences import other_conference
from tests.support.functions import api_fn
from tests.support.http import ADMIN, ATTENDEE, DEMO_CONFERENCE, call
from tests.support.order_fixtures import (
    GENERAL,
    WORKSHOP,
    create,
    create_ok,
    make_voucher,
    payments,
    stored,
    times_used,
)
from tests.support.stripe import stripe_client


def error_locs(reply) -> list[list]:
    return [d["loc"] for d in reply.json["error"].get("details") or []]


@pytest.mark.parametrize(
    "lines",
    [
        [{"ticket_type_id": "nope", "quantity": 1}],
        [{"addon_id": "nope", "quantity": 1}],
        [{"ticket_type_id": "general", "quantity": 0}],
        [{"ticket_type_id": "general", "quantity": 51}],
        [{"ticket_type_id": "general", "quantity": -1}],
        [{"ticket_type_id": "general", "addon_id": "workshop", "quantity": 1}],
        [{"quantity": 1}],
        [GENERAL] * 21,
        [],
        [{"ticket_type_id": "general", "quantity": "1"}],
    ],
    ids=[
        "unknown_ticket",
        "unknown_addon",
        "quantity_0",
        "quantity_51",
        "negative_quantity",
        "both_ids",
        "neither_id",
        "21_lines",
        "no_lines",
        "quantity_as_string",
    ],
)
def test_invalid_lines_are_refused_with_422_and_no_order_is_written(demo, lines):
    reply = create({"lines": lines})
    assert reply.status == 422, reply.text
    assert reply.json["error"]["code"] == "validation_error"
    assert all(loc[:2] == ["body", "lines"] for loc in error_locs(reply)), error_locs(reply)
    assert create_ok([GENERAL])  # the conference still takes orders; nothing was half-written
    assert len(call(api_fn(), "GET", "/v1/conferences/demo/orders", claims=ATTENDEE).json["items"]) == 1


def test_quantity_50_and_20_lines_are_the_largest_accepted(demo):
    order = create_ok([{"ticket_type_id": "general", "quantity": 50}] + [WORKSHOP] * 19)
    assert len(order["lines"]) == 20
    assert order["subtotal"] == 50 * 25000 + 19 * 5000


def test_a_ticket_type_of_another_conference_is_refused_like_an_unknown_one(demo):
    other_conference()
    reply = create({"lines": [{"ticket_type_id": "vip", "quantity": 1}]})
    assert reply.status == 422, reply.text
    assert error_locs(reply) == [["body", "lines", 0, "ticket_type_id"]]


@pytest.mark.parametrize(
    "body",
    [
        {"lines": [GENERAL], "surprise": 1},
        {"lines": [{**GENERAL, "price": 1}]},
        {"lines": [GENERAL], "total": 0},
    ],
    ids=["top_level", "in_a_line", "a_total"],
)
def test_unknown_fields_are_refused_with_422(demo, body):
    reply = create(body)
    assert reply.status == 422, reply.text
    assert reply.json["error"]["code"] == "validation_error"


def test_malformed_json_is_a_400(demo):
    reply = create(raw_body='{"lines": [')
    assert reply.status == 400, reply.text
    assert reply.json["error"]["code"] == "bad_request"


def test_an_order_prices_its_lines_and_reports_totals_and_discounts(demo):
    make_voucher("TENOFF", voucher_type="percentage", discount_value=10, ticket_type_ids=["general"])
    order = create_ok(
        [{"ticket_type_id": "general", "quantity": 2}, {"addon_id": "workshop", "quantity": 3}], "TENOFF"
    )
    assert order["lines"] == [
        {
            "ticket_type_id": "general",
            "addon_id": None,
            "quantity": 2,
            "unit_price": 25000,
            "line_total": 50000,
            "discount": 5000,
        },
        {
            "ticket_type_id": None,
            "addon_id": "workshop",
            "quantity": 3,
            "unit_price": 5000,
            "line_total": 15000,
            "discount": 0,
        },
    ]
    assert (order["subtotal"], order["discount_amount"], order["total"]) == (65000, 5000, 60000)
    assert (order["status"], order["currency"], order["user_id"]) == ("pending", "usd", ATTENDEE["sub"])
    assert (order["amount_paid"], order["amount_refunded"], order["payments"]) == (0, 0, [])
    assert order["voucher_code"] == "TENOFF"
    assert order["attention"] is None
    assert order["reference"].startswith("ORD-")
    assert times_used("TENOFF") == 2  # a use is one unit: two tickets took two


def test_each_order_gets_a_distinct_reference(demo):
    references = {create_ok()["reference"] for _ in range(5)}
    assert len(references) == 5


def test_the_hold_ends_the_default_60_minutes_after_creation(demo):
    order = create_ok()
    created = datetime.fromisoformat(order["created_at"])
    assert datetime.fromisoformat(order["hold_expires_at"]) - created == timedelta(minutes=60)
    assert stored(order["id"]).hold_expires_at == created + timedelta(minutes=60)


def test_the_hold_follows_the_conference_setting(demo):
    body = {**DEMO_CONFERENCE, "order_hold_minutes": 45}
    assert call(api_fn(), "PUT", "/v1/conferences/demo", body=body, claims=ADMIN).status == 200
    order = create_ok()
    created = datetime.fromisoformat(order["created_at"])
    assert datetime.fromisoformat(order["hold_expires_at"]) - created == timedelta(minutes=45)


def test_a_hidden_ticket_type_without_a_voucher_is_refused_as_not_found(demo):
    reply = create({"lines": [{"ticket_type_id": "speaker", "quantity": 1}]})
    assert reply.status == 422, reply.text
    assert error_locs(reply) == [["body", "lines", 0, "ticket_type_id"]]
    assert "speaker" in reply.json["error"]["message"]


@pytest.mark.parametrize(
    "fields",
    [
        {"unlocks_hidden_tickets": False},
        {"unlocks_hidden_tickets": True, "ticket_type_ids": ["general"]},
    ],
    ids=["voucher_does_not_unlock", "unlocking_voucher_out_of_scope"],
)
def test_a_hidden_ticket_type_needs_an_unlocking_voucher_in_scope(demo, fields):
    make_voucher("SPK", voucher_type="comp", **fields)
    reply = create({"lines": [{"ticket_type_id": "speaker", "quantity": 1}, GENERAL], "voucher_code": "SPK"})
    assert reply.status == 422, reply.text
    assert error_locs(reply) == [["body", "lines", 0, "ticket_type_id"]]
    assert times_used("SPK") == 0


@pytest.mark.parametrize("scope", [[], ["speaker"]], ids=["empty_scope", "scoped_to_speaker"])
def test_a_hidden_ticket_type_is_ordered_with_an_unlocking_voucher(demo, scope):
    make_voucher("SPK", voucher_type="comp", unlocks_hidden_tickets=True, ticket_type_ids=scope)
    order = create_ok([{"ticket_type_id": "speaker", "quantity": 1}], "SPK")
    assert order["lines"][0]["ticket_type_id"] == "speaker"
    assert order["total"] == 0
    assert times_used("SPK") == 1


def test_a_free_order_is_paid_at_once_with_one_comp_payment_and_one_announcement(demo, emulator):
    make_voucher("FREE", voucher_type="comp", discount_value=0)
    tap = BusTap(("boxoffice",))
    order = create_ok([GENERAL, WORKSHOP], "FREE")
    assert order["status"] == "paid"
    assert (order["subtotal"], order["discount_amount"], order["total"]) == (30000, 30000, 0)
    assert order["hold_expires_at"] is None
    (payment,) = order["payments"]
    assert (payment["method"], payment["status"], payment["amount"]) == ("comp", "succeeded", 0)
    assert [(p.method, p.status) for p in payments(order["id"])] == [("comp", "succeeded")]
    announced = domain_events(tap, "order.paid")
    assert len(announced) == 1
    assert announced[0]["order_id"] == order["id"]
    assert announced[0]["total"] == 0
    assert stored(order["id"]).GSI1PK is None  # never in the sweep's list
    client = stripe_client(emulator)
    assert list(client.v1.checkout.sessions.list().auto_paging_iter()) == []
    assert list(client.v1.payment_intents.list().auto_paging_iter()) == []


def test_an_unsigned_create_is_401(demo):
    reply = create({"lines": [GENERAL]}, claims=None)
    assert reply.status == 401, reply.text


def test_the_same_idempotency_key_returns_the_first_order_and_redeems_once(demo):
    make_voucher("CODE1")
    body = {"lines": [GENERAL], "voucher_code": "CODE1"}
    headers = {"Idempotency-Key": "order-attempt-1"}
    first = create(body, headers=headers)
    second = create(body, headers=headers)
    assert first.status == second.status == 201, second.text
    assert second.json["id"] == first.json["id"]
    assert times_used("CODE1") == 1
    changed = create({"lines": [WORKSHOP], "voucher_code": "CODE1"}, headers=headers)
    assert changed.status == 409, changed.text
    assert changed.json["error"]["code"] == "idempotency_conflict"


def test_a_voucher_of_another_conference_is_unknown_here(demo):
    other_conference()
    Voucher(
        *Voucher.key("other", "ELSEWHERE"), conference_id="other", code="ELSEWHERE", voucher_type="comp",
        max_uses=5, times_used=0, is_active=True,
    ).save()  # fmt: skip
    reply = create({"lines": [GENERAL], "voucher_code": "ELSEWHERE"})
    assert reply.status == 422, reply.text
    assert reply.json["error"]["details"][0]["reason"] == "unknown"


@pytest.mark.parametrize(
    "fields",
    [
        {"voucher_type": "percentage", "discount_value": 100},
        {"voucher_type": "fixed_amount", "discount_value": 10**6},
    ],
    ids=["percentage_100", "fixed_above_subtotal"],
)
def test_any_voucher_that_brings_the_total_to_zero_pays_the_order_at_once(demo, fields):
    make_voucher("ZERO", **fields)
    tap = BusTap(("boxoffice",))
    order = create_ok([GENERAL, WORKSHOP], "ZERO")
    assert (order["status"], order["total"], order["discount_amount"]) == ("paid", 0, 30000)
    assert [p["method"] for p in order["payments"]] == ["comp"]
    assert len(domain_events(tap, "order.paid")) == 1
