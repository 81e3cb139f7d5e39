"""Refunds: crashes between phases, Stripe failures, and the sweep of stale ones.

A crash is a non-Stripe exception injected at a phase boundary: the request fails (500), the
Powertools idempotency layer records nothing, and the retry with the same ``Idempotency-Key``
re-enters the route and finds the same refund (its id derives from the key).
"""

from typing import Any

import pytest

from boxoffice import refunds
from boxoffice.refunds import phases, stripe_events
from tests.support.pipeline import sync
from tests.support.refund_fixtures import (
    all_credit_items,
    make_stale,
    money,
    paid_order,
    refund,
    stored_refund,
    stored_refunds,
    stripe_refunds,
)

KEY = "refund-attempt-1"


def crash_once(monkeypatch, name: str, *, after: bool = False) -> None:
    """``phases.<name>`` dies once: before doing anything, or right ``after`` doing its work."""
    real = getattr(phases, name)
    crashes = [RuntimeError(f"the function died {'right after' if after else 'in'} {name}")]

    def crashing(*args: Any, **kwargs: Any) -> Any:
        if not crashes:
            return real(*args, **kwargs)
        if after:
            real(*args, **kwargs)
        raise crashes.pop()

    monkeypatch.setattr(phases, name, crashing)


def crashed(reply) -> None:
    assert reply.status == 500, reply.text
    assert reply.json["error"]["code"] == "internal_error"


@pytest.fixture
def no_sdk_backoff(monkeypatch):
    """The gateway's SDK retries a failed call twice; skip its back-off sleeps (behaviour unchanged)."""
    from stripe._http_client import HTTPClient

    monkeypatch.setattr(HTTPClient, "_sleep_time_seconds", lambda self, num_retries: 0)


# --- a crash at each phase boundary, then the same request again -------------------------------------------


def test_a_crash_after_the_reservation_is_finished_by_the_retry_with_one_stripe_refund(
    demo, emulator, monkeypatch
):
    order = paid_order(emulator, 10000)
    crash_once(monkeypatch, "_call_stripe")
    crashed(refund(order["id"], 3000, key=KEY))
    (pending,) = stored_refunds(order["id"])
    assert pending.status == "pending"
    assert (money(order["id"])["refundable"], money(order["id"])["refund_reserved"]) == (7000, 3000)
    assert stripe_refunds(emulator, order["payment_intent_id"]) == []

    retry = refund(order["id"], 3000, key=KEY)
    assert retry.status == 201, retry.text
    assert (retry.json["id"], retry.json["status"]) == (pending.refund_id, "succeeded")
    (at_stripe,) = stripe_refunds(emulator, order["payment_intent_id"])
    assert at_stripe["metadata"]["refund_id"] == pending.refund_id
    assert retry.json["stripe_refund_ids"] == [at_stripe["id"]]
    assert money(order["id"]) == {
        "status": "partially_refunded",
        "amount_paid": 10000,
        "amount_refunded": 3000,
        "refundable": 7000,
        "refund_reserved": 0,
    }


def test_a_crash_after_the_stripe_call_is_finished_by_the_retry_without_refunding_twice(
    demo, emulator, monkeypatch
):
    order = paid_order(emulator, 10000)
    crash_once(monkeypatch, "complete")
    crashed(refund(order["id"], 10000, key=KEY))
    (first_at_stripe,) = stripe_refunds(emulator, order["payment_intent_id"])
    assert stored_refunds(order["id"])[0].status == "pending"
    assert money(order["id"])["status"] == "paid"

    retry = refund(order["id"], 10000, key=KEY)
    assert retry.status == 201, retry.text
    assert retry.json["status"] == "succeeded"
    assert [r["id"] for r in stripe_refunds(emulator, order["payment_intent_id"])] == [first_at_stripe["id"]]
    assert retry.json["stripe_refund_ids"] == [first_at_stripe["id"]]
    state = money(order["id"])
    assert (state["status"], state["amount_refunded"], state["refundable"], state["refund_reserved"]) == (
        "refunded",
        10000,
        0,
        0,
    )
    sync(emulator)
    assert money(order["id"]) == state


def test_a_crash_after_completion_before_the_status_is_settled_is_finished_by_the_retry(
    demo, emulator, monkeypatch
):
    """The completion transaction committed, then the function died before the order's status moved."""
    order = paid_order(emulator, 10000)
    crash_once(monkeypatch, "complete", after=True)
    crashed(refund(order["id"], 10000, key=KEY))
    assert stored_refunds(order["id"])[0].status == "succeeded"

    retry = refund(order["id"], 10000, key=KEY)
    assert retry.status == 201, retry.text
    assert retry.json["status"] == "succeeded"
    assert len(stripe_refunds(emulator, order["payment_intent_id"])) == 1
    state = money(order["id"])
    assert (state["amount_refunded"], state["refundable"], state["refund_reserved"]) == (10000, 0, 0)
    assert state["status"] == "refunded"


def test_a_store_credit_refund_crashing_after_completion_is_settled_by_the_retry(demo, emulator, monkeypatch):
    order = paid_order(emulator, 10000)
    crash_once(monkeypatch, "complete", after=True)
    crashed(refund(order["id"], 4000, destination="store_credit", key=KEY))

    retry = refund(order["id"], 4000, destination="store_credit", key=KEY)
    assert retry.status == 201, retry.text
    assert (retry.json["status"], retry.json["credit"]["amount"]) == ("succeeded", 4000)
    assert len(all_credit_items()) == 1
    state = money(order["id"])
    assert (state["amount_refunded"], state["refundable"]) == (4000, 6000)
    assert state["status"] == "partially_refunded"


def test_a_store_credit_refund_crashing_before_completion_issues_one_credit_on_retry(
    demo, emulator, monkeypatch
):
    order = paid_order(emulator, 10000)
    crash_once(monkeypatch, "complete")
    crashed(refund(order["id"], 4000, destination="store_credit", key=KEY))
    assert all_credit_items() == []

    retry = refund(order["id"], 4000, destination="store_credit", key=KEY)
    assert retry.status == 201, retry.text
    (issued,) = all_credit_items()
    assert (issued.credit_id, int(issued.amount), issued.status) == (
        retry.json["credit"]["id"],
        4000,
        "available",
    )
    assert stripe_refunds(emulator, order["payment_intent_id"]) == []
    assert money(order["id"])["status"] == "partially_refunded"


def test_stripes_own_event_finishes_a_refund_left_pending_after_the_stripe_call(demo, emulator, monkeypatch):
    order = paid_order(emulator, 10000)
    crash_once(monkeypatch, "complete")
    crashed(refund(order["id"], 3000, key=KEY))
    sync(emulator)  # charge.refunded and refund.created carry our refund id in their metadata
    (record,) = stored_refunds(order["id"])
    assert record.status == "succeeded"
    assert money(order["id"])["amount_refunded"] == 3000
    retry = refund(order["id"], 3000, key=KEY)
    assert (retry.status, retry.json["status"]) == (201, "succeeded")
    assert len(stripe_refunds(emulator, order["payment_intent_id"])) == 1
    assert money(order["id"])["amount_refunded"] == 3000


# --- Stripe failing ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["500", "reset"])
def test_stripe_failing_before_the_reservation_gives_a_502_and_stores_nothing(
    demo, emulator, no_sdk_backoff, mode
):
    order = paid_order(emulator, 10000)
    before = money(order["id"])
    emulator.fail_next(3, mode=mode)  # reading Stripe's refunds first: the try and two SDK retries
    reply = refund(order["id"], 3000, key=KEY)
    assert reply.status == 502, reply.text
    assert money(order["id"]) == before
    assert stored_refunds(order["id"]) == []
    assert refund(order["id"], 3000, key=KEY).status == 201


@pytest.mark.parametrize("mode", ["500", "reset"])
def test_stripe_failing_gives_a_502_and_leaves_the_order_as_it_was(
    demo, emulator, no_sdk_backoff, monkeypatch, mode
):
    order = paid_order(emulator, 10000)
    before = money(order["id"])
    synced = stripe_events.sync_with_stripe

    def then_fail(*args, **kwargs):
        owner = synced(*args, **kwargs)
        emulator.fail_next(3, mode=mode)  # the refund itself: the first try and the SDK's two retries
        return owner

    monkeypatch.setattr(stripe_events, "sync_with_stripe", then_fail)
    reply = refund(order["id"], 3000, key=KEY)
    assert reply.status == 502, reply.text
    assert reply.json["error"]["code"] == "payment_provider_error"
    assert money(order["id"]) == before
    (record,) = stored_refunds(order["id"])
    assert record.status == "failed" and record.failure_reason
    assert stripe_refunds(emulator, order["payment_intent_id"]) == []


def test_a_retry_with_a_new_key_after_a_502_refunds_once(demo, emulator, no_sdk_backoff):
    order = paid_order(emulator, 10000)
    emulator.fail_next(3, mode="500")
    assert refund(order["id"], 3000, key=KEY).status == 502
    retry = refund(order["id"], 3000, key="refund-attempt-2")
    assert (retry.status, retry.json["status"]) == (201, "succeeded")
    assert [r["amount"] for r in stripe_refunds(emulator, order["payment_intent_id"])] == [3000]
    assert money(order["id"])["amount_refunded"] == 3000


@pytest.mark.parametrize("mode", ["500", "reset"])
def test_a_retry_with_the_same_key_after_a_502_refunds_once(demo, emulator, no_sdk_backoff, mode):
    """docs/api.md "Errors": a 502 is safe to retry. The client retries the very same request, key included."""
    order = paid_order(emulator, 10000)
    emulator.fail_next(3, mode=mode)
    assert refund(order["id"], 3000, key=KEY).status == 502
    retry = refund(order["id"], 3000, key=KEY)
    assert retry.status == 201, retry.text
    assert retry.json["status"] == "succeeded"
    assert [r["amount"] for r in stripe_refunds(emulator, order["payment_intent_id"])] == [3000]
    assert money(order["id"])["amount_refunded"] == 3000


@pytest.mark.parametrize("mode", ["500", "reset", "reset_after"])
def test_one_dropped_stripe_call_is_retried_by_the_gateway_with_the_same_key(
    demo, emulator, no_sdk_backoff, mode
):
    order = paid_order(emulator, 10000)
    emulator.fail_next(1, mode=mode)
    body = refund(order["id"], 3000).json
    assert body["status"] == "succeeded"
    (at_stripe,) = stripe_refunds(emulator, order["payment_intent_id"])
    assert body["stripe_refund_ids"] == [at_stripe["id"]]
    assert money(order["id"])["amount_refunded"] == 3000


# --- the sweep of refunds left pending --------------------------------------------------------------------------


def test_the_sweep_completes_a_refund_left_pending_after_the_stripe_call(demo, emulator, monkeypatch):
    order = paid_order(emulator, 10000)
    crash_once(monkeypatch, "complete")
    crashed(refund(order["id"], 4000, key=KEY))
    (pending,) = stored_refunds(order["id"])
    assert refunds.finish_stale_pending("demo") == 0  # not stale yet: the request may still be running
    make_stale(order["id"], pending.refund_id)

    assert refunds.finish_stale_pending("demo") == 1
    done = stored_refund(order["id"], pending.refund_id)
    (at_stripe,) = stripe_refunds(emulator, order["payment_intent_id"])
    assert (done.status, done.stripe_refund_ids, done.GSI1PK) == ("succeeded", [at_stripe["id"]], None)
    assert money(order["id"]) == {
        "status": "partially_refunded",
        "amount_paid": 10000,
        "amount_refunded": 4000,
        "refundable": 6000,
        "refund_reserved": 0,
    }
    assert refunds.finish_stale_pending("demo") == 0
    sync(emulator)
    assert money(order["id"])["amount_refunded"] == 4000


def test_the_sweep_releases_a_refund_that_never_reached_stripe(demo, emulator, monkeypatch):
    order = paid_order(emulator, 10000)
    crash_once(monkeypatch, "_call_stripe")
    crashed(refund(order["id"], 4000, key=KEY))
    (pending,) = stored_refunds(order["id"])
    assert money(order["id"])["refundable"] == 6000
    make_stale(order["id"], pending.refund_id)

    assert refunds.finish_stale_pending("demo") == 1
    released = stored_refund(order["id"], pending.refund_id)
    assert (released.status, released.GSI1PK) == ("failed", None)
    assert "Stripe" in released.failure_reason
    assert money(order["id"]) == {
        "status": "paid",
        "amount_paid": 10000,
        "amount_refunded": 0,
        "refundable": 10000,
        "refund_reserved": 0,
    }
    assert stripe_refunds(emulator, order["payment_intent_id"]) == []


def test_the_sweep_completes_a_store_credit_refund_left_pending(demo, emulator, monkeypatch):
    order = paid_order(emulator, 10000)
    crash_once(monkeypatch, "complete")
    crashed(refund(order["id"], 2500, destination="store_credit", key=KEY))
    (pending,) = stored_refunds(order["id"])
    make_stale(order["id"], pending.refund_id)

    assert refunds.finish_stale_pending("demo") == 1
    assert stored_refund(order["id"], pending.refund_id).status == "succeeded"
    (issued,) = all_credit_items()
    assert (int(issued.remaining_amount), issued.status, issued.source_order_id) == (
        2500,
        "available",
        order["id"],
    )
    state = money(order["id"])
    assert (state["status"], state["amount_refunded"], state["refundable"]) == (
        "partially_refunded",
        2500,
        7500,
    )
