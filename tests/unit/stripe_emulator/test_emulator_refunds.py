"""Refunds: amounts and Stripe's errors, events, and refunds that fail later."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests
import stripe

from local.stripe_emulator import StripeEmulator, is_magic_failure

from .helpers import event_types, wait_for


def test_partial_then_rest_refunds_keep_the_charge_up_to_date(
    client: stripe.StripeClient, paid_intent: stripe.PaymentIntent
) -> None:
    first = client.v1.refunds.create(
        params={"payment_intent": paid_intent.id, "amount": 1500, "reason": "requested_by_customer"}
    )
    assert (first.status, first.amount, first.reason) == ("succeeded", 1500, "requested_by_customer")
    assert (first.charge, first.payment_intent) == (paid_intent.latest_charge, paid_intent.id)
    charge = client.v1.charges.retrieve(paid_intent.latest_charge)
    assert (charge.amount_refunded, charge.refunded) == (1500, False)
    rest = client.v1.refunds.create(params={"charge": paid_intent.latest_charge})
    assert rest.amount == 3500
    charge = client.v1.charges.retrieve(paid_intent.latest_charge)
    assert (charge.amount_refunded, charge.refunded) == (5000, True)
    assert [r.id for r in charge.refunds.data] == [rest.id, first.id]


def test_refund_over_the_unrefunded_amount_is_refused(
    client: stripe.StripeClient, paid_intent: stripe.PaymentIntent
) -> None:
    client.v1.refunds.create(params={"payment_intent": paid_intent.id, "amount": 4000})
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.refunds.create(params={"payment_intent": paid_intent.id, "amount": 1001})
    assert error.value.http_status == 400
    assert error.value.param == "amount"
    assert error.value.user_message == (
        "Refund amount ($10.01) is greater than unrefunded amount on charge ($10.00)"
    )


def test_refunding_a_fully_refunded_charge_is_refused(
    client: stripe.StripeClient, paid_intent: stripe.PaymentIntent
) -> None:
    client.v1.refunds.create(params={"payment_intent": paid_intent.id})
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.refunds.create(params={"payment_intent": paid_intent.id, "amount": 1})
    assert error.value.code == "charge_already_refunded"
    assert error.value.error.type == "invalid_request_error"


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"amount": 0}, "amount"),
        ({"amount": -5}, "amount"),
        ({"amount": "ten"}, "amount"),
        ({"reason": "changed_mind"}, "reason"),
        ({"metadata": "x"}, "metadata"),
        ({"surprise": "1"}, "surprise"),
    ],
)
def test_bad_refund_params_name_the_param(
    client: stripe.StripeClient, paid_intent: stripe.PaymentIntent, params: dict[str, object], param: str
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.refunds.create(params={"payment_intent": paid_intent.id, **params})
    assert error.value.param == param


def test_refund_needs_a_charge_or_intent_that_exists_and_was_paid(
    emulator: StripeEmulator, client: stripe.StripeClient, new_session: Callable[..., stripe.checkout.Session]
) -> None:
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.refunds.create(params={"amount": 100})
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.refunds.create(params={"payment_intent": "pi_missing"})
    assert (error.value.http_status, error.value.code, error.value.param) == (
        404,
        "resource_missing",
        "payment_intent",
    )
    session = new_session()
    emulator.pay(session.id, "async_succeed")
    intent_id = client.v1.checkout.sessions.retrieve(session.id).payment_intent
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.refunds.create(params={"payment_intent": intent_id})
    assert error.value.param == "payment_intent"


def test_creating_a_refund_emits_charge_refunded_refund_created_and_refund_updated(
    client: stripe.StripeClient, paid_intent: stripe.PaymentIntent
) -> None:
    refund = client.v1.refunds.create(params={"payment_intent": paid_intent.id, "amount": 700})
    assert event_types(client)[-3:] == ["charge.refunded", "refund.created", "refund.updated"]
    charge_event = client.v1.events.list(params={"type": "charge.refunded"}).data[0]
    assert charge_event.data.object.amount_refunded == 700
    updated = client.v1.events.list(params={"type": "refund.updated"}).data[0]
    assert updated.data.object.id == refund.id
    assert "destination_details" in updated.data.previous_attributes


def test_refund_metadata_is_kept_and_refunds_list_filters_by_intent_and_charge(
    client: stripe.StripeClient, paid_intent: stripe.PaymentIntent
) -> None:
    refund = client.v1.refunds.create(
        params={"payment_intent": paid_intent.id, "amount": 100, "metadata": {"refund_id": "rf_1"}}
    )
    assert refund.metadata.to_dict() == {"refund_id": "rf_1"}
    by_intent = client.v1.refunds.list(params={"payment_intent": paid_intent.id})
    by_charge = client.v1.refunds.list(params={"charge": paid_intent.latest_charge})
    assert [r.id for r in by_intent.data] == [r.id for r in by_charge.data] == [refund.id]
    assert client.v1.refunds.list(params={"payment_intent": "pi_other"}).data == []
    assert client.v1.refunds.retrieve(refund.id).id == refund.id


def test_fail_refund_marks_it_failed_restores_the_charge_and_emits_refund_failed(
    emulator: StripeEmulator, client: stripe.StripeClient, paid_intent: stripe.PaymentIntent
) -> None:
    refund = client.v1.refunds.create(params={"payment_intent": paid_intent.id, "amount": 2000})
    failed = emulator.fail_refund(refund.id)
    assert (failed["status"], failed["failure_reason"]) == ("failed", "lost_or_stolen_card")
    fetched = client.v1.refunds.retrieve(refund.id)
    assert (fetched.status, fetched.failure_reason) == ("failed", "lost_or_stolen_card")
    charge = client.v1.charges.retrieve(paid_intent.latest_charge)
    assert (charge.amount_refunded, charge.refunded) == (0, False)
    assert event_types(client)[-3:] == ["refund.updated", "charge.refund.updated", "refund.failed"]
    failed_event = client.v1.events.list(params={"type": "refund.failed"}).data[0]
    assert failed_event.data.object.failure_reason == "lost_or_stolen_card"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.refunds.create(params={"payment_intent": paid_intent.id, "amount": 5001})
    assert client.v1.refunds.create(params={"payment_intent": paid_intent.id}).amount == 5000


def test_fail_refund_over_http_takes_a_failure_reason(
    emulator: StripeEmulator, client: stripe.StripeClient, paid_intent: stripe.PaymentIntent
) -> None:
    refund = client.v1.refunds.create(params={"payment_intent": paid_intent.id, "amount": 100})
    response = requests.post(
        f"{emulator.url}/_emulator/refunds/{refund.id}/fail",
        json={"failure_reason": "expired_or_canceled_card"},
        timeout=5,
    )
    assert response.status_code == 200
    assert client.v1.refunds.retrieve(refund.id).failure_reason == "expired_or_canceled_card"
    again = requests.post(f"{emulator.url}/_emulator/refunds/{refund.id}/fail", timeout=5)
    assert again.status_code == 400


def test_magic_refund_amount_ending_in_13_succeeds_then_fails_shortly_after(
    emulator: StripeEmulator, client: stripe.StripeClient, paid_intent: stripe.PaymentIntent
) -> None:
    assert is_magic_failure(1013)
    assert not is_magic_failure(1000)
    refund = client.v1.refunds.create(params={"payment_intent": paid_intent.id, "amount": 1013})
    assert refund.status == "succeeded"
    assert client.v1.charges.retrieve(paid_intent.latest_charge).amount_refunded == 1013
    wait_for(lambda: client.v1.refunds.retrieve(refund.id).status == "failed")
    assert client.v1.refunds.retrieve(refund.id).failure_reason == "lost_or_stolen_card"
    assert client.v1.charges.retrieve(paid_intent.latest_charge).amount_refunded == 0
    assert "refund.failed" in event_types(client)
