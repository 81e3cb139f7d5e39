"""Bulk purchase and voucher routes: who may call what, lists, CSV, bad input and Idempotency-Key."""

import csv
import io

from tests.support import bulk_fixtures as bf
from tests.support.bulk_fixtures import (
    BASE,
    ZETA,
    approve,
    checkout,
    comp_body,
    comp_fulfilled,
    create,
    create_ok,
    fulfill,
    get,
    staff_body,
    state,
    stored_vouchers,
    vouchers,
)
from tests.support.conferences import other_conference
from tests.support.functions import api_fn, checkout_fn
from tests.support.http import ADMIN, ATTENDEE, OTHER_STAFF, SPONSOR, STAFF, Reply, assert_error, call
from tests.support.stripe import stripe_client


def voucher(code: str, claims: dict, cid: str = "demo") -> Reply:
    return call(api_fn(), "GET", f"/v1/conferences/{cid}/vouchers/{code}", claims=claims)


def add_zeta() -> None:
    bf.put_catalog("sponsors/zeta", {"name": "Zeta", "slug": "zeta", "contact_email": "ops@zeta.example"})


def ids(reply: Reply) -> list[str]:
    assert reply.status == 200, reply.text
    return [p["id"] for p in reply.json["items"]]


# --- authorization -------------------------------------------------------------------------------------


def test_a_sponsor_sees_only_its_own_purchases_and_codes(demo, api):
    add_zeta()
    acme = comp_fulfilled(quantity=2)
    zeta = comp_fulfilled(quantity=2, sponsor_id="zeta")
    nobody = comp_fulfilled(quantity=1, sponsor_id=None)
    acme_code = next(v.code for v in stored_vouchers() if v.bulk_purchase_id == acme["id"])
    zeta_code = next(v.code for v in stored_vouchers() if v.bulk_purchase_id == zeta["id"])

    assert sorted(ids(call(api, "GET", BASE, claims=STAFF))) == sorted([acme["id"], zeta["id"], nobody["id"]])
    assert ids(call(api, "GET", BASE, claims=SPONSOR)) == [acme["id"]]
    assert ids(call(api, "GET", BASE, claims=ZETA)) == [zeta["id"]]
    assert ids(call(api, "GET", BASE, claims=SPONSOR, query="sponsor_id=zeta")) == []

    assert get(acme["id"], SPONSOR).status == 200
    assert vouchers(acme["id"], SPONSOR).status == 200
    assert vouchers(acme["id"], SPONSOR, "format=csv").status == 200
    assert voucher(acme_code, SPONSOR).json["code"] == acme_code
    for reply in (
        get(acme["id"], ZETA),
        vouchers(acme["id"], ZETA),
        vouchers(acme["id"], ZETA, "format=csv"),
        voucher(acme_code, ZETA),
        get(zeta["id"], SPONSOR),
        voucher(zeta_code, SPONSOR),
        get(nobody["id"], SPONSOR),
        vouchers(nobody["id"], SPONSOR),
    ):
        assert_error(reply, 404, "not_found")


def test_only_staff_approve_and_fulfil(demo):
    purchase = create_ok(comp_body())
    assert_error(approve(purchase["id"], SPONSOR), 403, "forbidden")
    assert state(purchase["id"])["status"] == "pending"
    assert approve(purchase["id"]).status == 200
    assert_error(fulfill(purchase["id"], SPONSOR), 403, "forbidden")
    assert state(purchase["id"])["status"] == "approved"
    assert stored_vouchers() == []


def test_a_sponsor_creates_its_own_purchase_at_the_catalog_price_and_checks_it_out(demo, emulator):
    reply = create({"addon_id": "workshop", "quantity": 4}, SPONSOR)
    assert reply.status == 201, reply.text
    purchase = reply.json
    assert (purchase["sponsor_id"], purchase["unit_price"], purchase["total_amount"]) == ("acme", 5000, 20000)
    config = purchase["voucher_config"]
    assert (config["voucher_type"], config["max_uses"]) == ("comp", 1)
    assert (purchase["requested_by"], purchase["addon_id"], purchase["ticket_type_id"]) == (
        "user-sponsor",
        "workshop",
        None,
    )
    started = checkout(purchase["id"], SPONSOR)
    assert started.status == 200, started.text
    add_zeta()
    assert_error(checkout(purchase["id"], ZETA), 404, "not_found")


def test_an_attendee_gets_403_on_every_bulk_route(demo):
    purchase = comp_fulfilled(quantity=1)
    code = stored_vouchers()[0].code
    pid = purchase["id"]
    for claims in (ATTENDEE, OTHER_STAFF):
        replies = {
            "list": call(api_fn(), "GET", BASE, claims=claims),
            "get": get(pid, claims),
            "create": create(staff_body(), claims),
            "approve": approve(pid, claims),
            "checkout": checkout(pid, claims),
            "fulfill": fulfill(pid, claims),
            "vouchers": vouchers(pid, claims),
            "csv": vouchers(pid, claims, "format=csv"),
            "voucher": voucher(code, claims),
        }
        for name, reply in replies.items():
            assert reply.status == 403, (claims["sub"], name, reply.text)
            assert reply.json["error"]["code"] == "forbidden"
    assert len(bf.purchase_ids()) == 1


def test_a_purchase_of_another_conference_is_not_found_here(demo, emulator):
    other_conference()
    theirs = create_ok(comp_body(sponsor_id="globex", ticket_type_id="vip"), OTHER_STAFF, cid="other")
    pid = theirs["id"]
    assert approve(pid, OTHER_STAFF, cid="other").status == 200
    for reply in (
        get(pid, ADMIN),
        vouchers(pid, ADMIN),
        vouchers(pid, ADMIN, "format=csv"),
        approve(pid, ADMIN),
        checkout(pid, ADMIN),
        fulfill(pid, ADMIN),
    ):
        assert_error(reply, 404, "not_found")
    assert state(pid, "other")["status"] == "approved"
    assert_error(get(pid, STAFF, cid="other"), 403, "forbidden")
    assert fulfill(pid, OTHER_STAFF, cid="other").status == 200
    code = stored_vouchers("other")[0].code
    assert_error(voucher(code, ADMIN), 404, "not_found")
    assert voucher(code, ADMIN, cid="other").status == 200


# --- voucher lists -------------------------------------------------------------------------------------------


def test_voucher_json_pages_with_limit_and_cursor_sorted_by_code(demo):
    purchase = comp_fulfilled(quantity=7)
    seen: list[str] = []
    sizes: list[int] = []
    cursor = None
    while True:
        query = "limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = vouchers(purchase["id"], query=query)
        assert page.status == 200, page.text
        sizes.append(len(page.json["items"]))
        seen += [v["code"] for v in page.json["items"]]
        cursor = page.json["next"]
        if cursor is None:
            break
    assert sizes == [3, 3, 1]
    assert seen == sorted(v.code for v in stored_vouchers())
    first = vouchers(purchase["id"]).json["items"][0]
    assert set(first) == {
        "code", "voucher_type", "discount_value", "max_uses", "times_used", "valid_from", "valid_until",
        "unlocks_hidden_tickets", "is_active", "ticket_type_ids", "addon_ids", "bulk_purchase_id",
    }  # fmt: skip
    assert first["bulk_purchase_id"] == purchase["id"]
    assert_error(vouchers(purchase["id"], query="limit=0"), 422, "validation_error")
    assert_error(vouchers(purchase["id"], query="limit=201"), 422, "validation_error")


def test_voucher_csv_has_the_header_and_rows_sorted_by_code(demo):
    config = {
        "voucher_type": "comp",
        "max_uses": 2,
        "valid_from": "2027-01-01T00:00:00Z",
        "valid_until": "2027-01-31T00:00:00Z",
    }
    purchase = comp_fulfilled(quantity=5, voucher_config=config)
    codes = sorted(v.code for v in stored_vouchers())
    bf.redeem("demo", codes[2])
    reply = vouchers(purchase["id"], query="format=csv")
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/csv")
    lines = reply.text.splitlines()
    assert lines[0] == "code,times_used,max_uses,is_active,valid_from,valid_until"
    rows = list(csv.DictReader(io.StringIO(reply.text)))
    assert [r["code"] for r in rows] == codes
    assert [r["times_used"] for r in rows] == ["0", "0", "1", "0", "0"]
    assert {(r["max_uses"], r["is_active"]) for r in rows} == {("2", "true")}
    assert all(r["valid_from"].startswith("2027-01-01T00:00:00") for r in rows)
    assert all(r["valid_until"].startswith("2027-01-31T00:00:00") for r in rows)


def test_a_voucher_is_found_by_its_code_in_any_case_with_surrounding_spaces(demo):
    comp_fulfilled(quantity=1)
    code = stored_vouchers()[0].code
    for typed in (code.lower(), f" {code.lower()}  "):  # HTTP APIs hand the path over percent-decoded
        reply = voucher(typed, STAFF)
        assert reply.status == 200, (typed, reply.text)
        assert reply.json["code"] == code
    assert_error(voucher("BULK-ACME-NOPE-NOPENOPENO", STAFF), 404, "not_found")


def test_a_voucher_is_found_by_its_code_with_url_encoded_surrounding_spaces(demo):
    comp_fulfilled(quantity=1)
    code = stored_vouchers()[0].code
    reply = voucher(f"%20{code.lower()}%20%20", STAFF)  # as the local server and this lane deliver it
    assert reply.status == 200, reply.text
    assert reply.json["code"] == code


# --- bad input --------------------------------------------------------------------------------------------------


def test_bad_create_input_is_refused_with_the_right_status(demo):
    malformed = call(checkout_fn(), "POST", BASE, raw_body='{"quantity": 1,', claims=STAFF)
    assert_error(malformed, 400, "bad_request")
    cases = {
        "unknown field": staff_body(colour="blue"),
        "unknown config field": staff_body(
            voucher_config={"voucher_type": "comp", "max_uses": 1, "extra": 1}
        ),
        "quantity as string": staff_body(quantity="5"),
        "price as float": staff_body(unit_price=100.5),
        "config as string": staff_body(voucher_config="comp"),
        "flag as string": staff_body(
            voucher_config={"voucher_type": "comp", "max_uses": 1, "unlocks_hidden_tickets": "yes"}
        ),
    }
    for name, body in cases.items():
        reply = create(body)
        assert reply.status == 422, (name, reply.text)
        assert reply.json["error"]["code"] == "validation_error" and reply.json["error"]["details"], name
    for body in (
        {"ticket_type_id": "general", "quantity": 2, "unit_price": 1},
        {
            "ticket_type_id": "general",
            "quantity": 2,
            "voucher_config": {"voucher_type": "comp", "max_uses": 1},
        },
        {"ticket_type_id": "general", "addon_id": "workshop", "quantity": 2},
    ):
        assert_error(create(body, SPONSOR), 422, "validation_error")
    assert bf.bulk_items() == []


def test_a_bad_purchase_id_format_is_422(demo):
    for bad in ("bp_XYZ", "123", "bp_0123456789abcdeF", "bp_0123456789abcdef0"):
        assert_error(get(bad), 422, "validation_error")
        assert_error(vouchers(bad), 422, "validation_error")
        assert_error(approve(bad), 422, "validation_error")
        assert_error(fulfill(bad), 422, "validation_error")
    assert_error(get("bp_0123456789abcdef"), 404, "not_found")


def test_bad_checkout_input_is_refused(demo, emulator):
    purchase = create_ok(staff_body())
    path = f"{BASE}/{purchase['id']}/checkout"
    assert_error(call(checkout_fn(), "POST", path, raw_body="{", claims=STAFF), 400, "bad_request")
    for body in (
        {"success_url": "ftp://x", "cancel_url": "https://x.example"},
        {"success_url": "https://x.example"},
    ):
        assert_error(call(checkout_fn(), "POST", path, body=body, claims=STAFF), 422, "validation_error")
    assert state(purchase["id"])["status"] == "pending"
    assert stripe_client(emulator).v1.checkout.sessions.list().data == []


# --- Idempotency-Key -------------------------------------------------------------------------------------------------


def test_create_with_an_idempotency_key_replays_the_same_purchase_and_refuses_another_body(demo):
    key = {"Idempotency-Key": "create-acme-1"}
    first = create(staff_body(), headers=key)
    again = create(staff_body(), headers=key)
    assert first.status == again.status == 201
    assert again.json["id"] == first.json["id"]
    assert len(bf.purchase_ids()) == 1
    other = create(staff_body(quantity=11), headers=key)
    assert_error(other, 409, "idempotency_conflict")
    assert len(bf.purchase_ids()) == 1
    fresh = create(staff_body(), headers={"Idempotency-Key": "create-acme-2"})
    assert fresh.status == 201 and fresh.json["id"] != first.json["id"]
