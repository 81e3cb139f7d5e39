"""Capacity (docs/domain.md "Capacity"): counters per item and venue, taken atomically with the order or the
sponsor block, given back exactly once, shown in the catalog, and checked by the audit.

Everything goes through the real handlers on moto; the races on DynamoDB Local are in
tests/integration/test_capacity_races.py.
"""

from typing import Any

import pytest

from boxoffice import books, bulk_purchases, orders, refunds
from boxoffice.store import capacity as counters
from boxoffice.store import orders as order_records
from tests.support import bulk_fixtures as bf
from tests.support.capacity import held, limit_general, limit_workshop, put_item
from tests.support.functions import api_fn
from tests.support.http import ADMIN, ATTENDEE, DEMO_CONFERENCE, STAFF, call
from tests.support.order_fixtures import (
    GENERAL,
    WORKSHOP,
    cancel,
    create,
    create_ok,
    make_voucher,
    move_hold_into_past,
    times_used,
)
from tests.support.pipeline import process_one, sync
from tests.support.refund_fixtures import paid_order, refund_ok
from tests.support.stripe import emulator_events, one_event, stripe_client


def catalog(claims: dict[str, Any] = ATTENDEE) -> dict[str, dict[str, Any]]:
    reply = call(api_fn(), "GET", "/v1/conferences/demo/catalog", claims=claims)
    assert reply.status == 200, reply.text
    return {i["id"]: i for i in reply.json["ticket_types"] + reply.json["addons"]}


def capacity_breaks() -> list[dict[str, Any]]:
    """The audit's capacity breaks (Stripe is not consulted: capacity is ours alone)."""
    return [b.model_dump() for b in books.audit_all("demo", with_stripe=False) if b.kind == "capacity"]


# --- setup and catalog ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True])
def test_a_negative_or_non_integer_capacity_is_refused_with_422(demo, bad):
    reply = put_item("ticket-types/general", name="General", price=25000, capacity=bad)
    assert reply.status == 422, reply.text
    assert reply.json["error"]["code"] == "validation_error"
    venue = call(
        api_fn(),
        "PUT",
        "/v1/conferences/demo",
        body={**DEMO_CONFERENCE, "ticket_capacity": bad},
        claims=ADMIN,
    )
    assert venue.status == 422, venue.text


def test_the_catalog_shows_available_and_sold_out_for_attendees_and_staff(demo):
    limit_general(2)
    general = catalog()["general"]
    assert (general["capacity"], general["available"], general["sold_out"]) == (2, 2, False)
    create_ok([{"ticket_type_id": "general", "quantity": 2}])
    for claims in (ATTENDEE, STAFF):
        items = catalog(claims)
        assert (items["general"]["available"], items["general"]["sold_out"]) == (0, True)
        assert (items["workshop"]["available"], items["workshop"]["sold_out"]) == (None, False)
    assert (catalog(STAFF)["speaker"]["available"], catalog(STAFF)["speaker"]["sold_out"]) == (None, False)


def test_an_unlimited_item_writes_no_counter(demo):
    create_ok([GENERAL, WORKSHOP])
    assert counters.get("demo", counters.ticket_scope("general")) is None
    assert counters.get("demo", counters.addon_scope("workshop")) is None


def test_lowering_capacity_below_what_is_held_is_refused_with_the_held_count_and_raising_it_applies_at_once(
    demo,
):
    limit_general(3)
    create_ok([{"ticket_type_id": "general", "quantity": 3}])
    reply = put_item("ticket-types/general", name="General", price=25000, capacity=2)
    assert reply.status == 409, reply.text
    assert reply.json["error"]["code"] == "invalid_state"
    assert reply.json["error"]["details"]["held"] == 3
    assert catalog()["general"]["capacity"] == 3
    limit_general(4)
    assert catalog()["general"]["available"] == 1
    create_ok([GENERAL])
    limit_general(None)
    assert catalog()["general"]["available"] is None
    create_ok([GENERAL])
    assert held(counters.ticket_scope("general")) == 5, "an unlimited counter keeps counting"
    reply = put_item("ticket-types/general", name="General", price=25000, capacity=4)
    assert (reply.status, reply.json["error"]["details"]["held"]) == (409, 5)


# --- orders -----------------------------------------------------------------------------------------------------


def test_an_order_that_does_not_fit_is_refused_sold_out_holding_nothing_and_using_no_code(demo):
    limit_general(3)
    limit_workshop(5)
    make_voucher("CODE1", max_uses=5)
    create_ok([{"ticket_type_id": "general", "quantity": 2}])
    reply = create(
        {"lines": [{"ticket_type_id": "general", "quantity": 2}, WORKSHOP], "voucher_code": "CODE1"}
    )
    assert reply.status == 409, reply.text
    assert reply.json["error"]["code"] == "sold_out"
    assert reply.json["error"]["details"] == [{"ticket_type_id": "general", "requested": 2, "available": 1}]
    assert times_used("CODE1") == 0
    assert (held(counters.ticket_scope("general")), held(counters.addon_scope("workshop"))) == (2, 0)
    assert len(order_records.list_entries("demo", limit=50, cursor=None)[0]) == 1


def test_the_venue_is_shared_by_every_ticket_type(demo):
    venue = call(
        api_fn(), "PUT", "/v1/conferences/demo", body={**DEMO_CONFERENCE, "ticket_capacity": 2}, claims=ADMIN
    )
    assert (venue.status, venue.json["ticket_capacity"]) == (200, 2)
    assert put_item("ticket-types/student", name="Student", price=10000).status == 201
    create_ok([GENERAL])
    create_ok([{"ticket_type_id": "student", "quantity": 1}, WORKSHOP])
    reply = create({"lines": [{"ticket_type_id": "student", "quantity": 1}]})
    assert (reply.status, reply.json["error"]["details"]) == (
        409,
        [{"venue": "ticket_capacity", "requested": 1, "available": 0}],
    )
    assert {k: v["sold_out"] for k, v in catalog().items()} == {
        "general": True,
        "student": True,
        "workshop": False,
    }
    omitted = call(api_fn(), "PUT", "/v1/conferences/demo", body=DEMO_CONFERENCE, claims=ADMIN)
    assert omitted.json["ticket_capacity"] == 2, "omitting ticket_capacity keeps it"


def test_a_cancel_and_an_expiry_free_a_unit_exactly_once_whatever_the_order(demo):
    limit_general(1)
    order = create_ok([GENERAL])
    assert create({"lines": [GENERAL]}).status == 409
    assert cancel(order["id"]).status == 200
    assert orders.sweep_expired_holds("demo") == 0
    assert cancel(order["id"]).status == 409
    assert held(counters.ticket_scope("general")) == 0
    again = create_ok([GENERAL])
    move_hold_into_past(again["id"])
    assert orders.sweep_expired_holds("demo") == 1
    assert orders.sweep_expired_holds("demo") == 0
    assert cancel(again["id"]).status == 409
    assert held(counters.ticket_scope("general")) == 0
    create_ok([GENERAL])
    assert create({"lines": [GENERAL]}).status == 409
    assert capacity_breaks() == []


def test_a_paid_order_keeps_its_units_and_a_full_refund_frees_them_once(demo, emulator):
    limit_workshop(2)
    order = paid_order(emulator, 10000)  # two workshops
    assert catalog()["workshop"]["sold_out"] is True
    refund_ok(order["id"], 5000)
    assert held(counters.addon_scope("workshop")) == 2, "a partial refund keeps the units"
    refund_ok(order["id"], 5000)
    assert held(counters.addon_scope("workshop")) == 0
    stored = order_records.get("demo", order["id"])
    assert stored is not None and (stored.status, stored.units_released) == ("refunded", True)
    refunds.settle_order(stored)  # a repeated event settles again
    assert orders.release_refunded_units(stored) is False
    assert held(counters.addon_scope("workshop")) == 0
    assert capacity_breaks() == []


def test_a_full_refund_that_fails_at_the_bank_takes_the_units_back_once(demo, emulator):

    limit_workshop(2)
    order = paid_order(emulator, 10000)  # two workshops
    done = refund_ok(order["id"], 10000)
    assert held(counters.addon_scope("workshop")) == 0
    (re_id,) = done["stripe_refund_ids"]
    emulator.fail_refund(re_id, "lost_or_stolen_card")  # the money never left: the attendee still paid
    sync(emulator)
    sync(emulator)  # the failure's events again: taken once
    stored = order_records.get("demo", order["id"])
    assert stored is not None and (stored.status, stored.units_released) == ("paid", None)
    assert held(counters.addon_scope("workshop")) == 2
    assert catalog()["workshop"]["sold_out"] is True
    assert capacity_breaks() == []


def test_units_taken_back_beyond_capacity_are_flagged_for_staff(demo, emulator):

    limit_workshop(2)
    order = paid_order(emulator, 10000)
    (re_id,) = refund_ok(order["id"], 10000)["stripe_refund_ids"]
    create_ok([{"addon_id": "workshop", "quantity": 2}])  # the freed seats are sold again
    emulator.fail_refund(re_id, "lost_or_stolen_card")
    sync(emulator)
    stored = order_records.get("demo", order["id"])
    assert stored is not None and stored.status == "paid"
    assert stored.attention and "over capacity" in stored.attention
    assert held(counters.addon_scope("workshop")) == 4  # the counters say what the orders hold
    assert [b["invariant"] for b in capacity_breaks()] == ["capacity.item"]  # and the audit says it


# --- sponsor blocks ----------------------------------------------------------------------------------------------


def comp_block(quantity: int) -> dict[str, Any]:
    return bf.create_ok(bf.comp_body(quantity=quantity, ticket_type_id="general"))


def test_a_sponsor_block_is_held_at_approval_and_honoured_when_the_general_sale_sells_out(demo):
    limit_general(5)
    purchase = comp_block(3)
    assert held(counters.ticket_scope("general")) == 0, "a pending purchase holds nothing"
    assert bf.approve(purchase["id"]).status == 200
    assert catalog()["general"]["available"] == 2
    too_big = comp_block(3)
    reply = bf.approve(too_big["id"])
    assert (reply.status, reply.json["error"]["code"]) == (409, "sold_out")
    assert reply.json["error"]["details"] == [{"ticket_type_id": "general", "requested": 3, "available": 2}]
    assert bf.stored(too_big["id"]).status == "pending"
    create_ok([{"ticket_type_id": "general", "quantity": 2}])
    assert create({"lines": [GENERAL]}).status == 409
    assert bf.fulfill(purchase["id"]).status == 200
    code = bf.stored_vouchers()[0].code
    redeemed = create_ok([GENERAL], code=code)
    assert redeemed["total"] == 0
    assert held(counters.ticket_scope("general")) == 5, "the block's unit, none of the general sale's"
    assert int(bf.stored(purchase["id"]).block_left_ticket) == 2
    assert capacity_breaks() == []


def test_a_cancelled_block_order_gives_its_unit_back_to_the_block(demo, emulator):
    limit_general(5)
    purchase = bf.create_ok(
        bf.comp_body(
            quantity=2,
            ticket_type_id="general",
            voucher_config={"voucher_type": "percentage", "discount_value": 50, "max_uses": 1},
        )
    )
    assert bf.approve(purchase["id"]).status == 200
    assert bf.fulfill(purchase["id"]).status == 200
    order = create_ok([GENERAL], code=bf.stored_vouchers()[0].code)
    assert int(bf.stored(purchase["id"]).block_left_ticket) == 1
    assert cancel(order["id"]).status == 200
    assert int(bf.stored(purchase["id"]).block_left_ticket) == 2
    assert held(counters.ticket_scope("general")) == 2
    assert capacity_breaks() == []


def test_a_purchase_that_does_not_fit_is_refused_before_any_money_moves(demo, emulator):
    limit_general(5)
    purchase = bf.create_ok(bf.staff_body(quantity=6))
    reply = bf.checkout(purchase["id"])
    assert (reply.status, reply.json["error"]["code"]) == (409, "sold_out")
    assert bf.stored(purchase["id"]).status == "pending"
    assert bf.stored(purchase["id"]).checkout_session_id is None
    assert emulator_events(emulator) == []
    assert held(counters.ticket_scope("general")) == 0


def test_a_failed_purchase_releases_its_block_once(demo, emulator):
    limit_general(5)
    purchase, session_id = bf.checked_out(emulator, bf.staff_body(quantity=4))
    assert held(counters.ticket_scope("general")) == 4
    bulk_purchases.mark_failed("demo", {"id": session_id, "metadata": {"bulk_purchase_id": purchase["id"]}})
    bulk_purchases.mark_failed("demo", {"id": session_id, "metadata": {"bulk_purchase_id": purchase["id"]}})
    assert bf.stored(purchase["id"]).status == "failed"
    assert held(counters.ticket_scope("general")) == 0
    assert capacity_breaks() == []


def test_a_refunded_block_frees_only_its_unredeemed_units(demo, emulator):
    limit_general(10)
    body = bf.staff_body(quantity=4, voucher_config={"voucher_type": "comp", "max_uses": 1})
    purchase, _ = bf.paid(emulator, body)
    codes = sorted(v.code for v in bf.stored_vouchers())
    create_ok([GENERAL], code=codes[0])
    create_ok([GENERAL], code=codes[1])
    create_ok([{"ticket_type_id": "general", "quantity": 3}])
    assert held(counters.ticket_scope("general")) == 7
    stripe_client(emulator).v1.refunds.create(
        params={"payment_intent": bf.state(purchase["id"])["payment_intent_id"]}
    )
    for event in emulator_events(emulator, "charge.refunded") + emulator_events(emulator, "refund.*"):
        process_one(event)
    assert bf.stored(purchase["id"]).status == "refunded"
    assert held(counters.ticket_scope("general")) == 5, "the two redeemed units stay sold"
    bulk_purchases.settle_refunds(bf.stored(purchase["id"]))
    assert held(counters.ticket_scope("general")) == 5
    assert capacity_breaks() == []


def test_the_audit_flags_a_counter_that_drifted_from_the_orders(demo):
    limit_general(3)
    create_ok([GENERAL])
    counters.Counter(*counters.Counter.key("demo", counters.ticket_scope("general"))).update(
        actions=[counters.Counter.held.set(0)], add_version_condition=False
    )
    (found,) = capacity_breaks()
    assert (found["record"], found["invariant"], found["ours"]) == ("ticket#general", "capacity.counter", 0)


def test_the_demo_shows_available_units_and_a_sold_out_item(aws):
    from types import SimpleNamespace

    from local.demo import DEMO_ID, seed

    seed(SimpleNamespace(stripe=None, api_url="http://127.0.0.1:1"))
    items = catalog()
    assert DEMO_ID == "demo"
    assert (items["student"]["available"], items["student"]["sold_out"]) == (5, False)
    assert (items["dinner"]["available"], items["dinner"]["sold_out"]) == (0, True)
    assert (items["general"]["available"], items["general"]["sold_out"]) == (500, False), "within the venue"
    assert capacity_breaks() == []


def test_a_failed_purchase_paid_after_all_holds_its_block_again(demo, emulator):
    limit_general(5)
    purchase, session_id = bf.checked_out(emulator, bf.staff_body(quantity=4))
    bulk_purchases.mark_failed("demo", {"id": session_id, "metadata": {"bulk_purchase_id": purchase["id"]}})
    assert held(counters.ticket_scope("general")) == 0
    create_ok([{"ticket_type_id": "general", "quantity": 2}])
    emulator.pay(session_id, "succeed")
    assert process_one(one_event(emulator, "checkout.session.completed", id=session_id)) == "processed"
    record = bf.stored(purchase["id"])
    assert (record.status, record.block_state) == ("paid", "held")
    assert held(counters.ticket_scope("general")) == 6, "paid codes are honoured past capacity"
    assert "over capacity" in (record.attention or "")
    assert [b["invariant"] for b in capacity_breaks()] == ["capacity.item"]
