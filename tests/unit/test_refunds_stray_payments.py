"""Staff refunds of money that is not the order's own payment (DOMAIN.md "Refunds (staff)").

A second payment, or one that arrived after the order was cancelled, is named by its ``payment_id``
in the refund body. It goes back to its own card only, whatever the order's status, for at most
what it has left, and never moves the order's amounts or status: it is counted on the payment
alone (``against=extra``). Every story ends with the audit (``assert_books_hold``).
"""

from contextlib import nullcontext
from typing import Any

import pytest

from boxoffice import refunds
from boxoffice.errors import ValidationFailed
from boxoffice.refunds import OrderRefundRequest, phases, stripe_events
from boxoffice.store import orders as order_records
from tests.support.books import assert_books_hold
from tests.support.functions import api_fn, checkout_fn
from tests.support.http import ATTENDEE, ORDERS, STAFF, call
from tests.support.order_fixtures import stored
from tests.support.pipeline import sync
from tests.support.refund_fixtures import (
    add_payment,
    dashboard_refund,
    make_stale,
    new_order,
    paid_order,
    refund,
    refund_ok,
    second_order_payment,
    stored_payment,
    stored_refund,
    stored_refunds,
    stray_payment_id,
    stripe_refunds,
)

KEY = "stray-refund-1"


def order_money(order_id: str) -> dict[str, Any]:
    """Everything of the order's own that a stray refund must never move."""
    order = stored(order_id)
    return {
        "status": order.status,
        "amount_paid": int(order.amount_paid),
        "amount_refunded": int(order.amount_refunded),
        "refundable": int(order.refundable),
        "refundable_total": int(order.refundable_total),
        "refund_reserved": int(order.refund_reserved),
    }


def payment_money(order_id: str, payment_id: str) -> tuple[int, int]:
    """The stray payment's (refunded, reserved)."""
    payment = stored_payment(order_id, payment_id)
    return int(payment.amount_refunded or 0), int(payment.refund_reserved or 0)


def cancelled_with_stray(emulator) -> tuple[dict[str, Any], str, str]:
    """A cancelled order of 100 whose second tab was paid after the cancel: (order, intent, payment id)."""
    order = new_order(10000)
    assert call(checkout_fn(), "POST", f"{ORDERS}/{order['id']}/cancel", claims=ATTENDEE).status == 200
    intent = second_order_payment(emulator, order)
    sync(emulator)
    assert stored(order["id"]).attention
    return order, intent, stray_payment_id(order["id"], intent)


def paid_with_duplicate(emulator) -> tuple[dict[str, Any], str, str]:
    """A paid order of 100 that was paid a second time in another tab: (order, intent, payment id)."""
    order = paid_order(emulator, 10000)
    intent = second_order_payment(emulator, order)
    sync(emulator)
    assert stored(order["id"]).attention
    return order, intent, stray_payment_id(order["id"], intent)


def refused(reply, status: int, code: str, field: str | None = None) -> None:
    assert reply.status == status, reply.text
    assert reply.json["error"]["code"] == code
    if field is not None:
        assert [d["loc"] for d in reply.json["error"]["details"]] == [["body", field]]


# --- the stray payment goes back to its card; the order never moves ---------------------------------------------


def test_money_paid_after_cancellation_goes_back_to_its_card_and_the_order_stays_cancelled(demo, emulator):
    order, intent, payment_id = cancelled_with_stray(emulator)
    before = order_money(order["id"])
    done = refund_ok(order["id"], 10000, reason="duplicate", payment_id=payment_id)
    sync(emulator)

    (at_stripe,) = stripe_refunds(emulator, intent)
    assert (at_stripe["amount"], at_stripe["metadata"]["refund_id"]) == (10000, done["id"])
    assert (done["status"], done["destination"], done["stripe_refund_ids"]) == (
        "succeeded",
        "card",
        [at_stripe["id"]],
    )
    record = stored_refund(order["id"], done["id"])
    assert (record.against, record.payment_intent_id) == ("extra", intent)
    assert payment_money(order["id"], payment_id) == (10000, 0)
    assert order_money(order["id"]) == before
    assert before["status"] == "cancelled"
    assert_books_hold("demo")


def test_a_duplicate_payment_is_refunded_alone_and_the_kept_payment_stays_fully_refundable(demo, emulator):
    order, intent, payment_id = paid_with_duplicate(emulator)
    before = order_money(order["id"])
    refund_ok(order["id"], 10000, reason="duplicate", payment_id=payment_id)
    sync(emulator)

    assert [r["amount"] for r in stripe_refunds(emulator, intent)] == [10000]
    assert stripe_refunds(emulator, order["payment_intent_id"]) == []
    assert (
        order_money(order["id"])
        == before
        == {
            "status": "paid",
            "amount_paid": 10000,
            "amount_refunded": 0,
            "refundable": 10000,
            "refundable_total": 10000,
            "refund_reserved": 0,
        }
    )
    assert_books_hold("demo")
    own = refund_ok(order["id"], 10000)  # the order's own payment: the usual refund, all of it
    assert [r["amount"] for r in stripe_refunds(emulator, order["payment_intent_id"])] == [10000]
    assert own["status"] == "succeeded"
    sync(emulator)
    assert stored(order["id"]).status == "refunded"
    assert_books_hold("demo")


def test_the_attention_stays_while_part_of_the_stray_money_is_still_there(demo, emulator):
    order, intent, payment_id = cancelled_with_stray(emulator)
    told = stored(order["id"]).attention
    refund_ok(order["id"], 4000, reason="duplicate", payment_id=payment_id)
    sync(emulator)
    assert stored(order["id"]).attention == told  # 6000 of it is still here: staff must still look
    assert payment_money(order["id"], payment_id) == (4000, 0)
    assert_books_hold("demo")

    refund_ok(order["id"], 6000, reason="duplicate", payment_id=payment_id)
    sync(emulator)
    assert [r["amount"] for r in stripe_refunds(emulator, intent)] == [4000, 6000]
    assert payment_money(order["id"], payment_id) == (10000, 0)
    refused(refund(order["id"], 100, payment_id=payment_id), 409, "invalid_state")  # nothing left
    assert_books_hold("demo")


def test_a_dashboard_refund_of_the_stray_payment_counts_before_the_api_refund(demo, emulator):
    """Its events are late: the refund reads Stripe first, so at most what is really left goes back."""
    order, intent, payment_id = cancelled_with_stray(emulator)
    dashboard_refund(emulator, intent, 3000)
    reply = refund(order["id"], 8000, payment_id=payment_id)
    refused(reply, 422, "validation_error", "amount")
    assert reply.json["error"]["details"][0]["msg"] == "at most 7000"
    refund_ok(order["id"], 7000, payment_id=payment_id)
    sync(emulator)
    assert sorted(r["amount"] for r in stripe_refunds(emulator, intent)) == [3000, 7000]
    assert payment_money(order["id"], payment_id) == (10000, 0)
    assert_books_hold("demo")


# --- the reservation on the payment: never more than it has left -------------------------------------------------


@pytest.mark.parametrize("other", ["completed", "in_flight"])
def test_two_stray_refunds_meeting_at_the_reservation_never_exceed_what_the_payment_has_left(
    demo, emulator, monkeypatch, other
):
    """Deterministic interleaving: the first refund reads the payment (10000 left); before it writes,
    a second refund of 6000 reserves (and completes, or is left in flight by a crash). The first
    one's write is refused by its condition on the amounts it read; read again, 4000 is left."""
    order, intent, payment_id = cancelled_with_stray(emulator)
    real_stray_payment, real_call_stripe = phases._stray_payment, phases._call_stripe
    reservations: list[str] = []

    def second_refund() -> None:
        request = OrderRefundRequest(
            amount=6000, reason="duplicate", destination="card", payment_id=payment_id
        )
        if other == "in_flight":
            monkeypatch.setattr(phases, "_call_stripe", crash)
        with pytest.raises(RuntimeError) if other == "in_flight" else nullcontext():
            refunds.refund_order("demo", order["id"], request, staff_user="staff-2", idempotency_key="second")
        monkeypatch.setattr(phases, "_call_stripe", real_call_stripe)

    def crash(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the second refund's function died before calling Stripe")

    def interleaved(owner: Any, refund: Any) -> Any:
        payment = real_stray_payment(owner, refund)
        if refund.status == "pending" and not reservations:
            reservations.append(refund.refund_id)
            second_refund()  # lands between the first refund's read and its write
        return payment

    attempts: list[str] = []
    real_reserve = phases._reserve_stray

    def counted(owner: Any, refund: Any) -> None:
        attempts.append(refund.created_by)
        real_reserve(owner, refund)

    monkeypatch.setattr(phases, "_stray_payment", interleaved)
    monkeypatch.setattr(phases, "_reserve_stray", counted)
    first = OrderRefundRequest(amount=6000, reason="duplicate", destination="card", payment_id=payment_id)
    with pytest.raises(ValidationFailed) as too_much:
        refunds.refund_order("demo", order["id"], first, staff_user="staff-1", idempotency_key="first")
    assert too_much.value.details[0]["msg"] == "at most 4000"
    # The first write was refused by DynamoDB's condition; its second read found 4000 left.
    assert attempts == ["staff-1", "staff-2", "staff-1"]

    refunded, reserved = payment_money(order["id"], payment_id)
    assert refunded + reserved == 6000
    assert [r.status for r in stored_refunds(order["id"])] == [
        "succeeded" if other == "completed" else "pending"
    ]
    assert sum(r["amount"] for r in stripe_refunds(emulator, intent)) == (6000 if other == "completed" else 0)
    if other == "in_flight":  # the crashed refund's retry finishes it; nothing else got through
        request = OrderRefundRequest(
            amount=6000, reason="duplicate", destination="card", payment_id=payment_id
        )
        refunds.refund_order("demo", order["id"], request, staff_user="staff-2", idempotency_key="second")
    sync(emulator)
    assert [r["amount"] for r in stripe_refunds(emulator, intent)] == [6000]
    assert payment_money(order["id"], payment_id) == (6000, 0)
    assert_books_hold("demo")


def test_a_second_full_refund_of_the_same_stray_payment_is_refused_and_changes_nothing(demo, emulator):
    order, intent, payment_id = cancelled_with_stray(emulator)
    refund_ok(order["id"], 10000, payment_id=payment_id, key="one")
    reply = refund(order["id"], 10000, payment_id=payment_id, key="two")
    refused(reply, 409, "invalid_state")
    assert [r["amount"] for r in stripe_refunds(emulator, intent)] == [10000]
    assert len(stored_refunds(order["id"])) == 1
    sync(emulator)
    assert_books_hold("demo")


def test_the_same_idempotency_key_returns_the_same_stray_refund(demo, emulator):
    order, intent, payment_id = cancelled_with_stray(emulator)
    first = refund_ok(order["id"], 5000, payment_id=payment_id, key=KEY)
    again = refund_ok(order["id"], 5000, payment_id=payment_id, key=KEY)
    assert again == first
    assert [r["amount"] for r in stripe_refunds(emulator, intent)] == [5000]
    assert payment_money(order["id"], payment_id) == (5000, 0)
    other_body = refund(order["id"], 5000, key=KEY)  # the same key without payment_id: another request
    refused(other_body, 409, "idempotency_conflict")
    sync(emulator)
    assert_books_hold("demo")


def test_a_stray_refund_crashing_after_its_reservation_is_finished_by_the_retry(demo, emulator, monkeypatch):
    order, intent, payment_id = cancelled_with_stray(emulator)
    real = phases._call_stripe
    calls: list[bool] = []

    def crash_once(*args: Any, **kwargs: Any) -> Any:
        if not calls:
            calls.append(True)
            raise RuntimeError("the function died before calling Stripe")
        return real(*args, **kwargs)

    monkeypatch.setattr(phases, "_call_stripe", crash_once)
    assert refund(order["id"], 10000, payment_id=payment_id, key=KEY).status == 500
    (pending,) = stored_refunds(order["id"])
    assert (pending.status, payment_money(order["id"], payment_id)) == ("pending", (0, 10000))

    retry = refund_ok(order["id"], 10000, payment_id=payment_id, key=KEY)
    assert (retry["id"], retry["status"]) == (pending.refund_id, "succeeded")
    assert [r["amount"] for r in stripe_refunds(emulator, intent)] == [10000]
    assert payment_money(order["id"], payment_id) == (10000, 0)
    sync(emulator)
    assert_books_hold("demo")


@pytest.mark.parametrize("reached_stripe", [True, False])
def test_the_sweep_finishes_a_stray_refund_left_pending(demo, emulator, monkeypatch, reached_stripe):
    order, intent, payment_id = cancelled_with_stray(emulator)
    name = "complete" if reached_stripe else "_call_stripe"
    real = getattr(phases, name)
    calls: list[bool] = []

    def crash_once(*args: Any, **kwargs: Any) -> Any:
        if not calls:
            calls.append(True)
            raise RuntimeError(f"the function died in {name}")
        return real(*args, **kwargs)

    monkeypatch.setattr(phases, name, crash_once)
    assert refund(order["id"], 4000, payment_id=payment_id, key=KEY).status == 500
    (pending,) = stored_refunds(order["id"])
    make_stale(order["id"], pending.refund_id)
    assert refunds.finish_stale_pending("demo") == 1

    done = stored_refund(order["id"], pending.refund_id)
    assert done.status == ("succeeded" if reached_stripe else "failed")
    assert payment_money(order["id"], payment_id) == ((4000, 0) if reached_stripe else (0, 0))
    assert [r["amount"] for r in stripe_refunds(emulator, intent)] == ([4000] if reached_stripe else [])
    assert order_money(order["id"])["status"] == "cancelled"
    sync(emulator)
    assert_books_hold("demo")


# --- failures give the payment its amount back -------------------------------------------------------------------


def test_a_stray_refund_that_fails_at_the_bank_gives_the_payment_its_amount_back(demo, emulator):
    order, intent, payment_id = cancelled_with_stray(emulator)
    before = order_money(order["id"])
    done = refund_ok(order["id"], 10000, payment_id=payment_id)
    sync(emulator)
    (re_id,) = done["stripe_refund_ids"]
    emulator.fail_refund(re_id, "lost_or_stolen_card")  # the money never left: it is still here
    sync(emulator)

    assert [r["status"] for r in stripe_refunds(emulator, intent)] == ["failed"]
    assert stored_refund(order["id"], done["id"]).status == "failed"
    assert payment_money(order["id"], payment_id) == (0, 0)
    assert order_money(order["id"]) == before
    assert stored(order["id"]).attention  # still here, still flagged
    assert_books_hold("demo")
    again = refund_ok(order["id"], 10000, payment_id=payment_id)  # and refundable again
    assert again["status"] == "succeeded"
    sync(emulator)
    assert payment_money(order["id"], payment_id) == (10000, 0)
    assert_books_hold("demo")


def test_stripe_refusing_a_stray_refund_releases_the_payments_reservation(demo, emulator, monkeypatch):
    from stripe._http_client import HTTPClient

    monkeypatch.setattr(HTTPClient, "_sleep_time_seconds", lambda self, num_retries: 0)
    order, intent, payment_id = cancelled_with_stray(emulator)
    synced = stripe_events.sync_with_stripe

    def then_fail(*args: Any, **kwargs: Any) -> Any:
        owner = synced(*args, **kwargs)
        emulator.fail_next(3, mode="500")  # the refund itself: the first try and the SDK's two retries
        return owner

    monkeypatch.setattr(stripe_events, "sync_with_stripe", then_fail)
    refused(refund(order["id"], 10000, payment_id=payment_id, key=KEY), 502, "payment_provider_error")
    (record,) = stored_refunds(order["id"])
    assert record.status == "failed"
    assert payment_money(order["id"], payment_id) == (0, 0)
    assert stripe_refunds(emulator, intent) == []
    monkeypatch.setattr(stripe_events, "sync_with_stripe", synced)
    assert refund_ok(order["id"], 10000, payment_id=payment_id, key=KEY)["status"] == "succeeded"
    sync(emulator)
    assert_books_hold("demo")


# --- bad input: a clear 4xx, nothing changed ---------------------------------------------------------------------


def nothing_changed(emulator, order_id: str, intent: str, payment_id: str, before: dict[str, Any]) -> None:
    assert order_money(order_id) == before
    assert payment_money(order_id, payment_id) == (0, 0)
    assert stored_refunds(order_id) == []
    assert stripe_refunds(emulator, intent) == []


def test_an_unknown_payment_id_is_422_naming_the_field(demo, emulator):
    order, intent, payment_id = cancelled_with_stray(emulator)
    before = order_money(order["id"])
    refused(
        refund(order["id"], 1000, payment_id="pay_pi_nothing_like_it"), 422, "validation_error", "payment_id"
    )
    other, _, other_payment = cancelled_with_stray(emulator)  # another order's stray payment
    refused(refund(order["id"], 1000, payment_id=other_payment), 422, "validation_error", "payment_id")
    refused(refund(order["id"], 1000, payment_id="not a payment id"), 422, "validation_error")
    nothing_changed(emulator, order["id"], intent, payment_id, before)
    assert stored_refunds(other["id"]) == []


def test_a_stray_payment_goes_back_only_to_its_card(demo, emulator):
    order, intent, payment_id = paid_with_duplicate(emulator)
    before = order_money(order["id"])
    reply = refund(order["id"], 1000, destination="store_credit", payment_id=payment_id)
    refused(reply, 422, "validation_error", "destination")
    nothing_changed(emulator, order["id"], intent, payment_id, before)


def test_naming_the_orders_own_payment_is_422_saying_own_payments_need_no_payment_id(demo, emulator):
    order, intent, payment_id = paid_with_duplicate(emulator)
    before = order_money(order["id"])
    own = f"pay_{order['payment_intent_id']}"
    reply = refund(order["id"], 1000, payment_id=own)
    refused(reply, 422, "validation_error", "payment_id")
    assert "without payment_id" in reply.json["error"]["message"]
    nothing_changed(emulator, order["id"], intent, payment_id, before)
    assert stripe_refunds(emulator, order["payment_intent_id"]) == []


def test_a_payment_that_is_not_a_succeeded_card_payment_is_422(demo, emulator):
    order, intent, payment_id = cancelled_with_stray(emulator)
    before = order_money(order["id"])
    manual = add_payment(order["id"], "manual", 5000)
    manual.update(actions=[order_records.Payment.own.set(False)], add_version_condition=False)
    refused(refund(order["id"], 1000, payment_id=manual.payment_id), 422, "validation_error", "payment_id")
    nothing_changed(emulator, order["id"], intent, payment_id, before)


def test_more_than_the_stray_payment_holds_is_422_at_most_what_it_has(demo, emulator):
    order, intent, payment_id = cancelled_with_stray(emulator)
    before = order_money(order["id"])
    reply = refund(order["id"], 10001, payment_id=payment_id)
    refused(reply, 422, "validation_error", "amount")
    assert reply.json["error"]["details"][0]["msg"] == "at most 10000"
    nothing_changed(emulator, order["id"], intent, payment_id, before)


def test_without_payment_id_a_cancelled_order_is_still_not_refundable(demo, emulator):
    order, intent, payment_id = cancelled_with_stray(emulator)
    before = order_money(order["id"])
    refused(refund(order["id"], 10000), 409, "invalid_state")
    nothing_changed(emulator, order["id"], intent, payment_id, before)


def test_only_staff_refund_a_stray_payment(demo, emulator):
    order, intent, payment_id = cancelled_with_stray(emulator)
    before = order_money(order["id"])
    refused(refund(order["id"], 10000, payment_id=payment_id, claims=ATTENDEE), 403, "forbidden")
    nothing_changed(emulator, order["id"], intent, payment_id, before)


def test_a_stray_refund_is_listed_with_the_orders_refunds(demo, emulator):
    order, _, payment_id = cancelled_with_stray(emulator)
    done = refund_ok(order["id"], 10000, payment_id=payment_id, note="second tab")
    assert payment_id in done["note"] and "second tab" in done["note"]
    listed = call(api_fn(), "GET", f"{ORDERS}/{order['id']}/refunds", claims=STAFF)
    assert [r["id"] for r in listed.json["items"]] == [done["id"]]
