"""The sweep settles each item of a step on its own: one Stripe cannot answer for (a session from
the account the conference used before, a call that fails) never keeps the others' seats held or
their money reserved. The step still fails once all were tried, so the alarm fires and the next
run tries that one again."""

from typing import Any

import pytest

from boxoffice import orders, refunds
from boxoffice.refunds import phases
from boxoffice.store import orders as order_records
from boxoffice.sweeping import SweepIncomplete
from tests.support.capacity import held, limit_general
from tests.support.order_fixtures import GENERAL, checkout, create_ok, get, move_hold_into_past, stored
from tests.support.refund_fixtures import make_stale, money, paid_order, refund, stored_refund, stored_refunds


def test_an_expired_order_whose_session_stripe_no_longer_knows_never_keeps_the_other_orders_seats(
    demo, emulator
):
    limit_general(10)
    stranger = create_ok([GENERAL])
    checkout(stranger["id"])
    other = create_ok([GENERAL])
    checkout(other["id"])
    stored(stranger["id"]).update(
        actions=[order_records.Order.checkout_session_id.set("cs_test_from_the_old_account")],
        add_version_condition=False,
    )
    move_hold_into_past(stranger["id"], minutes=10)  # first in the sweep's index
    move_hold_into_past(other["id"])
    assert held() == 2

    with pytest.raises(SweepIncomplete, match=stranger["id"]):
        orders.sweep_expired_holds("demo")

    assert get(other["id"]).json["status"] == "cancelled"
    assert get(stranger["id"]).json["status"] == "pending"  # its session may still be paid: not given away
    assert held() == 1


def test_a_pending_refund_stripe_cannot_be_asked_about_never_keeps_the_others_money_reserved(
    demo, emulator, monkeypatch
):
    first, second = paid_order(emulator, 10000), paid_order(emulator, 10000)
    real_run = phases.run

    def die_before_stripe(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the function died before calling Stripe")

    monkeypatch.setattr(phases, "run", die_before_stripe)
    for order in (first, second):
        assert refund(order["id"], 4000).status == 500
    monkeypatch.setattr(phases, "run", real_run)
    (stuck,), (left,) = stored_refunds(first["id"]), stored_refunds(second["id"])
    make_stale(first["id"], stuck.refund_id, minutes=20)  # first in the sweep's index
    make_stale(second["id"], left.refund_id)
    real_lookup = phases.found_at_stripe

    def stripe_down_for_the_first(refund: Any, secret_name: str) -> Any:
        if refund.refund_id == stuck.refund_id:
            raise ConnectionError("Stripe could not be reached")
        return real_lookup(refund, secret_name)

    monkeypatch.setattr(phases, "found_at_stripe", stripe_down_for_the_first)

    with pytest.raises(SweepIncomplete, match=stuck.refund_id):
        refunds.finish_stale_pending("demo")

    assert stored_refund(second["id"], left.refund_id).status == "failed"
    assert money(second["id"])["refund_reserved"] == 0
    assert stored_refund(first["id"], stuck.refund_id).status == "pending"
    assert money(first["id"])["refund_reserved"] == 4000
    monkeypatch.setattr(phases, "found_at_stripe", real_lookup)
    assert refunds.finish_stale_pending("demo") == 1  # the next run settles it
    assert money(first["id"])["refund_reserved"] == 0
