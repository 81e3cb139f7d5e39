"""Staff refunds of orders: states, amounts, audit, Stripe reasons, the original system's defects, events.

Every refund goes through the refunds function's real handler and the in-process Stripe emulator;
Stripe's own events come from the emulator and go through admission, the bus and the processor.
"""

import pytest

from boxoffice.store import orders as order_records
from tests.support.functions import checkout_fn, refunds_fn
from tests.support.http import ATTENDEE, OTHER_ATTENDEE, OTHER_STAFF, SPONSOR, STAFF, assert_error, call
from tests.support.pipeline import process, rerun, sync
from tests.support.refund_fixtures import (
    add_payment,
    all_credit_items,
    apply_credit,
    bump,
    cancelled_order,
    comp_voucher,
    list_credits,
    list_refunds,
    make_credit,
    money,
    new_order,
    paid_order,
    pay_order,
    refund,
    refund_ok,
    split_order,
    store_credit_balance,
    stored_refunds,
    stripe_refunds,
)
from tests.support.stripe import emulator_events, stripe_client, variant

REASONS = ["requested_by_customer", "duplicate", "fraudulent"]


# --- order status follows the cumulative refunds ------------------------------------------------------------


def test_a_full_refund_to_the_card_makes_the_order_refunded(demo, emulator):
    order = paid_order(emulator, 10000)
    body = refund_ok(order["id"], 10000)
    assert (body["status"], body["source"], body["destination"]) == ("succeeded", "api", "card")
    assert (body["order_id"], body["amount"], body["currency"], body["credit"]) == (
        order["id"],
        10000,
        "usd",
        None,
    )
    assert money(order["id"]) == {
        "status": "refunded",
        "amount_paid": 10000,
        "amount_refunded": 10000,
        "refundable": 0,
        "refund_reserved": 0,
    }
    (at_stripe,) = stripe_refunds(emulator, order["payment_intent_id"])
    assert body["stripe_refund_ids"] == [at_stripe["id"]]
    assert (at_stripe["amount"], at_stripe["status"]) == (10000, "succeeded")
    assert at_stripe["metadata"] == {
        "refund_id": body["id"],
        "conference_id": "demo",
        "order_id": order["id"],
    }


def test_a_partial_refund_makes_the_order_partially_refunded(demo, emulator):
    order = paid_order(emulator, 10000)
    refund_ok(order["id"], 3000)
    assert money(order["id"]) == {
        "status": "partially_refunded",
        "amount_paid": 10000,
        "amount_refunded": 3000,
        "refundable": 7000,
        "refund_reserved": 0,
    }
    assert [r["amount"] for r in stripe_refunds(emulator, order["payment_intent_id"])] == [3000]


def test_forty_then_sixty_goes_partially_refunded_then_refunded(demo, emulator):
    order = paid_order(emulator, 10000)
    refund_ok(order["id"], 4000)
    assert money(order["id"])["status"] == "partially_refunded"
    refund_ok(order["id"], 6000)
    state = money(order["id"])
    assert (state["status"], state["amount_refunded"], state["refundable"]) == ("refunded", 10000, 0)
    assert [r["amount"] for r in stripe_refunds(emulator, order["payment_intent_id"])] == [4000, 6000]
    # Stripe's events for both refunds arrive afterwards and change nothing.
    sync(emulator)
    assert money(order["id"]) == state


# --- preconditions -----------------------------------------------------------------------------------------------


def _pending(emulator) -> str:
    return new_order(10000)["id"]


def _refunded(emulator) -> str:
    order = paid_order(emulator, 10000)
    refund_ok(order["id"], 10000)
    return order["id"]


@pytest.mark.parametrize(
    "make", [_pending, cancelled_order, _refunded], ids=["pending", "cancelled", "refunded"]
)
def test_an_order_that_is_not_paid_or_partially_refunded_cannot_be_refunded(demo, emulator, make):
    order_id = make(emulator)
    before, stripe_before = money(order_id), emulator_events(emulator, "refund.created")
    assert_error(refund(order_id, 1000), 409, "invalid_state")
    assert money(order_id) == before
    assert emulator_events(emulator, "refund.created") == stripe_before
    assert [r.status for r in stored_refunds(order_id)] == (["succeeded"] if make is _refunded else [])


@pytest.mark.parametrize("amount", [0, -100])
def test_an_amount_of_zero_or_less_is_refused(demo, emulator, amount):
    order = paid_order(emulator, 10000)
    reply = refund(order["id"], amount)
    assert_error(reply, 422, "validation_error")
    assert any(d["loc"][-1] == "amount" for d in reply.json["error"]["details"])
    assert money(order["id"])["refundable"] == 10000
    assert stripe_refunds(emulator, order["payment_intent_id"]) == []


def test_a_free_order_has_no_card_payment_to_refund(demo, emulator):
    code = comp_voucher()
    reply = call(
        checkout_fn(),
        "POST",
        "/v1/conferences/demo/orders",
        body={"lines": [{"ticket_type_id": "general", "quantity": 1}], "voucher_code": code},
        claims=ATTENDEE,
    )
    assert reply.status == 201, reply.text
    order = reply.json
    assert (order["status"], order["total"], order["payments"][0]["method"]) == ("paid", 0, "comp")
    for destination in ("card", "store_credit"):
        assert_error(refund(order["id"], 1, destination=destination), 409, "invalid_state")
    assert stored_refunds(order["id"]) == []
    assert all_credit_items() == []


def test_the_credit_paid_part_of_an_order_goes_back_only_as_store_credit(demo, emulator):
    """Seen broken: the credit-paid part of an order could never be refunded, not even as credit."""
    order = new_order(10000)
    make_credit(10000)
    assert apply_credit("cr_00000000000000a1", order["id"]).status == 201
    assert money(order["id"])["status"] == "paid"
    assert_error(refund(order["id"], 5000), 409, "invalid_state")
    assert stored_refunds(order["id"]) == []
    credit = refund_ok(order["id"], 6000, destination="store_credit")
    assert (credit["destination"], credit["status"], credit["credit"]["amount"]) == (
        "store_credit",
        "succeeded",
        6000,
    )
    reply = refund(order["id"], 5000, destination="store_credit")
    assert_error(reply, 422, "validation_error")
    assert reply.json["error"]["details"][0]["msg"] == "at most 4000"
    refund_ok(order["id"], 4000, destination="store_credit")
    state = money(order["id"])
    assert (state["status"], state["amount_refunded"], store_credit_balance(order["id"])) == (
        "refunded",
        10000,
        0,
    )


def test_an_order_paid_part_by_credit_part_by_card_refunds_each_part_to_where_it_came_from(demo, emulator):
    order = new_order(10000)
    make_credit(4000)
    assert apply_credit("cr_00000000000000a1", order["id"]).status == 201
    pay_order(emulator, order["id"])
    state = money(order["id"])
    assert (state["status"], state["amount_paid"], state["refundable"]) == ("paid", 10000, 6000)
    assert store_credit_balance(order["id"]) == 10000
    assert_error(refund(order["id"], 6001), 422, "validation_error")
    refund_ok(order["id"], 6000)
    assert_error(refund(order["id"], 1000), 409, "invalid_state")  # the card got all of its part
    refund_ok(order["id"], 4000, destination="store_credit")
    state = money(order["id"])
    assert (state["status"], state["amount_refunded"], store_credit_balance(order["id"])) == (
        "refunded",
        10000,
        0,
    )


def test_more_than_the_order_total_is_refused(demo, emulator):
    order = paid_order(emulator, 10000)
    reply = refund(order["id"], 15000)
    assert_error(reply, 422, "validation_error")
    assert reply.json["error"]["details"][0]["loc"] == ["body", "amount"]
    assert money(order["id"])["refundable"] == 10000
    assert stripe_refunds(emulator, order["payment_intent_id"]) == []


def test_more_than_what_is_left_after_a_refund_is_refused(demo, emulator):
    order = paid_order(emulator, 10000)
    refund_ok(order["id"], 7000)
    assert_error(refund(order["id"], 5000), 422, "validation_error")
    assert_error(refund(order["id"], 5000, destination="store_credit"), 422, "validation_error")
    assert money(order["id"])["refundable"] == 3000
    refund_ok(order["id"], 3000)
    assert money(order["id"])["status"] == "refunded"
    assert [r["amount"] for r in stripe_refunds(emulator, order["payment_intent_id"])] == [7000, 3000]


def test_manual_payments_do_not_count_toward_what_can_be_refunded(demo, emulator):
    # 150 due: 50 paid at the desk (a manual payment recorded by hand), then 100 by card.
    order = new_order(15000)
    add_payment(order["id"], "manual", 5000)
    bump(order["id"], amount_paid=5000)
    intent = pay_order(emulator, order["id"])
    assert (money(order["id"])["amount_paid"], money(order["id"])["refundable"]) == (15000, 10000)

    assert_error(refund(order["id"], 11000), 422, "validation_error")
    refund_ok(order["id"], 10000)
    assert [r["amount"] for r in stripe_refunds(emulator, intent)] == [10000]
    state = money(order["id"])
    assert (state["status"], state["amount_refunded"], state["refundable"]) == (
        "partially_refunded",
        10000,
        0,
    )


# --- audit and Stripe's reasons ------------------------------------------------------------------------------


def test_the_note_carries_the_order_reference_the_reason_and_the_staff_user(demo, emulator):
    order = paid_order(emulator, 10000)
    body = refund_ok(order["id"], 2000, reason="duplicate", note="charged twice at the desk")
    for part in (order["reference"], "duplicate", STAFF["sub"], "charged twice at the desk"):
        assert part in body["note"]
    assert body["created_by"] == STAFF["sub"]
    (listed,) = list_refunds(order["id"]).json["items"]
    assert (listed["note"], listed["created_by"]) == (body["note"], STAFF["sub"])
    (record,) = stored_refunds(order["id"])
    assert (record.note, record.created_by) == (body["note"], STAFF["sub"])


def test_without_a_free_text_note_the_note_still_names_the_order_reason_and_staff(demo, emulator):
    order = paid_order(emulator, 10000)
    body = refund_ok(order["id"], 2000, reason="fraudulent")
    assert all(part in body["note"] for part in (order["reference"], "fraudulent", STAFF["sub"]))


@pytest.mark.parametrize("reason", REASONS)
def test_the_reason_is_passed_to_stripe(demo, emulator, reason):
    order = paid_order(emulator, 10000)
    body = refund_ok(order["id"], 2500, reason=reason)
    assert body["reason"] == reason
    (re_id,) = body["stripe_refund_ids"]
    assert stripe_client(emulator).v1.refunds.retrieve(re_id).to_dict()["reason"] == reason


@pytest.mark.parametrize(
    "change",
    [
        {"reason": "changed_my_mind"},
        {"reason": None},
        {"destination": "cash"},
        {"amount": "100"},
        {"extra": 1},
    ],
    ids=["unknown-reason", "no-reason", "unknown-destination", "amount-as-text", "unknown-field"],
)
def test_a_malformed_refund_request_is_422_and_changes_nothing(demo, emulator, change):
    order = paid_order(emulator, 10000)
    body = {"amount": 1000, "reason": "requested_by_customer", "destination": "card", **change}
    body = {k: v for k, v in body.items() if v is not None}
    reply = call(
        refunds_fn(), "POST", f"/v1/conferences/demo/orders/{order['id']}/refunds", body=body, claims=STAFF
    )
    assert_error(reply, 422, "validation_error")
    assert money(order["id"])["refundable"] == 10000
    assert stripe_refunds(emulator, order["payment_intent_id"]) == []


# --- store credit as the destination --------------------------------------------------------------------------


def test_a_refund_to_store_credit_calls_no_stripe_and_issues_an_available_credit(demo, emulator):
    order = paid_order(emulator, 10000)
    body = refund_ok(order["id"], 4000, destination="store_credit", note="voucher for next year")
    assert (body["status"], body["destination"], body["stripe_refund_ids"]) == (
        "succeeded",
        "store_credit",
        [],
    )
    issued = body["credit"]
    assert issued["user_id"] == ATTENDEE["sub"]
    assert (issued["amount"], issued["remaining_amount"], issued["status"]) == (4000, 4000, "available")
    assert (issued["source_order_id"], issued["currency"], issued["applications"]) == (order["id"], "usd", [])
    assert stripe_refunds(emulator, order["payment_intent_id"]) == []
    state = money(order["id"])
    assert (state["status"], state["amount_refunded"], state["refundable"]) == (
        "partially_refunded",
        4000,
        6000,
    )
    assert [c["id"] for c in list_credits(ATTENDEE).json["items"]] == [issued["id"]]


# --- the original system's defects ---------------------------------------------------------------------------


@pytest.mark.parametrize("keys", [(None, None), ("first", "second")], ids=["no-keys", "two-keys"])
def test_two_equal_partial_refunds_are_two_real_stripe_refunds(demo, emulator, keys):
    """docs/domain.md defect 8: the second equal refund shared the first's Stripe key, so Stripe replayed it."""
    order = paid_order(emulator, 10000)
    first = refund_ok(order["id"], 3000, key=keys[0])
    second = refund_ok(order["id"], 3000, key=keys[1])
    assert first["id"] != second["id"]
    assert first["stripe_refund_ids"] != second["stripe_refund_ids"]
    at_stripe = stripe_refunds(emulator, order["payment_intent_id"])
    assert [(r["amount"], r["status"]) for r in at_stripe] == [(3000, "succeeded"), (3000, "succeeded")]
    assert {r["id"] for r in at_stripe} == {*first["stripe_refund_ids"], *second["stripe_refund_ids"]}
    assert money(order["id"])["amount_refunded"] == 6000
    sync(emulator)
    assert money(order["id"])["amount_refunded"] == 6000


def test_a_card_refund_creates_no_spendable_credit(demo, emulator):
    """docs/domain.md defect 9: the original system refunded the card and also issued a credit for the same amount."""
    order = paid_order(emulator, 10000)
    body = refund_ok(order["id"], 10000)
    sync(emulator)
    assert body["credit"] is None
    assert all_credit_items() == []
    assert list_credits(ATTENDEE).json["items"] == []
    assert list_credits(STAFF).json["items"] == []


def refunded_at_stripe(emulator, intent: str) -> list[int]:
    return [r["amount"] for r in stripe_refunds(emulator, intent)]


def test_a_refund_starts_at_the_newest_payment_intent(demo, emulator):
    """docs/domain.md defect 10: only the newest payment was ever refunded."""
    order_id, older, newer = split_order(emulator)
    first = refund_ok(order_id, 15000)
    assert (refunded_at_stripe(emulator, newer), refunded_at_stripe(emulator, older)) == ([15000], [])
    assert len(first["stripe_refund_ids"]) == 1


def test_a_refund_larger_than_the_newest_intent_has_left_is_split_across_intents(demo, emulator):
    order_id, older, newer = split_order(emulator)
    refund_ok(order_id, 15000)
    second = refund_ok(order_id, 10000)
    assert refunded_at_stripe(emulator, newer) == [15000, 5000]
    assert refunded_at_stripe(emulator, older) == [5000]
    assert len(second["stripe_refund_ids"]) == 2
    third = refund_ok(order_id, 5000)
    assert refunded_at_stripe(emulator, newer) == [15000, 5000]
    assert refunded_at_stripe(emulator, older) == [5000, 5000]
    assert len(third["stripe_refund_ids"]) == 1
    payments = {
        p.payment_intent_id: int(p.amount_refunded) for p in order_records.payments_of("demo", order_id)
    }
    assert payments == {newer: 20000, older: 10000}
    state = money(order_id)
    assert (state["status"], state["amount_refunded"], state["refundable"]) == ("refunded", 30000, 0)


def test_a_full_refund_of_a_split_payment_asks_each_intent_for_exactly_what_it_has(demo, emulator):
    order_id, older, newer = split_order(emulator)
    body = refund_ok(order_id, 30000)
    assert (refunded_at_stripe(emulator, newer), refunded_at_stripe(emulator, older)) == ([20000], [10000])
    assert len(body["stripe_refund_ids"]) == 2
    assert money(order_id)["status"] == "refunded"
    sync(emulator)
    assert money(order_id)["amount_refunded"] == 30000


def test_an_earlier_charge_refunded_arriving_last_never_moves_the_order_back(demo, emulator):
    """docs/domain.md defect 13: a late charge.refunded (with a smaller amount_refunded) moved refunded back."""
    order = paid_order(emulator, 10000)
    intent = order["payment_intent_id"]
    client = stripe_client(emulator)
    client.v1.refunds.create(params={"payment_intent": intent, "amount": 4000})
    client.v1.refunds.create(params={"payment_intent": intent, "amount": 6000})
    earlier, later = emulator_events(emulator, "charge.refunded")
    assert (earlier["data"]["object"]["amount_refunded"], later["data"]["object"]["amount_refunded"]) == (
        4000,
        10000,
    )

    assert process([later]) == ["processed"]
    assert money(order["id"])["status"] == "refunded"
    assert process([earlier]) == ["processed"]
    state = money(order["id"])
    assert (state["status"], state["amount_refunded"], state["refundable"]) == ("refunded", 10000, 0)
    sync(emulator)
    assert money(order["id"]) == state


def test_charge_refunded_events_of_api_refunds_in_reverse_order_change_nothing(demo, emulator):
    order = paid_order(emulator, 10000)
    refund_ok(order["id"], 4000)
    refund_ok(order["id"], 6000)
    state = money(order["id"])
    assert state["status"] == "refunded"
    for event in reversed(emulator_events(emulator, "charge.refunded")):
        assert process([event]) == ["processed"]
        assert money(order["id"]) == state
    assert [r.source for r in stored_refunds(order["id"])] == ["api", "api"]


@pytest.mark.parametrize("first", ["charge.refunded", "refund.created"])
def test_a_dashboard_refund_is_counted_once_as_external(demo, emulator, first):
    order = paid_order(emulator, 10000)
    re = stripe_client(emulator).v1.refunds.create(
        params={"payment_intent": order["payment_intent_id"], "amount": 2500}
    )
    charge_refunded = emulator_events(emulator, "charge.refunded")[-1]
    created = emulator_events(emulator, "refund.created", id=re.id)[-1]
    both = [charge_refunded, created] if first == "charge.refunded" else [created, charge_refunded]
    assert process(both) == ["processed", "processed"]
    # Each arrives again: the same delivery, a processor retry, and Stripe saying it under a new id.
    assert process(both) == []
    assert [rerun(e) for e in both] == ["processed", "processed"]
    assert process([variant(e, f"{e['id']}_again") for e in both]) == ["processed", "processed"]
    sync(emulator)

    (record,) = stored_refunds(order["id"])
    assert (record.source, record.status, int(record.amount)) == ("external", "succeeded", 2500)
    assert (record.stripe_refund_ids, record.destination, record.created_by) == ([re.id], "card", None)
    state = money(order["id"])
    assert (state["status"], state["amount_refunded"], state["refundable"]) == (
        "partially_refunded",
        2500,
        7500,
    )
    (payment,) = order_records.payments_of("demo", order["id"])
    assert int(payment.amount_refunded) == 2500
    # What the dashboard took is no longer refundable through the API.
    assert_error(refund(order["id"], 8000), 422, "validation_error")
    refund_ok(order["id"], 7500)
    assert money(order["id"])["status"] == "refunded"


# --- refunds that fail later ------------------------------------------------------------------------------


def test_a_refund_that_fails_later_gives_its_amount_back(demo, emulator):
    order = paid_order(emulator, 10000)
    body = refund_ok(order["id"], 3000)
    sync(emulator)
    (re_id,) = body["stripe_refund_ids"]
    emulator.fail_refund(re_id, "expired_or_canceled_card")
    sync(emulator)
    (record,) = stored_refunds(order["id"])
    assert (record.status, record.failure_reason) == ("failed", "expired_or_canceled_card")
    assert money(order["id"]) == {
        "status": "paid",
        "amount_paid": 10000,
        "amount_refunded": 0,
        "refundable": 10000,
        "refund_reserved": 0,
    }
    (payment,) = order_records.payments_of("demo", order["id"])
    assert int(payment.amount_refunded) == 0
    (listed,) = list_refunds(order["id"]).json["items"]
    assert (listed["status"], listed["failure_reason"]) == ("failed", "expired_or_canceled_card")


def test_a_failed_refund_of_a_refunded_order_recomputes_its_status(demo, emulator):
    order = paid_order(emulator, 10000)
    refund_ok(order["id"], 4000)
    second = refund_ok(order["id"], 6000)
    assert money(order["id"])["status"] == "refunded"
    emulator.fail_refund(second["stripe_refund_ids"][0])
    sync(emulator)
    state = money(order["id"])
    assert (state["status"], state["amount_refunded"], state["refundable"]) == (
        "partially_refunded",
        4000,
        6000,
    )
    # The amount that came back can be refunded again.
    refund_ok(order["id"], 6000)
    assert money(order["id"])["status"] == "refunded"


def test_a_refund_of_an_amount_ending_in_13_fails_at_the_bank_and_is_restored(demo, emulator):
    order = paid_order(emulator, 10000)
    body = refund_ok(order["id"], 1013)
    assert body["status"] == "succeeded"
    assert money(order["id"])["amount_refunded"] == 1013
    emulator.advance_clock(5)
    (failed,) = emulator_events(emulator, "refund.failed")
    assert failed["data"]["object"]["id"] == body["stripe_refund_ids"][0]
    sync(emulator)
    (record,) = stored_refunds(order["id"])
    assert (record.status, record.failure_reason) == ("failed", "lost_or_stolen_card")
    state = money(order["id"])
    assert (state["status"], state["amount_refunded"], state["refundable"]) == ("paid", 0, 10000)


def test_each_failed_part_of_a_split_refund_gives_its_amount_back(demo, emulator):
    order_id, older, newer = split_order(emulator)
    body = refund_ok(order_id, 25000)
    assert len(body["stripe_refund_ids"]) == 2
    sync(emulator)
    for re_id in body["stripe_refund_ids"]:
        emulator.fail_refund(re_id)
    sync(emulator)
    assert [r["status"] for r in stripe_refunds(emulator, newer) + stripe_refunds(emulator, older)] == [
        "failed",
        "failed",
    ]
    state = money(order_id)
    assert (state["status"], state["amount_refunded"], state["refundable"]) == ("paid", 0, 30000)
    payments = {
        p.payment_intent_id: int(p.amount_refunded) for p in order_records.payments_of("demo", order_id)
    }
    assert payments == {newer: 0, older: 0}


# --- who may refund and list ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "claims", [ATTENDEE, SPONSOR, OTHER_STAFF], ids=["attendee", "sponsor", "other-staff"]
)
def test_only_staff_of_the_conference_may_refund(demo, emulator, claims):
    order = paid_order(emulator, 10000)
    assert_error(refund(order["id"], 1000, claims=claims), 403, "forbidden")
    assert money(order["id"])["refundable"] == 10000
    assert stored_refunds(order["id"]) == []
    assert stripe_refunds(emulator, order["payment_intent_id"]) == []


def test_refunding_a_missing_order_is_404(demo, emulator):
    assert_error(refund("ord_0000000000000000", 1000), 404, "not_found")
    assert_error(refund("not-an-order", 1000), 422, "validation_error")


@pytest.mark.parametrize("claims", [ATTENDEE, STAFF], ids=["owner", "staff"])
def test_the_owner_and_staff_list_an_orders_refunds(demo, emulator, claims):
    order = paid_order(emulator, 10000)
    card = refund_ok(order["id"], 1000)
    credit = refund_ok(order["id"], 2000, destination="store_credit")
    reply = list_refunds(order["id"], claims)
    assert reply.status == 200, reply.text
    assert reply.json["next"] is None
    items = {r["id"]: r for r in reply.json["items"]}
    assert set(items) == {card["id"], credit["id"]}
    assert items[card["id"]]["destination"] == "card"
    assert items[credit["id"]]["credit"]["amount"] == 2000


@pytest.mark.parametrize(
    "claims", [OTHER_ATTENDEE, OTHER_STAFF], ids=["another-user", "another-conference-staff"]
)
def test_anyone_else_listing_an_orders_refunds_gets_404(demo, emulator, claims):
    order = paid_order(emulator, 10000)
    refund_ok(order["id"], 1000)
    assert_error(list_refunds(order["id"], claims), 404, "not_found")
