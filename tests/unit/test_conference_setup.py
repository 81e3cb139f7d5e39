"""Conference setup routes: who may write what, what is stored, and what the catalog shows."""

import json

import boto3
import pytest

from tests.support.http import ADMIN, ATTENDEE, DEMO_CONFERENCE, OTHER_STAFF, SPONSOR, STAFF, call


def raw_items() -> list[dict]:
    table = boto3.resource("dynamodb").Table("boxoffice-test")
    return table.scan()["Items"]


def test_put_conference_creates_then_updates(api):
    first = call(api, "PUT", "/v1/conferences/demo", body=DEMO_CONFERENCE, claims=ADMIN)
    assert first.status == 201
    assert first.json["stripe"] == {"configured": True}
    assert first.json["checkout_expiry_minutes"] == 60
    assert first.json["max_bulk_quantity"] == 500

    second = call(
        api,
        "PUT",
        "/v1/conferences/demo",
        body={"name": "Renamed", "currency": "usd", "is_active": True, "max_bulk_quantity": 2000},
        claims=ADMIN,
    )
    assert second.status == 200
    assert second.json["name"] == "Renamed"
    assert second.json["max_bulk_quantity"] == 2000
    assert second.json["stripe"] == {"configured": True}, "omitting stripe keeps the stored keys"
    assert second.json["created_at"] == first.json["created_at"]
    assert second.json["updated_at"] > first.json["updated_at"]


def test_stripe_keys_go_to_secrets_manager_and_never_to_the_table_or_response(api):
    reply = call(api, "PUT", "/v1/conferences/demo", body=DEMO_CONFERENCE, claims=ADMIN)
    assert "sk_test_" not in reply.text and "whsec_" not in reply.text
    dumped = json.dumps(raw_items(), default=str)
    assert "sk_test_" not in dumped and "whsec_" not in dumped
    (conference,) = [i for i in raw_items() if i["SK"] == "CONFERENCE"]
    secret = boto3.client("secretsmanager").get_secret_value(SecretId=conference["stripe_secret_name"])
    assert json.loads(secret["SecretString"]) == DEMO_CONFERENCE["stripe"]
    assert conference["stripe_secret_name"].startswith("boxoffice/test/")


def test_new_stripe_keys_replace_the_secret(api):
    call(api, "PUT", "/v1/conferences/demo", body=DEMO_CONFERENCE, claims=ADMIN)
    rotated = {
        **DEMO_CONFERENCE,
        "stripe": {"secret_key": "sk_test_rotated12345", "webhook_secret": "whsec_rotated12345"},
    }
    assert call(api, "PUT", "/v1/conferences/demo", body=rotated, claims=ADMIN).status == 200
    from boxoffice import secrets

    keys = secrets.get_stripe_keys(secrets.secret_name_for("demo"))
    assert keys.secret_key == "sk_test_rotated12345"
    assert "rotated" not in repr(keys)


def test_currency_cannot_change_once_set(api):
    call(api, "PUT", "/v1/conferences/demo", body=DEMO_CONFERENCE, claims=ADMIN)
    reply = call(
        api, "PUT", "/v1/conferences/demo", body={**DEMO_CONFERENCE, "currency": "eur"}, claims=ADMIN
    )
    assert reply.status == 409
    assert reply.json["error"]["code"] == "invalid_state"


@pytest.mark.parametrize("claims", [STAFF, SPONSOR, ATTENDEE])
def test_only_admins_put_conferences(api, claims):
    reply = call(api, "PUT", "/v1/conferences/demo", body=DEMO_CONFERENCE, claims=claims)
    assert reply.status == 403
    assert reply.json["error"]["code"] == "forbidden"
    assert raw_items() == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("currency", "xyz"),
        ("currency", "USD"),
        ("checkout_expiry_minutes", 29),
        ("checkout_expiry_minutes", 1441),
        ("max_bulk_quantity", 10_001),
        ("max_bulk_quantity", 0),
        ("is_active", "yes"),
        ("name", ""),
        ("stripe", {"secret_key": "pk_test_publishable123", "webhook_secret": "whsec_abcdefgh"}),
        ("stripe", {"secret_key": "sk_test_abcdefgh1234"}),
    ],
)
def test_invalid_conference_settings_are_refused_and_store_nothing(api, field, value):
    reply = call(api, "PUT", "/v1/conferences/demo", body={**DEMO_CONFERENCE, field: value}, claims=ADMIN)
    assert reply.status == 422, reply.text
    assert reply.json["error"]["code"] == "validation_error"
    assert reply.json["error"]["details"][0]["loc"][:2] == ["body", field]
    assert raw_items() == []
    assert "sk_test_" not in reply.text


def test_validation_errors_never_echo_the_rejected_secret(api):
    bad = {**DEMO_CONFERENCE, "stripe": {"secret_key": "sk_live_tooShort!", "webhook_secret": "whsec_x"}}
    reply = call(api, "PUT", "/v1/conferences/demo", body=bad, claims=ADMIN)
    assert reply.status == 422
    assert "tooShort" not in reply.text and "whsec_x" not in reply.text


def test_staff_put_catalog_entries_for_their_conference_only(api, demo):
    other = call(
        api, "PUT", "/v1/conferences/demo/ticket-types/x", body={"name": "X", "price": 1}, claims=OTHER_STAFF
    )
    assert other.status == 403
    attendee = call(
        api, "PUT", "/v1/conferences/demo/addons/x", body={"name": "X", "price": 1}, claims=ATTENDEE
    )
    assert attendee.status == 403
    update = call(
        api,
        "PUT",
        "/v1/conferences/demo/ticket-types/general",
        body={"name": "GA", "price": 30000},
        claims=STAFF,
    )
    assert update.status == 200
    assert update.json == {
        "id": "general",
        "name": "GA",
        "price": 30000,
        "bulk_enabled": False,
        "requires_voucher": False,
        "capacity": None,
        "available": None,
        "sold_out": False,
    }


def test_catalog_entries_of_an_unknown_conference_are_404(api, demo):
    reply = call(
        api, "PUT", "/v1/conferences/nowhere/ticket-types/x", body={"name": "X", "price": 1}, claims=ADMIN
    )
    assert reply.status == 404
    assert reply.json["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("ticket-types/t", {"name": "T", "price": -1}),
        ("ticket-types/t", {"name": "T", "price": 1.5}),
        ("ticket-types/t", {"name": "T", "price": "100"}),
        ("ticket-types/t", {"name": "T", "price": 100_000_000}),
        ("ticket-types/T_UPPER", {"name": "T", "price": 1}),
        ("addons/a", {"name": "A", "price": 1, "requires_voucher": True}),
        ("sponsors/s", {"name": "S", "slug": "Has Spaces", "contact_email": "a@b.example"}),
        ("sponsors/s", {"name": "S", "slug": "a-slug-longer-than-14", "contact_email": "a@b.example"}),
        ("sponsors/s", {"name": "S", "slug": "ok", "contact_email": "not-an-email"}),
    ],
)
def test_invalid_catalog_entries_are_422(api, demo, path, body):
    before = raw_items()
    reply = call(api, "PUT", f"/v1/conferences/demo/{path}", body=body, claims=STAFF)
    assert reply.status == 422, reply.text
    assert raw_items() == before


def test_catalog_hides_voucher_only_tickets_from_attendees(api, demo):
    attendee = call(api, "GET", "/v1/conferences/demo/catalog", claims=ATTENDEE)
    assert attendee.status == 200
    assert [t["id"] for t in attendee.json["ticket_types"]] == ["general"]
    assert [a["id"] for a in attendee.json["addons"]] == ["workshop"]
    assert attendee.json["currency"] == "usd"
    assert "sponsors" not in attendee.json

    staff = call(api, "GET", "/v1/conferences/demo/catalog", claims=STAFF)
    assert sorted(t["id"] for t in staff.json["ticket_types"]) == ["general", "speaker"]


def test_catalog_needs_a_signed_in_user(api, demo):
    reply = call(api, "GET", "/v1/conferences/demo/catalog")
    assert reply.status == 401
    assert reply.json["error"]["code"] == "unauthenticated"


def test_inactive_conference_is_not_found_except_for_staff(api, demo):
    call(api, "PUT", "/v1/conferences/demo", body={**DEMO_CONFERENCE, "is_active": False}, claims=ADMIN)
    assert call(api, "GET", "/v1/conferences/demo/catalog", claims=ATTENDEE).status == 404
    assert call(api, "GET", "/v1/conferences/demo/catalog", claims=STAFF).status == 200


def test_active_conferences_are_listed_for_the_expiry_job(api, demo):
    from boxoffice import store

    call(api, "PUT", "/v1/conferences/other", body={**DEMO_CONFERENCE, "is_active": False}, claims=ADMIN)
    assert store.list_active_conference_ids() == ["demo"]
    call(api, "PUT", "/v1/conferences/demo", body={**DEMO_CONFERENCE, "is_active": False}, claims=ADMIN)
    assert store.list_active_conference_ids() == []
