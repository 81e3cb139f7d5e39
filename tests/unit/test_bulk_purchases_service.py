"""Bulk purchases through the real handlers: create, checkout, approve, fulfil, codes, sweep."""

from datetime import datetime, timedelta

from boxoffice import bulk_purchases, store
from boxoffice.store import bulk_purchases as purchase_records
from boxoffice.voucher_codes import ALPHABET
from tests.support import bulk_fixtures as bf
from tests.support.bulk_fixtures import (
    approve,
    checkout,
    comp_body,
    comp_fulfilled,
    create,
    create_ok,
    fulfill,
    staff_body,
    state,
    stored,
    stored_vouchers,
)
from tests.support.bus import BusTap, domain_events
from tests.support.conferences import other_conference
from tests.support.functions import api_fn
from tests.support.http import ADMIN, DEMO_CONFERENCE, STAFF, Reply, call
from tests.support.stripe import stripe_client

# --- create -------------------------------------------------------------------------------------


def assert_refused(reply: Reply, field: str | None = None) -> None:
    assert reply.status == 422, reply.text
    error = reply.json["error"]
    assert error["code"] == "validation_error"
    assert isinstance(error["message"], str) and error["message"]
    if field is not None:
        assert any(field in d["loc"] for d in error["details"]), error["details"]


def assert_nothing_stored() -> None:
    assert bf.bulk_items() == []
    listed = call(api_fn(), "GET", bf.BASE, claims=STAFF)
    assert listed.status == 200 and listed.json["items"] == []


def test_create_refuses_a_quantity_out_of_range_or_a_negative_price(demo, api):
    assert_refused(create(staff_body(unit_price=-1)), "unit_price")
    assert_refused(create(staff_body(quantity=501)), "quantity")  # the default maximum is 500
    body = {**DEMO_CONFERENCE, "max_bulk_quantity": 20}
    assert call(api, "PUT", "/v1/conferences/demo", body=body, claims=ADMIN).status == 200
    for quantity in (0, -1, 21, 10_001):
        assert_refused(create(staff_body(quantity=quantity)), "quantity")
    assert_nothing_stored()
    assert create(staff_body(quantity=20)).status == 201
    assert len(bf.purchase_ids()) == 1


WINDOW = {"voucher_type": "comp", "max_uses": 1}
BAD_CONFIGS = {
    "missing": None,
    "percentage 0": {"voucher_type": "percentage", "discount_value": 0, "max_uses": 1},
    "percentage 101": {"voucher_type": "percentage", "discount_value": 101, "max_uses": 1},
    "percentage without value": {"voucher_type": "percentage", "max_uses": 1},
    "fixed_amount 0": {"voucher_type": "fixed_amount", "discount_value": 0, "max_uses": 1},
    "unknown type": {"voucher_type": "gift", "max_uses": 1},
    "no max_uses": {"voucher_type": "comp"},
    "max_uses 0": {"voucher_type": "comp", "max_uses": 0},
    "empty window": {**WINDOW, "valid_from": "2027-01-02T00:00:00Z", "valid_until": "2027-01-02T00:00:00Z"},
    "reversed window": {
        **WINDOW,
        "valid_from": "2027-02-01T00:00:00Z",
        "valid_until": "2027-01-01T00:00:00Z",
    },
    "naive datetime": {**WINDOW, "valid_from": "2027-01-01T00:00:00"},
    "lower-case prefix": {**WINDOW, "prefix": "vip-"},
    "prefix with underscore": {**WINDOW, "prefix": "VIP_"},
    "prefix of 21": {**WINDOW, "prefix": "A" * 21},
}


def test_create_refuses_an_incomplete_or_invalid_voucher_config(demo):
    for name, config in BAD_CONFIGS.items():
        reply = create(staff_body(voucher_config=config))
        assert reply.status == 422, (name, reply.text)
        assert_refused(reply, "voucher_config")
    assert_nothing_stored()


def test_create_refuses_items_and_sponsors_of_another_conference_or_not_sold_in_bulk(demo):
    other_conference()
    bf.put_catalog("addons/lunch", {"name": "Lunch", "price": 1500, "bulk_enabled": False})
    bf.put_catalog(
        "sponsors/gone",
        {"name": "Gone", "slug": "gone", "contact_email": "x@gone.example", "is_active": False},
    )
    cases = {
        "sponsor of other": (staff_body(sponsor_id="globex"), "sponsor_id"),
        "unknown sponsor": (staff_body(sponsor_id="nobody"), "sponsor_id"),
        "inactive sponsor": (staff_body(sponsor_id="gone"), "sponsor_id"),
        "ticket of other": (staff_body(ticket_type_id="vip"), "ticket_type_id"),
        "ticket not bulk": (staff_body(ticket_type_id="speaker"), "ticket_type_id"),
        "addon of other": (staff_body(ticket_type_id=None, addon_id="dinner"), "addon_id"),
        "addon not bulk": (staff_body(ticket_type_id=None, addon_id="lunch"), "addon_id"),
    }
    for name, (body, field) in cases.items():
        reply = create(body)
        assert reply.status == 422, (name, reply.text)
        assert_refused(reply, field)
    assert_nothing_stored()
    assert call(api_fn(), "GET", "/v1/conferences/other/bulk-purchases", claims=ADMIN).json["items"] == []


def test_the_total_is_unit_price_times_quantity(demo):
    purchase = create_ok(staff_body(quantity=7, unit_price=12345))
    assert purchase["total_amount"] == 7 * 12345
    assert (purchase["status"], purchase["currency"], purchase["amount_refunded"]) == ("pending", "usd", 0)
    assert state(purchase["id"])["total_amount"] == 86415


# --- checkout -----------------------------------------------------------------------------------------


def test_checkout_refuses_non_pending_and_zero_total_purchases(demo, emulator):
    comp = create_ok(comp_body())
    reply = checkout(comp["id"])
    assert reply.status == 409 and reply.json["error"]["code"] == "invalid_state"
    assert state(comp["id"])["status"] == "pending"
    for status in ("approved", "paid", "failed", "refunded"):
        purchase = create_ok(staff_body())
        stored(purchase["id"]).update(
            actions=[purchase_records.BulkPurchase.status.set(status)], add_version_condition=False
        )
        reply = checkout(purchase["id"])
        assert reply.status == 409, (status, reply.text)
        assert reply.json["error"]["code"] == "invalid_state"
        assert state(purchase["id"])["status"] == status
    assert stripe_client(emulator).v1.checkout.sessions.list().data == []


def test_checkout_sends_the_line_item_metadata_and_expiry_and_moves_to_processing(demo, api, emulator):
    body = {**DEMO_CONFERENCE, "checkout_expiry_minutes": 45}
    assert call(api, "PUT", "/v1/conferences/demo", body=body, claims=ADMIN).status == 200
    purchase = create_ok(staff_body(quantity=3, unit_price=20000))
    started = int(store.now().timestamp())
    reply = checkout(purchase["id"])
    assert reply.status == 200, reply.text
    client = stripe_client(emulator)
    session = client.v1.checkout.sessions.retrieve(reply.json["session_id"]).to_dict()
    assert session["mode"] == "payment" and session["status"] == "open"
    assert session["client_reference_id"] == purchase["id"]
    assert (session["currency"], session["amount_total"]) == ("usd", 60000)
    metadata = {"bulk_purchase_id": purchase["id"], "conference_id": "demo", "sponsor_id": "acme"}
    assert session["metadata"] == metadata
    assert started + 45 * 60 - 2 <= session["expires_at"] <= int(store.now().timestamp()) + 45 * 60 + 2
    (line,) = client.v1.checkout.sessions.line_items.list(session["id"]).data
    assert (line.quantity, line.price.unit_amount, line.price.currency, line.amount_total) == (
        3,
        20000,
        "usd",
        60000,
    )
    assert reply.json["checkout_url"] == session["url"]

    emulator.pay(session["id"], "decline")  # an attempt creates the intent, which carries the metadata too
    (intent,) = client.v1.payment_intents.list().data
    assert intent.metadata.to_dict() == metadata

    record = state(purchase["id"])
    assert record["status"] == "processing"
    assert (record["checkout_session_id"], record["checkout_url"]) == (session["id"], session["url"])
    assert datetime.fromisoformat(reply.json["expires_at"]).timestamp() == session["expires_at"]


def test_a_second_checkout_returns_the_same_url_and_stripe_holds_one_session(demo, emulator):
    purchase = create_ok(staff_body())
    first, second = checkout(purchase["id"]), checkout(purchase["id"])
    assert first.status == second.status == 200
    assert first.json == second.json
    assert len(stripe_client(emulator).v1.checkout.sessions.list().data) == 1


def lose_the_write_after_stripe(monkeypatch, pid: str) -> str:
    """Checkout dies right after Stripe created the session; returns the session Stripe holds."""
    with monkeypatch.context() as crash:
        created = bf.die_after_stripe_answers(crash)
        assert checkout(pid).status == 500
    assert len(created) == 1
    return created[0]


def test_checkout_uses_an_idempotency_key_derived_from_the_purchase(demo, emulator, monkeypatch):
    purchase = create_ok(staff_body())
    frozen = store.now()
    monkeypatch.setattr(store, "now", lambda: frozen)  # both calls send the very same parameters
    session_id = lose_the_write_after_stripe(monkeypatch, purchase["id"])
    again = checkout(purchase["id"])
    assert again.status == 200, again.text
    assert again.json["session_id"] == session_id
    assert len(stripe_client(emulator).v1.checkout.sessions.list().data) == 1


def test_a_checkout_retried_seconds_after_a_lost_write_gets_the_same_session(demo, emulator, monkeypatch):
    purchase = create_ok(staff_body())
    frozen = store.now()
    monkeypatch.setattr(store, "now", lambda: frozen)
    session_id = lose_the_write_after_stripe(monkeypatch, purchase["id"])
    monkeypatch.setattr(store, "now", lambda: frozen + timedelta(seconds=5))  # the user retries later
    again = checkout(purchase["id"])
    assert again.status == 200, again.text
    assert again.json["session_id"] == session_id
    assert len(stripe_client(emulator).v1.checkout.sessions.list().data) == 1


# --- approve and staff fulfil ----------------------------------------------------------------------------


def test_staff_fulfil_works_only_for_an_approved_comp_deal_and_a_paid_deal_cannot_be_approved(demo):
    comp = create_ok(comp_body(quantity=4))
    not_yet = fulfill(comp["id"])
    assert not_yet.status == 409 and not_yet.json["error"]["code"] == "invalid_state"
    assert stored_vouchers() == []
    approved = approve(comp["id"])
    assert approved.status == 200
    assert (approved.json["status"], approved.json["approved_by"]) == ("approved", "user-staff")
    reply = fulfill(comp["id"])
    assert reply.status == 200, reply.text
    assert reply.json["vouchers_created"] == 4
    assert (reply.json["bulk_purchase"]["status"], reply.json["bulk_purchase"]["vouchers_generated"]) == (
        "paid",
        4,
    )
    assert len(stored_vouchers()) == 4

    paid_deal = create_ok(staff_body())
    refused = approve(paid_deal["id"])  # a paid deal goes through checkout, never approval
    assert refused.status == 409 and refused.json["error"]["code"] == "invalid_state"
    reply = fulfill(paid_deal["id"])
    assert reply.status == 409
    assert state(paid_deal["id"])["status"] == "pending"
    assert len(stored_vouchers()) == 4


def test_fulfilling_twice_issues_nothing_the_second_time(demo):
    tap = BusTap(("boxoffice",))
    purchase = comp_fulfilled(quantity=6)
    codes = sorted(v.code for v in stored_vouchers())
    again = fulfill(purchase["id"])
    assert again.status == 200
    assert again.json["vouchers_created"] == 0
    assert sorted(v.code for v in stored_vouchers()) == codes and len(codes) == 6
    announced = domain_events(tap, "bulk_purchase.fulfilled")
    assert [e["bulk_purchase_id"] for e in announced] == [purchase["id"]]
    assert announced[0]["quantity"] == 6


# --- codes ------------------------------------------------------------------------------------------------


def test_codes_carry_the_sponsor_default_prefix_and_the_config(demo):
    config = {
        "voucher_type": "percentage",
        "discount_value": 30,
        "max_uses": 3,
        "valid_from": "2027-01-01T00:00:00Z",
        "valid_until": "2027-01-31T23:59:59Z",
        "unlocks_hidden_tickets": True,
    }
    purchase = comp_fulfilled(quantity=3, voucher_config=config, addon_id="workshop")
    found = stored_vouchers()
    assert len(found) == 3
    pattern = bf.code_pattern("BULK-ACME-")
    for voucher in found:
        assert pattern.match(voucher.code), voucher.code
        assert (voucher.voucher_type, voucher.discount_value, voucher.max_uses, voucher.times_used) == (
            "percentage",
            30,
            3,
            0,
        )
        assert voucher.valid_from.isoformat() == "2027-01-01T00:00:00+00:00"
        assert voucher.valid_until.isoformat() == "2027-01-31T23:59:59+00:00"
        assert voucher.unlocks_hidden_tickets is True and voucher.is_active is True
        assert (list(voucher.ticket_type_ids), list(voucher.addon_ids)) == (["general"], ["workshop"])
        assert voucher.bulk_purchase_id == purchase["id"]


def test_codes_start_with_bulk_without_a_sponsor_or_with_the_configured_prefix(demo):
    config = {"voucher_type": "fixed_amount", "discount_value": 1500, "max_uses": 1}
    comp_fulfilled(
        quantity=2, sponsor_id=None, ticket_type_id=None, addon_id="workshop", voucher_config=config
    )
    found = stored_vouchers()
    assert len(found) == 2
    for voucher in found:
        assert bf.code_pattern("BULK-").match(voucher.code), voucher.code
        assert not voucher.code.startswith("BULK-ACME-")
        assert (voucher.voucher_type, voucher.discount_value, voucher.max_uses) == ("fixed_amount", 1500, 1)
        assert voucher.valid_from is None and voucher.valid_until is None
        assert voucher.unlocks_hidden_tickets is False
        assert (list(voucher.ticket_type_ids), list(voucher.addon_ids)) == ([], ["workshop"])

    comp_fulfilled(quantity=2, voucher_config={"voucher_type": "comp", "max_uses": 1, "prefix": "VIP2027-"})
    configured = [v for v in stored_vouchers() if v.code.startswith("VIP2027-")]
    assert len(configured) == 2 and len(stored_vouchers()) == 4
    assert all(bf.code_pattern("VIP2027-").match(v.code) for v in configured), [v.code for v in configured]
    assert all((v.voucher_type, v.discount_value) == ("comp", 0) for v in configured)
    assert all((list(v.ticket_type_ids), list(v.addon_ids)) == (["general"], []) for v in configured)


def test_codes_use_only_the_unambiguous_alphabet_and_are_unique_across_purchases(demo):
    comp_fulfilled(quantity=40)
    comp_fulfilled(quantity=40)
    codes = [v.code for v in stored_vouchers()]
    assert len(codes) == len(set(codes)) == 80
    assert not set("0O1IL") & set(ALPHABET)
    for code in codes:
        random_part = code.removeprefix("BULK-ACME-").replace("-", "")
        assert len(random_part) == 14 and set(random_part) <= set(ALPHABET), code
    assert len({c.removeprefix("BULK-ACME-")[:4] for c in codes}) == 2  # one segment per purchase


# --- expiry sweep ------------------------------------------------------------------------------------------


def move_expiry_into_the_past(pid: str) -> None:
    stored(pid).update(
        actions=[purchase_records.BulkPurchase.checkout_expires_at.set(store.now() - timedelta(minutes=1))],
        add_version_condition=False,
    )


def test_the_sweep_fails_a_processing_purchase_whose_session_expired(demo, emulator):
    purchase, session_id = bf.checked_out(emulator)
    untouched, _ = bf.checked_out(emulator)  # its session is still open by the store's clock
    emulator.advance_clock(61 * 60)
    assert stripe_client(emulator).v1.checkout.sessions.retrieve(session_id).status == "expired"
    move_expiry_into_the_past(purchase["id"])
    assert bulk_purchases.sweep_expired("demo") == 1
    assert state(purchase["id"])["status"] == "failed"
    assert state(untouched["id"])["status"] == "processing"
    assert stored_vouchers() == []


def test_the_sweep_expires_a_session_still_open_at_stripe_and_fails_the_purchase(demo, emulator):
    purchase, session_id = bf.checked_out(emulator)
    move_expiry_into_the_past(purchase["id"])
    assert bulk_purchases.sweep_expired("demo") == 1
    assert stripe_client(emulator).v1.checkout.sessions.retrieve(session_id).status == "expired"
    assert state(purchase["id"])["status"] == "failed"


def test_the_sweep_fulfils_a_paid_session_whose_webhook_never_came(demo, emulator):
    tap = BusTap(("boxoffice",))
    purchase, session_id = bf.checked_out(emulator)
    emulator.pay(session_id, "succeed")
    move_expiry_into_the_past(purchase["id"])
    assert bulk_purchases.sweep_expired("demo") == 1
    record = state(purchase["id"])
    assert (record["status"], record["vouchers_generated"]) == ("paid", 10)
    assert record["payment_intent_id"] and record["payment_intent_id"].startswith("pi_")
    assert len(stored_vouchers()) == 10
    assert [e["bulk_purchase_id"] for e in domain_events(tap, "bulk_purchase.fulfilled")] == [purchase["id"]]
