"""Cancelling orders, the hold-expiry sweep, and who may see which order."""

import pytest

from boxoffice import orders
from tests.support.http import ATTENDEE, OTHER_ATTENDEE, OTHER_STAFF, STAFF
from tests.support.order_fixtures import (
    GENERAL,
    WORKSHOP,
    cancel,
    checkout,
    create_ok,
    get,
    listing,
    make_voucher,
    move_hold_into_past,
    sessions_for,
    stored,
    times_used,
)
from tests.support.stripe import stripe_client

# --- cancel -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("claims", [ATTENDEE, STAFF], ids=["owner", "staff"])
def test_the_owner_or_staff_cancel_a_pending_order_and_its_voucher_use_is_released(demo, claims):
    make_voucher("CODE1")
    order = create_ok([GENERAL], "CODE1")
    assert times_used("CODE1") == 1
    reply = cancel(order["id"], claims)
    assert reply.status == 200, reply.text
    assert reply.json["status"] == "cancelled"
    assert reply.json["hold_expires_at"] is None
    assert times_used("CODE1") == 0
    assert get(order["id"]).json["status"] == "cancelled"
    assert stored(order["id"]).GSI1PK is None


def test_cancelling_twice_releases_the_use_once(demo):
    make_voucher("CODE1")
    first = create_ok([GENERAL], "CODE1")
    create_ok([GENERAL], "CODE1")
    assert times_used("CODE1") == 2
    assert cancel(first["id"]).status == 200
    again = cancel(first["id"])
    assert again.status == 409, again.text
    assert times_used("CODE1") == 1


def test_cancel_of_a_paid_order_is_409(demo):
    make_voucher("FREE", voucher_type="comp")
    order = create_ok([GENERAL], "FREE")
    reply = cancel(order["id"], STAFF)
    assert reply.status == 409, reply.text
    assert reply.json["error"]["code"] == "invalid_state"
    assert get(order["id"]).json["status"] == "paid"
    assert times_used("FREE") == 1


@pytest.mark.parametrize(
    "claims", [OTHER_ATTENDEE, OTHER_STAFF], ids=["another_attendee", "another_conferences_staff"]
)
def test_someone_elses_cancel_is_404_and_changes_nothing(demo, claims):
    make_voucher("CODE1")
    order = create_ok([GENERAL], "CODE1")
    reply = cancel(order["id"], claims)
    assert reply.status == 404, reply.text
    assert get(order["id"]).json["status"] == "pending"
    assert times_used("CODE1") == 1


def test_cancelling_expires_the_open_checkout_session(demo, emulator):
    order = create_ok()
    session_id = checkout(order["id"]).json["session_id"]
    assert cancel(order["id"]).status == 200
    session = stripe_client(emulator).v1.checkout.sessions.retrieve(session_id)
    assert session.status == "expired"


# --- the hold-expiry sweep ------------------------------------------------------------------------------------


def test_the_sweep_cancels_an_order_past_its_hold_expires_its_session_and_releases_the_voucher(
    demo, emulator
):
    make_voucher("CODE1")
    expired = create_ok([GENERAL], "CODE1")
    session_id = checkout(expired["id"]).json["session_id"]
    held = create_ok([WORKSHOP], "CODE1")
    assert times_used("CODE1") == 2
    move_hold_into_past(expired["id"])

    assert orders.sweep_expired_holds("demo") == 1

    assert get(expired["id"]).json["status"] == "cancelled"
    assert get(held["id"]).json["status"] == "pending"
    assert times_used("CODE1") == 1
    (session,) = sessions_for(emulator, expired["id"])
    assert session["id"] == session_id
    assert session["status"] == "expired"
    assert orders.sweep_expired_holds("demo") == 0  # nothing left past its hold
    assert times_used("CODE1") == 1


def test_the_sweep_cancels_an_order_that_never_checked_out(demo, emulator):
    order = create_ok()
    move_hold_into_past(order["id"])
    assert orders.sweep_expired_holds("demo") == 1
    assert get(order["id"]).json["status"] == "cancelled"
    assert sessions_for(emulator, order["id"]) == []


def test_the_sweep_leaves_orders_inside_their_hold_alone(demo):
    order = create_ok()
    assert orders.sweep_expired_holds("demo") == 0
    assert get(order["id"]).json["status"] == "pending"


# --- who sees what ------------------------------------------------------------------------------------------------


def test_an_attendee_lists_and_reads_only_their_own_orders(demo):
    mine = create_ok()
    theirs = create_ok(claims=OTHER_ATTENDEE)
    listed = listing(ATTENDEE)
    assert listed.status == 200, listed.text
    assert [o["id"] for o in listed.json["items"]] == [mine["id"]]
    assert listing(ATTENDEE, f"user_id={OTHER_ATTENDEE['sub']}").json["items"][0]["id"] == mine["id"]
    assert get(mine["id"]).status == 200
    missing = get(theirs["id"])
    assert missing.status == 404, missing.text
    assert missing.json["error"]["code"] == "not_found"


def test_staff_see_every_order_and_filter_by_user_and_status(demo):
    mine = create_ok()
    theirs = create_ok(claims=OTHER_ATTENDEE)
    assert cancel(theirs["id"], OTHER_ATTENDEE).status == 200
    every = listing(STAFF)
    assert every.status == 200, every.text
    assert {o["id"] for o in every.json["items"]} == {mine["id"], theirs["id"]}
    one_user = listing(STAFF, f"user_id={OTHER_ATTENDEE['sub']}").json["items"]
    assert [o["id"] for o in one_user] == [theirs["id"]]
    pending = listing(STAFF, "status=pending").json["items"]
    assert [o["id"] for o in pending] == [mine["id"]]
    assert get(theirs["id"], STAFF).status == 200


def test_another_conferences_staff_are_like_any_attendee_here(demo):
    order = create_ok()
    assert get(order["id"], OTHER_STAFF).status == 404
    assert listing(OTHER_STAFF).json["items"] == []


@pytest.mark.parametrize("bad_id", ["nope", "ord_XYZ", "ord_0123456789abcdeg", "ord_0123456789abcdef0"])
def test_a_malformed_order_id_is_a_422(demo, bad_id):
    reply = get(bad_id)
    assert reply.status == 422, reply.text
    assert reply.json["error"]["code"] == "validation_error"


def test_an_unknown_well_formed_order_id_is_a_404(demo):
    assert get("ord_0123456789abcdef").status == 404


@pytest.mark.parametrize("action", ["list", "get", "cancel", "checkout"])
def test_unsigned_calls_are_401(demo, action):
    order = create_ok()
    reply = {
        "list": lambda: listing(None),
        "get": lambda: get(order["id"], None),
        "cancel": lambda: cancel(order["id"], None),
        "checkout": lambda: checkout(order["id"], None),
    }[action]()
    assert reply.status == 401, reply.text
    assert reply.json["error"]["code"] == "unauthenticated"
    assert get(order["id"]).json["status"] == "pending"
