"""Store credit: applying a credit to an order (the checks, what it moves, order.paid), listing (its races run on DynamoDB Local).

Credits come from a ``store_credit`` refund or are written straight into the table (indexed, so the
listings find them). Orders are made of workshops (5000 each) through the real handlers.
"""

from datetime import timedelta
from typing import Any

import pytest

from boxoffice import credits, orders
from boxoffice.store import credits as credit_records
from boxoffice.store import orders as order_records
from tests.support.bus import BusTap, domain_events
from tests.support.clock import now
from tests.support.functions import api_fn, refunds_fn
from tests.support.http import (
    ADMIN,
    ATTENDEE,
    DEMO_CONFERENCE,
    OTHER_ATTENDEE,
    OTHER_STAFF,
    STAFF,
    assert_error,
    call,
)
from tests.support.order_fixtures import cancel_ok, stored
from tests.support.refund_fixtures import (
    apply_credit,
    bump,
    cancelled_order,
    credit,
    ledger,
    list_credits,
    make_credit,
    money,
    new_order,
    paid_order,
    pay_order,
    refund_ok,
)
from tests.support.stripe import stripe_client

CREDIT = "cr_00000000000000a1"


def order_view(order_id: str, claims: dict[str, Any] = ATTENDEE) -> dict[str, Any]:
    reply = call(api_fn(), "GET", f"/v1/conferences/demo/orders/{order_id}", claims=claims)
    assert reply.status == 200, reply.text
    return reply.json


def applied_ok(credit_id: str, order_id: str, claims: dict[str, Any] = ATTENDEE) -> dict[str, Any]:
    reply = apply_credit(credit_id, order_id, claims)
    assert reply.status == 201, reply.text
    return reply.json


def credit_state(credit_id: str) -> tuple[int, str, list[tuple[str, int]]]:
    found = credit(credit_id)
    return int(found.remaining_amount), found.status, ledger(credit_id)


# --- what applying does ---------------------------------------------------------------------------------------


def test_a_credit_that_covers_the_order_pays_it_and_is_used_up(demo):
    order = new_order(10000)
    make_credit(10000)
    payment = applied_ok(CREDIT, order["id"])
    assert (payment["method"], payment["status"], payment["amount"]) == ("credit", "succeeded", 10000)
    assert (payment["credit_id"], payment["payment_intent_id"]) == (CREDIT, None)
    assert credit_state(CREDIT) == (0, "applied", [(order["id"], 10000)])
    view = order_view(order["id"])
    assert (view["status"], view["amount_paid"], view["hold_expires_at"]) == ("paid", 10000, None)
    assert [p["id"] for p in view["payments"]] == [payment["id"]]


def test_a_credit_larger_than_the_order_keeps_the_rest_available(demo):
    order = new_order(5000)
    make_credit(20000)
    assert applied_ok(CREDIT, order["id"])["amount"] == 5000
    assert credit_state(CREDIT) == (15000, "available", [(order["id"], 5000)])
    assert order_view(order["id"])["status"] == "paid"
    listed = list_credits().json["items"]
    assert [(c["id"], c["remaining_amount"], c["status"]) for c in listed] == [(CREDIT, 15000, "available")]
    assert listed[0]["applications"][0]["order_id"] == order["id"]


def test_a_credit_smaller_than_the_order_leaves_it_pending_with_the_rest_due(demo, emulator):
    order = new_order(20000)
    make_credit(5000)
    tap = BusTap(("boxoffice",))
    assert applied_ok(CREDIT, order["id"])["amount"] == 5000
    assert credit_state(CREDIT) == (0, "applied", [(order["id"], 5000)])
    view = order_view(order["id"])
    assert (view["status"], view["amount_paid"]) == ("pending", 5000)
    assert view["hold_expires_at"] is not None
    assert domain_events(tap, "order.paid") == []
    # Checkout charges only what is left, and the card payment completes the order.
    intent = pay_order(emulator, order["id"])
    assert stripe_client(emulator).v1.payment_intents.retrieve(intent).to_dict()["amount"] == 15000
    assert (money(order["id"])["status"], money(order["id"])["amount_paid"]) == ("paid", 20000)
    assert [e["order_id"] for e in domain_events(tap, "order.paid")] == [order["id"]]


def test_a_credit_tops_up_an_order_already_partly_paid(demo):
    """An existing 60 payment plus a 50 credit on a 100 order: 40 applied, 10 left."""
    order = new_order(10000)
    make_credit(6000, credit_id="cr_00000000000000b6")
    applied_ok("cr_00000000000000b6", order["id"])
    assert money(order["id"])["amount_paid"] == 6000
    make_credit(5000)
    tap = BusTap(("boxoffice",))
    assert applied_ok(CREDIT, order["id"])["amount"] == 4000
    assert credit_state(CREDIT) == (1000, "available", [(order["id"], 4000)])
    assert (money(order["id"])["status"], money(order["id"])["amount_paid"]) == ("paid", 10000)
    assert [e["order_id"] for e in domain_events(tap, "order.paid")] == [order["id"]]


def test_a_store_credit_refund_can_be_spent_on_a_new_order(demo, emulator):
    first = paid_order(emulator, 10000)
    issued = refund_ok(first["id"], 5000, destination="store_credit")["credit"]
    second = new_order(5000)
    payment = applied_ok(issued["id"], second["id"])
    assert (payment["amount"], payment["credit_id"]) == (5000, issued["id"])
    assert credit_state(issued["id"]) == (0, "applied", [(second["id"], 5000)])
    assert money(second["id"])["status"] == "paid"


# --- order.paid and the hold ----------------------------------------------------------------------------------


def test_order_paid_is_published_once_and_only_when_the_credit_covers_the_order(demo):
    order = new_order(10000)
    make_credit(4000, credit_id="cr_00000000000000c4")
    make_credit(8000)
    tap = BusTap(("boxoffice",))
    applied_ok("cr_00000000000000c4", order["id"])
    assert domain_events(tap, "order.paid") == []
    applied_ok(CREDIT, order["id"])
    (event,) = domain_events(tap, "order.paid")
    assert event == {
        "conference_id": "demo",
        "order_id": order["id"],
        "reference": order["reference"],
        "user_id": ATTENDEE["sub"],
        "total": 10000,
        "currency": "usd",
    }
    assert_error(apply_credit(CREDIT, order["id"]), 409, "invalid_state")
    orders.announce_paid(stored(order["id"]))  # anything announcing it again is a no-op
    assert domain_events(tap, "order.paid") == []


def test_the_same_apply_request_retried_with_its_key_pays_once_and_announces_once(demo):
    order = new_order(10000)
    make_credit(15000)
    tap = BusTap(("boxoffice",))
    first, again = (
        call(
            refunds_fn(),
            "POST",
            f"/v1/conferences/demo/credits/{CREDIT}/apply",
            body={"order_id": order["id"]},
            claims=ATTENDEE,
            headers={"Idempotency-Key": "apply-1"},
        )
        for _ in range(2)
    )
    assert (first.status, again.status) == (201, 201)
    assert again.json == first.json
    assert again.headers.get("idempotent-replayed") == "true"
    assert credit_state(CREDIT) == (5000, "available", [(order["id"], 10000)])
    assert len(domain_events(tap, "order.paid")) == 1


def test_covering_the_order_clears_its_hold_so_the_expiry_sweep_leaves_it(demo):
    order = new_order(10000)
    make_credit(10000)
    applied_ok(CREDIT, order["id"])
    paid = stored(order["id"])
    assert (paid.hold_expires_at, paid.GSI1PK, paid.GSI1SK) == (None, None, None)
    assert order_records.pending_past_hold("demo", now() + timedelta(days=2)) == []
    assert orders.sweep_expired_holds("demo") == 0
    assert stored(order["id"]).status == "paid"
    assert credit_state(CREDIT)[0] == 0


# --- what is refused ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "remaining"),
    [("applied", 0), ("expired", 5000), ("available", 0)],
    ids=["applied", "expired", "empty"],
)
def test_a_credit_that_is_not_available_or_has_nothing_left_is_refused(demo, status, remaining):
    order = new_order(10000)
    make_credit(5000, remaining=remaining, status=status)
    before = credit_state(CREDIT)
    assert_error(apply_credit(CREDIT, order["id"]), 409, "invalid_state")
    assert credit_state(CREDIT) == before
    assert money(order["id"])["amount_paid"] == 0
    assert order_records.payments_of("demo", order["id"]) == []


def test_a_credit_past_its_expiry_is_refused_before_the_expiry_job_marks_it(demo):
    order = new_order(10000)
    make_credit(5000, expires_at=now() - timedelta(hours=1))
    assert_error(apply_credit(CREDIT, order["id"]), 409, "invalid_state")
    assert credit_state(CREDIT) == (5000, "available", [])
    assert money(order["id"])["amount_paid"] == 0


def test_the_expiry_job_expires_only_available_credits_past_their_date(demo):
    make_credit(5000, expires_at=now() - timedelta(hours=1))
    make_credit(5000, credit_id="cr_00000000000000f1", expires_at=now() + timedelta(hours=1))
    make_credit(5000, credit_id="cr_00000000000000f2")
    assert credits.expire_credits("demo") == 1
    assert [credit(c).status for c in (CREDIT, "cr_00000000000000f1", "cr_00000000000000f2")] == [
        "expired",
        "available",
        "available",
    ]


def _paid(emulator) -> str:
    return paid_order(emulator, 10000)["id"]


@pytest.mark.parametrize("make", [_paid, cancelled_order], ids=["paid", "cancelled"])
def test_a_paid_or_cancelled_order_is_refused(demo, emulator, make):
    order_id = make(emulator)
    make_credit(5000)
    before = money(order_id)
    assert_error(apply_credit(CREDIT, order_id), 409, "invalid_state")
    assert credit_state(CREDIT) == (5000, "available", [])
    assert money(order_id) == before


def test_another_users_credit_is_not_found_for_an_attendee(demo):
    order = new_order(10000)
    make_credit(5000, user_id=OTHER_ATTENDEE["sub"])
    assert_error(apply_credit(CREDIT, order["id"], ATTENDEE), 404, "not_found")
    assert credit_state(CREDIT) == (5000, "available", [])


def test_staff_cannot_apply_one_users_credit_to_another_users_order(demo):
    order = new_order(10000)
    make_credit(5000, user_id=OTHER_ATTENDEE["sub"])
    reply = apply_credit(CREDIT, order["id"], STAFF)
    assert_error(reply, 422, "validation_error")
    assert "different users" in reply.json["error"]["message"]
    assert credit_state(CREDIT) == (5000, "available", [])
    assert money(order["id"])["amount_paid"] == 0


def test_staff_may_apply_a_users_credit_to_that_users_order(demo):
    order = new_order(10000)
    make_credit(5000)
    assert applied_ok(CREDIT, order["id"], STAFF)["amount"] == 5000
    assert money(order["id"])["amount_paid"] == 5000


def test_another_conferences_credit_is_refused(demo):
    body = {**DEMO_CONFERENCE, "name": "Other Conf"}
    assert call(api_fn(), "PUT", "/v1/conferences/other", body=body, claims=ADMIN).status == 201
    order = new_order(10000)
    make_credit(5000, conference_id="other")
    assert_error(apply_credit(CREDIT, order["id"]), 404, "not_found")
    assert_error(apply_credit(CREDIT, order["id"], cid="other"), 404, "not_found")
    assert_error(apply_credit(CREDIT, order["id"], OTHER_STAFF, cid="other"), 404, "not_found")
    theirs = credit_records.get("other", CREDIT)
    assert (int(theirs.remaining_amount), theirs.applications) == (5000, [])
    assert money(order["id"])["amount_paid"] == 0


def test_an_order_already_covered_is_refused(demo):
    # A pending order whose payments already cover it (written by hand: synthetic setup).
    order = new_order(10000)
    bump(order["id"], amount_paid=10000)
    make_credit(5000)
    reply = apply_credit(CREDIT, order["id"])
    assert_error(reply, 409, "invalid_state")
    assert "covered" in reply.json["error"]["message"]
    assert credit_state(CREDIT) == (5000, "available", [])


@pytest.mark.parametrize(
    ("credit_id", "body", "status"),
    [
        ("not-a-credit", {"order_id": "ord_0000000000000000"}, 422),
        (CREDIT, {"order_id": "not-an-order"}, 422),
        (CREDIT, {}, 422),
        (CREDIT, {"order_id": "ord_0000000000000000"}, 404),
        ("cr_00000000000000ff", None, 404),
    ],
    ids=["bad-credit-id", "bad-order-id", "no-order-id", "missing-order", "missing-credit"],
)
def test_apply_refuses_bad_ids_and_missing_records(demo, credit_id, body, status):
    order = new_order(10000)
    make_credit(5000)
    reply = call(
        refunds_fn(),
        "POST",
        f"/v1/conferences/demo/credits/{credit_id}/apply",
        body=body if body is not None else {"order_id": order["id"]},
        claims=ATTENDEE,
    )
    assert_error(reply, status, "validation_error" if status == 422 else "not_found")
    assert credit_state(CREDIT) == (5000, "available", [])


def test_applying_needs_a_signed_in_user(demo):
    order = new_order(10000)
    make_credit(5000)
    assert_error(apply_credit(CREDIT, order["id"], claims=None), 401, "unauthenticated")


# --- giving credit back --------------------------------------------------------------------------------------


def test_cancelling_an_order_gives_its_credit_back(demo):
    order = new_order(10000)
    make_credit(6000)
    payment = applied_ok(CREDIT, order["id"])
    assert credit_state(CREDIT)[:2] == (0, "applied")
    cancel_ok(order["id"])
    assert credit_state(CREDIT)[:2] == (6000, "available")
    (stored_payment,) = order_records.payments_of("demo", order["id"])
    assert (stored_payment.payment_id, stored_payment.status) == (payment["id"], "refunded")
    again = new_order(5000)
    assert applied_ok(CREDIT, again["id"])["amount"] == 5000


def test_credit_given_back_never_exceeds_the_credits_original_amount(demo):
    order = new_order(10000)
    make_credit(6000)
    applied_ok(CREDIT, order["id"])
    # Synthetic: 4000 of it already came back by another path before the cancellation.
    credit(CREDIT).update(
        actions=[
            credit_records.Credit.remaining_amount.set(4000),
            credit_records.Credit.status.set("available"),
        ],
        add_version_condition=False,
    )
    cancel_ok(order["id"])
    assert credit_state(CREDIT)[:2] == (6000, "available")


def test_credit_given_back_to_an_expired_credit_stays_expired(demo):
    order = new_order(10000)
    make_credit(6000)
    applied_ok(CREDIT, order["id"])
    credit(CREDIT).update(actions=[credit_records.Credit.status.set("expired")], add_version_condition=False)
    cancel_ok(order["id"])
    assert credit_state(CREDIT)[:2] == (6000, "expired")


# --- listing ---------------------------------------------------------------------------------------------------


def test_credits_are_listed_to_their_owner_and_to_staff(demo):
    body = {**DEMO_CONFERENCE, "name": "Other Conf"}
    assert call(api_fn(), "PUT", "/v1/conferences/other", body=body, claims=ADMIN).status == 201
    mine = make_credit(1000, credit_id="cr_0000000000000001").credit_id
    theirs = make_credit(2000, credit_id="cr_0000000000000002", user_id=OTHER_ATTENDEE["sub"]).credit_id
    make_credit(3000, credit_id="cr_0000000000000003", conference_id="other")

    def ids(claims: dict[str, Any], query: str = "") -> set[str]:
        reply = list_credits(claims, query)
        assert reply.status == 200, reply.text
        return {c["id"] for c in reply.json["items"]}

    assert ids(ATTENDEE) == {mine}
    assert ids(ATTENDEE, f"user_id={OTHER_ATTENDEE['sub']}") == {mine}
    assert ids(OTHER_ATTENDEE) == {theirs}
    assert ids(STAFF) == {mine, theirs}
    assert ids(STAFF, f"user_id={OTHER_ATTENDEE['sub']}") == {theirs}
    assert ids(OTHER_STAFF) == set()  # staff of another conference is an attendee here


def test_the_credit_listing_pages_with_a_cursor(demo):
    made = {make_credit(1000, credit_id=f"cr_000000000000000{n}").credit_id for n in range(5)}
    first = list_credits(STAFF, "limit=3").json
    assert len(first["items"]) == 3 and first["next"]
    rest = list_credits(STAFF, f"limit=3&cursor={first['next']}").json
    assert {c["id"] for c in first["items"] + rest["items"]} == made
