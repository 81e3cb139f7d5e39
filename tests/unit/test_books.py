"""The books: a healthy conference audits clean, and each invariant's break is reported by name."""

import json
import time
from datetime import timedelta
from typing import Any

from boxoffice import books, expiry, store, stripe_events
from boxoffice.store import books as book_records
from boxoffice.store import bulk_purchases as purchases
from boxoffice.store import credits as credit_records
from boxoffice.store import orders as order_records
from boxoffice.store import vouchers as voucher_store
from local.lambda_runtime import LambdaContext
from tests.support import bulk_fixtures as bulk
from tests.support import order_fixtures
from tests.support import refund_fixtures as rf
from tests.support.clock import now
from tests.support.conferences import other_conference
from tests.support.functions import checkout_fn, load_function, refunds_fn
from tests.support.http import ADMIN, ATTENDEE, ATTENDEE_URLS, ORDERS, OTHER_STAFF, STAFF, call
from tests.support.pipeline import sync
from tests.support.stripe import emulator_events, stripe_client


def invariants(breaks: list[books.Break]) -> set[str]:
    return {b.invariant for b in breaks}


def healthy(emulator) -> dict[str, Any]:
    """Paid, refunded (card and credit), cancelled, credit-paid, comp and voucher orders, and two purchases."""
    card = rf.paid_order(emulator, 10000)
    rf.refund_ok(card["id"], 3000)
    credited = rf.paid_order(emulator, 10000)
    refund = rf.refund_ok(credited["id"], 10000, destination="store_credit")
    credit_id = refund["credit"]["id"]
    by_credit = rf.new_order(5000)
    assert rf.apply_credit(credit_id, by_credit["id"]).status == 201
    returned = rf.new_order(10000)
    assert rf.apply_credit(credit_id, returned["id"]).status == 201
    assert call(checkout_fn(), "POST", f"{ORDERS}/{returned['id']}/cancel", claims=ATTENDEE).status == 200
    cancelled = rf.new_order(5000)
    assert call(checkout_fn(), "POST", f"{ORDERS}/{cancelled['id']}/cancel", claims=ATTENDEE).status == 200
    code = rf.comp_voucher()
    body = {"lines": [{"addon_id": "workshop", "quantity": 1}], "voucher_code": code}
    comp = call(checkout_fn(), "POST", ORDERS, body=body, claims=ATTENDEE)
    assert comp.status == 201, comp.text
    bulk.comp_fulfilled(3)
    purchase, _ = bulk.paid(emulator, bulk.staff_body(quantity=2))
    bulk.refund_ok(purchase["id"], 1000)
    sync(emulator)
    return {"card": card, "credited": credited, "credit_id": credit_id, "purchase": purchase, "code": code}


def test_a_healthy_conference_audits_clean(demo, emulator):
    healthy(emulator)
    assert books.audit_all("demo") == []


# --- each invariant, broken on purpose -------------------------------------------------------------------------


def test_an_order_counter_written_wrong_is_reported(demo, emulator):
    order = rf.paid_order(emulator, 10000)
    rf.bump(order["id"], amount_paid=500, amount_refunded=700, refund_reserved=100)
    found = books.audit_record("demo", "order", order["id"])
    assert invariants(found) == {"order.amount_paid", "order.amount_refunded", "order.refund_reserved"}
    (paid,) = [b for b in found if b.invariant == "order.amount_paid"]
    assert (paid.kind, paid.record, paid.ours, paid.stripe) == ("order", order["id"], 10500, 10000)


def test_an_order_status_that_does_not_follow_its_amounts_is_reported(demo, emulator):
    order = rf.paid_order(emulator, 10000)
    stored = order_fixtures.stored(order["id"])
    stored.update(actions=[order_records.Order.status.set("refunded")], add_version_condition=False)
    (found,) = books.audit_record("demo", "order", order["id"])
    assert (found.invariant, found.ours, found.stripe) == ("order.status", "refunded", "paid")


def test_a_dashboard_refund_whose_events_never_arrived_is_reported(demo, emulator):
    order = rf.paid_order(emulator, 10000)
    stripe_client(emulator).v1.refunds.create(
        params={"payment_intent": order["payment_intent_id"], "amount": 2500}
    )
    found = books.audit_all("demo")
    assert {"order.card_refunds_match_stripe", "event.unrecorded"} <= invariants(found)
    (mismatch,) = [b for b in found if b.invariant == "order.card_refunds_match_stripe"]
    assert mismatch.ours == {} and list(mismatch.stripe.values()) == [2500]
    assert books.audit_all("demo", with_stripe=False) == []
    sync(emulator)
    assert books.audit_all("demo") == [], "once the events arrive the books hold again"


def test_a_paid_session_no_record_holds_is_unclaimed_money(demo, emulator):
    order = rf.new_order(10000)
    reply = call(
        checkout_fn(), "POST", f"{ORDERS}/{order['id']}/checkout", body=ATTENDEE_URLS, claims=ATTENDEE
    )
    emulator.pay(reply.json["session_id"], "succeed")
    found = books.audit_all("demo")
    (unclaimed,) = [b for b in found if b.invariant == "money.unclaimed_charge"]
    assert (unclaimed.kind, unclaimed.record) == ("order", order["id"])
    assert unclaimed.stripe["amount"] == 10000 and unclaimed.stripe["refunded"] == 0
    assert "event.unrecorded" in invariants(found)


def test_money_on_a_cancelled_order_must_be_flagged(demo, emulator):
    order = rf.new_order(10000)
    assert call(checkout_fn(), "POST", f"{ORDERS}/{order['id']}/cancel", claims=ATTENDEE).status == 200
    rf.add_payment(order["id"], "stripe", 10000, payment_intent_id="pi_stray")
    rf.bump(order["id"], amount_paid=10000)
    assert invariants(books.audit_record("demo", "order", order["id"], with_stripe=False)) == {
        "money.unflagged"
    }
    store.add_attention(order_fixtures.stored(order["id"]), "a payment arrived after cancellation; refund it")
    assert books.audit_record("demo", "order", order["id"], with_stripe=False) == []


def test_voucher_use_that_does_not_match_its_orders_is_reported(demo, emulator):
    healthy_order = call(
        checkout_fn(), "POST", ORDERS,
        body={"lines": [{"addon_id": "workshop", "quantity": 1}], "voucher_code": rf.comp_voucher("COMPED")},
        claims=ATTENDEE,
    )  # fmt: skip
    assert healthy_order.status == 201
    assert books.audit_record("demo", "voucher", "comped") == []
    voucher = voucher_store.get_voucher("demo", "COMPED")
    voucher.update(actions=[voucher_store.Voucher.times_used.set(3)], add_version_condition=False)
    (found,) = books.audit_record("demo", "voucher", "COMPED")
    assert (found.invariant, found.ours, found.stripe) == ("voucher.times_used", 3, 1)
    voucher.update(
        actions=[voucher_store.Voucher.times_used.set(1), voucher_store.Voucher.max_uses.set(0)],
        add_version_condition=False,
    )
    assert invariants(books.audit_all("demo")) == {"voucher.max_uses"}


def test_a_paid_purchase_missing_a_code_or_with_a_code_off_is_reported(demo, emulator):
    purchase = bulk.comp_fulfilled(3)
    stored = bulk.stored(purchase["id"])
    codes = books.codes_of(stored)
    voucher_store.get_voucher("demo", codes[0]).delete()
    voucher_store.deactivate("demo", [codes[1]])
    found = books.audit_record("demo", "bulk_purchase", purchase["id"])
    assert invariants(found) == {"bulk.codes", "bulk.codes_active"}
    (active,) = [b for b in found if b.invariant == "bulk.codes_active"]
    assert active.ours["sample"] == [codes[1]]


def test_a_purchase_counting_a_refund_of_another_payment_is_reported(demo, emulator):
    purchase, _ = bulk.paid(emulator, bulk.staff_body(quantity=2))
    stored = bulk.stored(purchase["id"])
    stored.update(actions=[purchases.BulkPurchase.amount_refunded.add(1000)], add_version_condition=False)
    found = books.audit_record("demo", "bulk_purchase", purchase["id"])
    assert invariants(found) == {"bulk.amount_refunded"}


def test_a_credit_whose_remaining_amount_is_not_its_ledger_is_reported(demo, emulator):
    order = rf.paid_order(emulator, 10000)
    credit_id = rf.refund_ok(order["id"], 10000, destination="store_credit")["credit"]["id"]
    credit = rf.credit(credit_id)
    credit.update(actions=[credit_records.Credit.remaining_amount.set(12000)], add_version_condition=False)
    (found,) = books.audit_record("demo", "credit", credit_id)
    assert (found.invariant, found.ours, found.stripe) == ("credit.remaining", 12000, 10000)


def thaw(credit_id: str) -> None:
    """What a missing freeze would leave: the credit spendable again."""
    rf.credit(credit_id).update(
        actions=[credit_records.Credit.attention.remove()], add_version_condition=False
    )


def test_a_spendable_credit_for_money_also_refunded_on_the_card_is_reported(demo, emulator):
    """Staff refund as credit while a dashboard refund of the same payment is still on its way."""
    order = rf.paid_order(emulator, 10000)
    credit_id = rf.refund_ok(order["id"], 10000, destination="store_credit")["credit"]["id"]
    stripe_client(emulator).v1.refunds.create(
        params={"payment_intent": order["payment_intent_id"], "amount": 10000}
    )
    sync(emulator)
    found = books.audit_all("demo")
    assert "credit.double_paid" not in invariants(found), "frozen and flagged: told, not silent"
    assert "order.refunds_within_paid" in invariants(found), "the order lists it until staff act"
    thaw(credit_id)
    (double,) = [b for b in books.audit_all("demo") if b.invariant == "credit.double_paid"]
    assert double.record == credit_id and double.ours["spendable"] is True


def test_a_spendable_credit_for_money_the_cardholder_charged_back_is_reported(demo, emulator):
    order = rf.paid_order(emulator, 10000)
    credit_id = rf.refund_ok(order["id"], 10000, destination="store_credit")["credit"]["id"]
    dispute = emulator.open_dispute(order["payment_intent_id"])
    emulator.close_dispute(dispute["id"], "lost")
    sync(emulator)
    assert "credit.double_paid" not in invariants(books.audit_all("demo"))
    thaw(credit_id)
    (double,) = [b for b in books.audit_all("demo") if b.invariant == "credit.double_paid"]
    assert double.ours["card_refunds"] == 10000  # the chargeback counts as money back on the card
    without_stripe = invariants(books.audit_all("demo", with_stripe=False))
    assert "credit.double_paid" not in without_stripe, "the chargeback's amount is Stripe's to tell"


def test_an_event_recorded_but_never_processed_is_reported(demo, emulator):
    order = rf.new_order(10000)
    reply = call(
        checkout_fn(), "POST", f"{ORDERS}/{order['id']}/checkout", body=ATTENDEE_URLS, claims=ATTENDEE
    )
    emulator.pay(reply.json["session_id"], "succeed")
    (completed,) = emulator_events(emulator, "checkout.session.completed")
    assert stripe_events.admit("demo", completed, source="webhook") == "recorded"
    found = [b for b in books.audit_all("demo") if b.kind == "event"]
    assert {(b.record, b.invariant) for b in found if b.record == completed["id"]} == {
        (completed["id"], "event.unfinished")
    }


# --- the route ---------------------------------------------------------------------------------------------------

AUDIT = "/v1/conferences/demo/audit"


def audit_call(claims: dict[str, Any] = STAFF, query: str = "", path: str = AUDIT):
    return call(refunds_fn(), "GET", path, claims=claims, query=query)


def test_the_audit_route_is_for_staff_of_a_known_conference(demo):
    assert audit_call(ATTENDEE).status == 403
    assert audit_call(ATTENDEE).json["error"]["code"] == "forbidden"
    assert audit_call(OTHER_STAFF).status == 403
    assert audit_call(claims=None).status == 401
    missing = audit_call(ADMIN, path="/v1/conferences/nowhere/audit")
    assert missing.status == 404 and missing.json["error"]["code"] == "not_found"
    assert audit_call(query="limit=0").status == 422
    bad = audit_call(query="cursor=bm90LWEtY3Vyc29y")
    assert bad.status == 422 and bad.json["error"]["code"] == "validation_error"


def test_the_audit_route_pages_through_every_break_in_the_api_shape(demo, emulator):
    for _ in range(3):
        order = rf.paid_order(emulator, 5000)
        rf.bump(order["id"], amount_paid=1)
    whole = audit_call()
    assert whole.status == 200, whole.text
    assert set(whole.json) == {"checked", "items", "next"}
    assert whole.json["checked"]["order"] == 3
    for item in whole.json["items"]:
        assert set(item) == {"kind", "record", "invariant", "ours", "stripe", "detail"}
    seen, cursor, pages = [], None, 0
    while True:
        reply = audit_call(query=f"limit=1{'&cursor=' + cursor if cursor else ''}")
        assert reply.status == 200, reply.text
        assert sum(reply.json["checked"].values()) <= 1
        seen += reply.json["items"]
        pages += 1
        cursor = reply.json["next"]
        if cursor is None:
            break
    assert pages > 3
    expected = [b.model_dump(mode="json") for b in books.audit_all("demo")]
    assert sorted(map(str, seen)) == sorted(map(str, expected))
    assert {(b["kind"], b["invariant"]) for b in seen} == {("order", "order.amount_paid")}


def test_a_cursor_of_another_conference_is_refused(demo, emulator):
    rf.paid_order(emulator, 5000)
    rf.paid_order(emulator, 5000)
    first = books.audit_conference("demo", limit=1)
    assert first.next is not None
    other_conference()
    reply = audit_call(ADMIN, query=f"cursor={first.next}", path="/v1/conferences/other/audit")
    assert reply.status == 422, reply.text


# --- the sweep -------------------------------------------------------------------------------------------------


def emitted_metrics(text: str) -> list[dict[str, Any]]:
    found = []
    for line in text.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            found.append(json.loads(line))
    return found


def test_the_sweep_flags_what_broke_since_its_last_run_and_emits_a_metric(demo, emulator, capsys):
    broken = rf.paid_order(emulator, 10000)
    fine = rf.paid_order(emulator, 10000)
    rf.bump(broken["id"], amount_refunded=2000)
    store.add_attention(order_fixtures.stored(broken["id"]), "dispute du_1 opened")
    capsys.readouterr()
    assert books.sweep_changes("demo") == 1
    assert (
        order_fixtures.stored(broken["id"]).attention == "dispute du_1 opened; books: order.amount_refunded"
    )
    assert order_fixtures.stored(fine["id"]).attention is None
    assert int(order_fixtures.stored(broken["id"]).amount_refunded) == 2000, "nothing is corrected"
    (metric,) = [m for m in emitted_metrics(capsys.readouterr().out) if "BooksBreak" in m]
    assert metric["invariant"] == "order.amount_refunded" and metric["BooksBreak"] == [1.0]
    assert "invariant" in metric["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]
    assert books.sweep_changes("demo") == 1, "the overlap looks at it again"
    assert order_fixtures.stored(broken["id"]).attention.count("books:") == 1, "a reason is appended once"


def test_the_sweep_only_reads_what_changed_since_its_cursor(demo, emulator):
    order = rf.paid_order(emulator, 10000)
    assert books.sweep_changes("demo") == 0
    cursor = book_records.get_cursor("demo")
    cursor.update(
        actions=[book_records.BooksCursor.audited_until.set(now() + timedelta(hours=1))],
        add_version_condition=False,
    )
    rf.bump(order["id"], amount_paid=1)
    assert books.sweep_changes("demo") == 0, "an order untouched since the cursor is left to the full audit"
    assert invariants(books.audit_all("demo")) == {"order.amount_paid"}


def test_the_sweep_checks_only_the_sessions_paid_or_refunded_since_its_cursor(demo, emulator, monkeypatch):
    """A session checked once is not read again at every run for the day it could have been paid in."""
    from boxoffice.books import sweep

    before = rf.paid_order(emulator, 10000)
    time.sleep(1.1)  # Stripe's ``created`` is in whole seconds
    since = now()
    after = rf.paid_order(emulator, 5000)
    checked: list[str] = []
    check = sweep.check_session
    monkeypatch.setattr(
        sweep, "check_session", lambda run, s: checked.append(s["metadata"]["order_id"]) or check(run, s)
    )
    assert books.changed_breaks("demo", since) == []
    assert checked == [after["id"]]
    assert before["id"] not in checked


def test_a_session_paid_before_the_cursor_whose_refund_fails_since_is_unclaimed_money_again(demo, emulator):
    order = rf.new_order(10000)
    reply = call(
        checkout_fn(), "POST", f"{ORDERS}/{order['id']}/checkout", body=ATTENDEE_URLS, claims=ATTENDEE
    )
    emulator.pay(reply.json["session_id"], "succeed")  # its events never reach us
    intent = stripe_client(emulator).v1.checkout.sessions.retrieve(reply.json["session_id"]).payment_intent
    refund = rf.dashboard_refund(emulator, intent)  # the whole payment went back: nothing is unclaimed
    time.sleep(1.1)
    since = now()
    assert "money.unclaimed_charge" not in invariants(books.changed_breaks("demo", since))
    emulator.fail_refund(refund["id"])
    found = books.changed_breaks("demo", since)
    (unclaimed,) = [b for b in found if b.invariant == "money.unclaimed_charge"]
    assert (unclaimed.kind, unclaimed.record) == ("order", order["id"])


def test_the_expiry_function_runs_the_audit_last(demo, emulator):
    order = rf.paid_order(emulator, 10000)
    rf.bump(order["id"], amount_paid=1)
    assert list(expiry.STEPS)[-1] == "books_breaks"
    result = load_function("expiry").handler({"detail-type": "Scheduled Event"}, LambdaContext())
    assert result["books_breaks"] == 1 and result["failures"] == []
    assert "books: order.amount_paid" in order_fixtures.stored(order["id"]).attention
