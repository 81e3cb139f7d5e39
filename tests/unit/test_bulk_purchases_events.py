"""Bulk purchases driven by the Stripe events the emulator really produced, through the processors."""

import pytest

import boxoffice.store.vouchers as voucher_store
from boxoffice import bulk_purchases, stripe_events
from boxoffice import vouchers as voucher_service
from tests.support import bulk_fixtures as bf
from tests.support.bulk_fixtures import (
    checked_out,
    create_ok,
    event_status,
    paid,
    staff_body,
    state,
    stored_vouchers,
)
from tests.support.bus import BusTap, domain_events
from tests.support.pipeline import process_one, rerun
from tests.support.stripe import emulator_events, one_event, stripe_client, variant


def refund(emulator, purchase_id: str, amount: int | None = None) -> None:
    params = {"payment_intent": state(purchase_id)["payment_intent_id"], "reason": "requested_by_customer"}
    if amount is not None:
        params["amount"] = amount
    stripe_client(emulator).v1.refunds.create(params=params)


def charge_refunded_events(emulator) -> list[dict]:
    return emulator_events(emulator, "charge.refunded")


# --- card payments ------------------------------------------------------------------------------------


def test_duplicate_completed_event_issues_codes_once(demo, emulator):
    tap = BusTap(("boxoffice",))
    purchase, completed = paid(emulator)
    record = state(purchase["id"])
    assert (record["status"], record["vouchers_generated"], record["amount_refunded"]) == ("paid", 10, 0)
    assert record["payment_intent_id"] == completed["data"]["object"]["payment_intent"]
    codes = sorted(v.code for v in stored_vouchers())
    assert len(codes) == 10

    assert stripe_events.admit("demo", completed, source="webhook") == "duplicate"
    assert rerun(completed) == "processed"
    resent = variant(completed, "evt_resent_completed")  # Stripe resends under a new id
    assert process_one(resent) == "processed"
    async_ok = variant(completed, "evt_late_async_ok", "checkout.session.async_payment_succeeded")
    assert process_one(async_ok) == "processed"
    assert sorted(v.code for v in stored_vouchers()) == codes
    assert state(purchase["id"])["status"] == "paid"
    (announced,) = domain_events(tap, "bulk_purchase.fulfilled")
    assert announced == {
        "conference_id": "demo",
        "bulk_purchase_id": purchase["id"],
        "sponsor_id": "acme",
        "quantity": 10,
    }


def test_a_crash_between_session_creation_and_our_write_still_fulfils_through_the_metadata_id(
    demo, emulator, monkeypatch
):
    purchase = create_ok(staff_body())
    created = bf.die_after_stripe_answers(monkeypatch)
    reply = bf.checkout(purchase["id"])
    assert created and reply.status == 500
    monkeypatch.undo()
    view = bf.get(purchase["id"]).json
    assert view["checkout_session_id"] is None and view["status"] == "processing"
    (session,) = stripe_client(emulator).v1.checkout.sessions.list().data
    emulator.pay(session.id, "succeed")
    assert process_one(one_event(emulator, "checkout.session.completed", id=session.id)) == "processed"
    record = state(purchase["id"])
    assert (record["status"], record["vouchers_generated"]) == ("paid", 10)
    assert len(stored_vouchers()) == 10


# --- async payment methods ------------------------------------------------------------------------------------


def test_an_async_payment_that_succeeds_fulfils_on_async_payment_succeeded(demo, emulator, slow_bank):
    purchase, session_id = checked_out(emulator)
    emulator.pay(session_id, "async_succeed")
    completed = one_event(emulator, "checkout.session.completed", id=session_id)
    assert completed["data"]["object"]["payment_status"] == "unpaid"
    assert process_one(completed) == "processed"
    assert state(purchase["id"])["status"] == "processing"
    assert stored_vouchers() == []
    emulator.complete_async(session_id)
    succeeded = one_event(emulator, "checkout.session.async_payment_succeeded", id=session_id)
    assert process_one(succeeded) == "processed"
    record = state(purchase["id"])
    assert (record["status"], record["vouchers_generated"]) == ("paid", 10)
    assert record["payment_intent_id"] == succeeded["data"]["object"]["payment_intent"]
    assert len(stored_vouchers()) == 10


def test_an_async_payment_that_fails_marks_the_purchase_failed(demo, emulator, slow_bank):
    purchase, session_id = checked_out(emulator)
    emulator.pay(session_id, "async_fail")
    assert process_one(one_event(emulator, "checkout.session.completed", id=session_id)) == "processed"
    assert state(purchase["id"])["status"] == "processing"
    emulator.complete_async(session_id)
    assert (
        process_one(one_event(emulator, "checkout.session.async_payment_failed", id=session_id))
        == "processed"
    )
    assert state(purchase["id"])["status"] == "failed"
    assert stored_vouchers() == []


# --- sponsor-less ----------------------------------------------------------------------------------------------


def test_a_sponsor_less_purchase_checks_out_with_no_sponsor_id_in_the_metadata(demo, emulator):
    purchase, completed = paid(emulator, staff_body(sponsor_id=None))
    session = completed["data"]["object"]
    expected = {"bulk_purchase_id": purchase["id"], "conference_id": "demo"}
    assert session["metadata"] == expected
    intent = stripe_client(emulator).v1.payment_intents.retrieve(session["payment_intent"]).to_dict()
    assert intent["metadata"] == expected
    assert "None" not in str(session["metadata"]) + str(intent["metadata"])
    assert all(bf.code_pattern("BULK-").match(v.code) for v in stored_vouchers())


# --- fulfillment errors -------------------------------------------------------------------------------------------


def test_a_fulfillment_error_after_payment_stays_retryable_and_never_marks_the_purchase_failed(
    demo, emulator, monkeypatch
):
    purchase, session_id = checked_out(emulator)
    emulator.pay(session_id, "succeed")
    completed = one_event(emulator, "checkout.session.completed", id=session_id)

    def broken(*args, **kwargs):
        raise RuntimeError("DynamoDB is throttling")

    monkeypatch.setattr(voucher_store, "put_new_vouchers", broken)
    with pytest.raises(RuntimeError, match="throttling"):
        process_one(completed)
    assert state(purchase["id"])["status"] == "processing"
    assert event_status(completed["id"]) == "failed"

    monkeypatch.undo()  # the fix is deployed; the retry comes after the crashed run's lease
    bf.expire_lease(purchase["id"])
    assert rerun(completed) == "processed"
    record = state(purchase["id"])
    assert (record["status"], record["vouchers_generated"], record["attention"]) == ("paid", 10, None)
    assert len(stored_vouchers()) == 10


# --- refunds ----------------------------------------------------------------------------------------------------


def test_a_full_refund_deactivates_every_code_keeps_redemptions_and_announces_once(demo, emulator):
    purchase, _ = paid(emulator)
    redeemed = sorted(v.code for v in stored_vouchers())[3]
    bf.redeem("demo", redeemed)
    tap = BusTap(("boxoffice",))
    refund(emulator, purchase["id"])
    (refunded,) = charge_refunded_events(emulator)
    assert refunded["data"]["object"]["refunded"] is True
    assert process_one(refunded) == "processed"
    for event in emulator_events(emulator, "refund.*"):
        assert process_one(event) == "processed"
    record = state(purchase["id"])
    assert (record["status"], record["amount_refunded"]) == ("refunded", 200000)
    found = stored_vouchers()
    assert len(found) == 10
    assert not any(v.is_active for v in found)
    assert {v.code: v.times_used for v in found if v.times_used} == {redeemed: 1}
    (announced,) = domain_events(tap, "bulk_purchase.refunded")
    assert announced["bulk_purchase_id"] == purchase["id"]
    assert (announced["amount_refunded"], announced["vouchers_already_redeemed"]) == (200000, 1)


def test_a_partial_refund_records_the_amount_and_keeps_paid_and_never_moves_back(demo, emulator):
    purchase, _ = paid(emulator)
    refund(emulator, purchase["id"], 1000)
    refund(emulator, purchase["id"], 2000)
    first, second = charge_refunded_events(emulator)
    assert (first["data"]["object"]["amount_refunded"], second["data"]["object"]["amount_refunded"]) == (
        1000,
        3000,
    )
    assert process_one(second) == "processed"
    assert (state(purchase["id"])["status"], state(purchase["id"])["amount_refunded"]) == ("paid", 3000)
    assert process_one(first) == "processed"  # the older, smaller cumulative amount arrives late
    record = state(purchase["id"])
    assert (record["status"], record["amount_refunded"]) == ("paid", 3000)
    assert all(v.is_active for v in stored_vouchers())


# --- events out of order ---------------------------------------------------------------------------------------------


def test_mark_failed_never_touches_a_paid_or_refunded_purchase(demo, emulator):
    """Also: ``expired`` after ``completed`` leaves the purchase paid with its codes."""
    purchase, completed = paid(emulator)
    expired = variant(completed, "evt_expired_late", "checkout.session.expired", status="expired", url=None)
    failed = variant(completed, "evt_async_failed_late", "checkout.session.async_payment_failed")
    assert process_one(expired) == "processed"
    assert process_one(failed) == "processed"
    record = state(purchase["id"])
    assert (record["status"], record["vouchers_generated"]) == ("paid", 10)
    assert all(v.is_active for v in stored_vouchers())

    refund(emulator, purchase["id"])
    assert process_one(charge_refunded_events(emulator)[0]) == "processed"
    assert state(purchase["id"])["status"] == "refunded"
    assert process_one(variant(expired, "evt_expired_later")) == "processed"
    assert process_one(variant(failed, "evt_async_failed_later")) == "processed"
    assert state(purchase["id"])["status"] == "refunded"


def test_completed_after_refunded_issues_no_codes(demo, emulator):
    purchase, completed = paid(emulator)
    refund(emulator, purchase["id"])
    assert process_one(charge_refunded_events(emulator)[0]) == "processed"
    codes = sorted(v.code for v in stored_vouchers())
    assert process_one(variant(completed, "evt_completed_again")) == "processed"
    assert (
        process_one(variant(completed, "evt_async_ok_late", "checkout.session.async_payment_succeeded"))
        == "processed"
    )
    assert state(purchase["id"])["status"] == "refunded"
    found = stored_vouchers()
    assert sorted(v.code for v in found) == codes
    assert not any(v.is_active for v in found)


def test_a_full_refund_delivered_before_its_completed_event_leaves_no_live_codes(demo, emulator):
    purchase, session_id = checked_out(emulator)
    emulator.pay(session_id, "succeed")
    intent = one_event(emulator, "checkout.session.completed", id=session_id)["data"]["object"][
        "payment_intent"
    ]
    stripe_client(emulator).v1.refunds.create(params={"payment_intent": intent})
    wanted = ("checkout.session.completed", "charge.refunded", "refund.created", "refund.updated")
    events = [e for e in emulator_events(emulator) if e["type"] in wanted]
    assert [e["type"] for e in events] == list(wanted)
    failures = []
    for event in reversed(events):  # Stripe delivers them newest first
        try:
            process_one(event)
        except Exception:
            failures.append(event)
    for event in failures:  # Lambda's retry
        rerun(event)
    record = state(purchase["id"])
    assert [v.code for v in stored_vouchers() if v.is_active] == []
    assert record["status"] == "refunded"


# --- amount and currency ----------------------------------------------------------------------------------------------


def test_an_amount_or_currency_mismatch_leaves_the_purchase_unfulfilled_and_flagged(demo, emulator):
    purchase, session_id = checked_out(emulator)
    emulator.pay(session_id, "succeed")
    completed = one_event(emulator, "checkout.session.completed", id=session_id)
    assert process_one(variant(completed, "evt_short", amount_total=199999)) == "processed"
    record = state(purchase["id"])
    assert record["status"] == "processing" and record["vouchers_generated"] == 0
    assert record["attention"] and "1999.99" in record["attention"]
    assert stored_vouchers() == []

    other, other_session = checked_out(emulator)
    emulator.pay(other_session, "succeed")
    real = one_event(emulator, "checkout.session.completed", id=other_session)["data"]["object"]
    bulk_purchases.on_session_paid("demo", {**real, "currency": "eur"})
    record = state(other["id"])
    assert record["status"] == "processing" and record["attention"]
    assert stored_vouchers() == []


def test_a_fulfillment_crashed_after_two_batches_resumes_and_keeps_a_redemption(demo, emulator, monkeypatch):
    purchase, session_id = checked_out(emulator, staff_body(quantity=60, unit_price=1000))
    emulator.pay(session_id, "succeed")
    completed = one_event(emulator, "checkout.session.completed", id=session_id)
    real = voucher_store.put_new_vouchers

    def crash_after_two_batches(vouchers, **kwargs):
        batch = list(vouchers)
        real(batch[:50], **kwargs)
        raise RuntimeError("the function timed out")

    monkeypatch.setattr(voucher_store, "put_new_vouchers", crash_after_two_batches)
    with pytest.raises(RuntimeError, match="timed out"):
        process_one(completed)
    monkeypatch.undo()
    written = stored_vouchers()
    assert len(written) == 50
    assert state(purchase["id"])["status"] == "processing"
    redeemed = written[0].code
    bf.redeem("demo", redeemed)  # an attendee used a code before the retry

    bf.expire_lease(purchase["id"])
    assert rerun(completed) == "processed"
    found = stored_vouchers()
    assert len(found) == len({v.code for v in found}) == 60
    assert {v.code: v.times_used for v in found if v.times_used} == {redeemed: 1}
    record = state(purchase["id"])
    assert (record["status"], record["vouchers_generated"], record["attention"]) == ("paid", 60, None)
    assert sorted(v.code for v in found) == sorted(voucher_service.codes_of(bf.stored(purchase["id"])))
