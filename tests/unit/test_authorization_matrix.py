"""Who may call what: every route of the OpenAPI document by ten callers, against docs/api.md "Routes".

The routes come from the document itself, so a new route without a row in ``EXPECTED`` fails
here. Each request goes through the gateway's token check (``tests.support.gateway``) and the
route's real function, on records owned by the attendee and by sponsor ``acme`` of ``demo``.
Routes that change state get a fresh record per caller, so every allowed caller sees 2xx.
"""

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from boxoffice.api.openapi import openapi_document
from local import tokens
from tests.support import bulk_fixtures as bulk
from tests.support import order_fixtures as orders
from tests.support import refund_fixtures as refunds
from tests.support.conferences import other_conference
from tests.support.gateway import mint_expired, mint_for_audience, through_gateway
from tests.support.http import ATTENDEE_URLS, DEMO_CONFERENCE, SPONSOR_URLS
from tests.support.pipeline import admit
from tests.support.stripe import stripe_event

# --- callers ------------------------------------------------------------------------------------------------------

GROUPS: dict[str, tuple[str, list[str]]] = {
    "attendee": ("user-attendee", []),
    "other_attendee": ("user-attendee-2", []),
    "sponsor": ("user-sponsor", ["sponsor:demo:acme"]),
    "other_conf_sponsor": ("user-sponsor-other", ["sponsor:other:acme"]),
    "other_conf_staff": ("user-staff-other", ["staff:other"]),
    "staff": ("user-staff", ["staff:demo"]),
    "admin": ("user-admin", ["admin"]),
}
CALLERS = ("no_token", "expired", "wrong_audience", *GROUPS)


def token_of(caller: str) -> str | None:
    if caller == "no_token":
        return None
    if caller == "expired":
        return mint_expired()
    if caller == "wrong_audience":
        return mint_for_audience("another-app")
    sub, groups = GROUPS[caller]
    return tokens.mint(sub, email=f"{sub}@example.com", groups=groups)


def claims_of(caller: str) -> dict[str, Any]:
    sub, groups = GROUPS[caller]
    return {"sub": sub, "cognito:groups": groups}


# --- expected outcomes (docs/api.md "Routes") -------------------------------------------------------------------

OK = "2xx"
NO_TOKEN = {"no_token": 401, "expired": 401, "wrong_audience": 401}


def everyone(outcome: int | str) -> dict[str, int | str]:
    """A public route: the gateway checks no token, so every caller gets the same answer."""
    return dict.fromkeys(CALLERS, outcome)


def only(allowed: tuple[str, ...], denied: int = 403, **others: int | str) -> dict[str, int | str]:
    """Signed-in callers in ``allowed`` get 2xx, the rest ``denied`` (or what ``others`` says)."""
    table: dict[str, int | str] = dict(NO_TOKEN)
    for caller in GROUPS:
        table[caller] = OK if caller in allowed else denied
    table.update(others)
    return table


SIGNED_IN = tuple(GROUPS)
STAFF = ("staff", "admin")
STAFF_OR_SPONSOR = ("staff", "admin", "sponsor")
OWNER_OR_STAFF = ("attendee", "staff", "admin")

EXPECTED: dict[str, dict[str, int | str]] = {
    "GET /v1/health": everyone(OK),
    "GET /v1/openapi.json": everyone(OK),
    "POST /v1/webhooks/stripe/{cid}": everyone(400),  # no Stripe-Signature: bad_request whoever calls
    "PUT /v1/conferences/{cid}": only(("admin",)),
    "PUT /v1/conferences/{cid}/ticket-types/{entry_id}": only(STAFF),
    "PUT /v1/conferences/{cid}/addons/{entry_id}": only(STAFF),
    "PUT /v1/conferences/{cid}/sponsors/{entry_id}": only(STAFF),
    "GET /v1/conferences/{cid}/catalog": only(SIGNED_IN),
    "GET /v1/conferences/{cid}/audit": only(STAFF),
    "GET /v1/conferences/{cid}/stripe-events": only(STAFF),
    "POST /v1/conferences/{cid}/stripe-events/{event_id}/replay": only(STAFF),
    "GET /v1/conferences/{cid}/bulk-purchases": only(STAFF_OR_SPONSOR),
    "POST /v1/conferences/{cid}/bulk-purchases": only(STAFF_OR_SPONSOR),
    "GET /v1/conferences/{cid}/bulk-purchases/{purchase_id}": only(STAFF_OR_SPONSOR),
    "POST /v1/conferences/{cid}/bulk-purchases/{purchase_id}/approve": only(STAFF),
    "POST /v1/conferences/{cid}/bulk-purchases/{purchase_id}/checkout": only(STAFF_OR_SPONSOR),
    "POST /v1/conferences/{cid}/bulk-purchases/{purchase_id}/fulfill": only(STAFF),
    "POST /v1/conferences/{cid}/bulk-purchases/{purchase_id}/refund": only(STAFF),
    "GET /v1/conferences/{cid}/bulk-purchases/{purchase_id}/vouchers": only(STAFF_OR_SPONSOR),
    "GET /v1/conferences/{cid}/vouchers/{code}": only(STAFF_OR_SPONSOR),
    "GET /v1/conferences/{cid}/vouchers/{code}/check": only(SIGNED_IN),
    "POST /v1/conferences/{cid}/orders": only(SIGNED_IN),
    "GET /v1/conferences/{cid}/orders": only(SIGNED_IN),  # staff all; others their own
    # Another user's order is not_found, never forbidden: its existence is not told.
    "GET /v1/conferences/{cid}/orders/{order_id}": only(OWNER_OR_STAFF, denied=404),
    "POST /v1/conferences/{cid}/orders/{order_id}/checkout": only(("attendee",), denied=404),
    "POST /v1/conferences/{cid}/orders/{order_id}/cancel": only(OWNER_OR_STAFF, denied=404),
    "GET /v1/conferences/{cid}/orders/{order_id}/refunds": only(OWNER_OR_STAFF, denied=404),
    "POST /v1/conferences/{cid}/orders/{order_id}/refunds": only(STAFF),
    "GET /v1/conferences/{cid}/credits": only(SIGNED_IN),  # staff all; others their own
    "POST /v1/conferences/{cid}/credits/{credit_id}/apply": only(OWNER_OR_STAFF, denied=404),
}


# --- the records each route is called on ------------------------------------------------------------------------


@dataclass
class Request:
    path: str
    body: Any = None
    raw_body: str | None = None


@dataclass
class World:
    """Records of ``demo`` the matrix calls routes on; ``fresh`` builds one per caller when asked."""

    emulator: Any
    made: dict[str, Any] = field(default_factory=dict)

    allowed: bool = False
    """Whether the current caller may call the route: then routes that change state get a fresh record."""

    def once(self, name: str, make: Callable[[], Any]) -> Any:
        if name not in self.made:
            self.made[name] = make()
        return self.made[name]

    def fresh(self, name: str, make: Callable[[], Any]) -> Any:
        """A new record for a caller who will change it; refused callers share one (they change nothing)."""
        return make() if self.allowed else self.once(name, make)


D = "/v1/conferences/demo"
STAFF_CLAIMS = claims_of("staff")
ATTENDEE_CLAIMS = claims_of("attendee")


def failed_event(world: World, caller: str) -> str:
    """A Stripe event recorded and parked as failed (its processor raised three times)."""
    from datetime import timedelta

    from boxoffice.stripe_events import Registry, handle_bus_event

    event = stripe_event(f"evt_matrix{caller.replace('_', '')}")
    envelope = admit(event)
    registry = Registry()

    @registry.on("checkout.session.completed")
    def _broken(conference_id: str, event: dict[str, Any]) -> None:
        raise RuntimeError("downstream is down")

    for _ in range(3):
        with contextlib.suppress(RuntimeError):  # Lambda's first try and two retries
            handle_bus_event(envelope, registry, timedelta(seconds=30))
    return event["id"]


def paid_purchase(world: World) -> str:
    purchase, _ = bulk.paid(world.emulator)
    return purchase["id"]


def approved_comp() -> str:
    pid = bulk.create_ok(bulk.comp_body(quantity=2))["id"]
    assert bulk.approve(pid).status == 200
    return pid


def fulfilled_codes(world: World) -> tuple[str, str]:
    purchase = bulk.comp_fulfilled(quantity=2)
    (code, *_) = sorted(v.code for v in bulk.stored_vouchers() if v.bulk_purchase_id == purchase["id"])
    return purchase["id"], code


def request_for(key: str, world: World, caller: str) -> Request:
    """The request ``caller`` sends to the route ``key`` (fresh records for routes that change state)."""
    match key:
        case "GET /v1/health":
            return Request("/v1/health")
        case "GET /v1/openapi.json":
            return Request("/v1/openapi.json")
        case "POST /v1/webhooks/stripe/{cid}":
            return Request("/v1/webhooks/stripe/demo", raw_body=json.dumps(stripe_event("evt_unsigned")))
        case "PUT /v1/conferences/{cid}":
            return Request(D, DEMO_CONFERENCE)
        case "PUT /v1/conferences/{cid}/ticket-types/{entry_id}":
            return Request(
                f"{D}/ticket-types/general", {"name": "General", "price": 25000, "bulk_enabled": True}
            )
        case "PUT /v1/conferences/{cid}/addons/{entry_id}":
            return Request(f"{D}/addons/workshop", {"name": "Workshop", "price": 5000, "bulk_enabled": True})
        case "PUT /v1/conferences/{cid}/sponsors/{entry_id}":
            body = {"name": "ACME", "slug": "acme", "contact_email": "ops@acme.example"}
            return Request(f"{D}/sponsors/acme", body)
        case "GET /v1/conferences/{cid}/catalog":
            return Request(f"{D}/catalog")
        case "GET /v1/conferences/{cid}/audit":
            return Request(f"{D}/audit")
        case "GET /v1/conferences/{cid}/stripe-events":
            return Request(f"{D}/stripe-events")
        case "POST /v1/conferences/{cid}/stripe-events/{event_id}/replay":
            return Request(
                f"{D}/stripe-events/{world.fresh('event', lambda: failed_event(world, caller))}/replay"
            )
        case "GET /v1/conferences/{cid}/bulk-purchases":
            return Request(f"{D}/bulk-purchases")
        case "POST /v1/conferences/{cid}/bulk-purchases":
            sponsor_body = {"ticket_type_id": "general", "quantity": 2}
            return Request(
                f"{D}/bulk-purchases", sponsor_body if caller == "sponsor" else bulk.comp_body(quantity=2)
            )
        case "GET /v1/conferences/{cid}/bulk-purchases/{purchase_id}":
            pid = world.once("purchase", lambda: bulk.create_ok(bulk.comp_body(quantity=2))["id"])
            return Request(f"{D}/bulk-purchases/{pid}")
        case "POST /v1/conferences/{cid}/bulk-purchases/{purchase_id}/approve":
            pid = world.fresh("comp", lambda: bulk.create_ok(bulk.comp_body(quantity=2))["id"])
            return Request(f"{D}/bulk-purchases/{pid}/approve")
        case "POST /v1/conferences/{cid}/bulk-purchases/{purchase_id}/checkout":
            pid = world.fresh("priced", lambda: bulk.create_ok(bulk.staff_body(quantity=2))["id"])
            return Request(f"{D}/bulk-purchases/{pid}/checkout", SPONSOR_URLS)
        case "POST /v1/conferences/{cid}/bulk-purchases/{purchase_id}/fulfill":
            pid = world.fresh("approved", lambda: approved_comp())
            return Request(f"{D}/bulk-purchases/{pid}/fulfill")
        case "POST /v1/conferences/{cid}/bulk-purchases/{purchase_id}/refund":
            pid = world.once("paid purchase", lambda: paid_purchase(world))
            return Request(
                f"{D}/bulk-purchases/{pid}/refund", {"amount": 1000, "reason": "requested_by_customer"}
            )
        case "GET /v1/conferences/{cid}/bulk-purchases/{purchase_id}/vouchers":
            pid, _ = world.once("codes", lambda: fulfilled_codes(world))
            return Request(f"{D}/bulk-purchases/{pid}/vouchers")
        case "GET /v1/conferences/{cid}/vouchers/{code}":
            _, code = world.once("codes", lambda: fulfilled_codes(world))
            return Request(f"{D}/vouchers/{code}")
        case "GET /v1/conferences/{cid}/vouchers/{code}/check":
            _, code = world.once("codes", lambda: fulfilled_codes(world))
            return Request(f"{D}/vouchers/{code}/check")
        case "POST /v1/conferences/{cid}/orders":
            return Request(f"{D}/orders", {"lines": [{"ticket_type_id": "general", "quantity": 1}]})
        case "GET /v1/conferences/{cid}/orders":
            return Request(f"{D}/orders")
        case "GET /v1/conferences/{cid}/orders/{order_id}":
            order_id = world.once("order", lambda: orders.create_ok()["id"])
            return Request(f"{D}/orders/{order_id}")
        case "POST /v1/conferences/{cid}/orders/{order_id}/checkout":
            return Request(
                f"{D}/orders/{world.fresh('order', orders.create_ok)['id']}/checkout", ATTENDEE_URLS
            )
        case "POST /v1/conferences/{cid}/orders/{order_id}/cancel":
            return Request(f"{D}/orders/{world.fresh('order', orders.create_ok)['id']}/cancel")
        case "GET /v1/conferences/{cid}/orders/{order_id}/refunds":
            order_id = world.once("order", lambda: orders.create_ok()["id"])
            return Request(f"{D}/orders/{order_id}/refunds")
        case "POST /v1/conferences/{cid}/orders/{order_id}/refunds":
            order_id = world.once("paid order", lambda: refunds.paid_order(world.emulator, total=20000)["id"])
            body = {"amount": 1000, "reason": "requested_by_customer", "destination": "store_credit"}
            return Request(f"{D}/orders/{order_id}/refunds", body)
        case "GET /v1/conferences/{cid}/credits":
            return Request(f"{D}/credits")
        case "POST /v1/conferences/{cid}/credits/{credit_id}/apply":
            credit_id = world.once("credit", lambda: refunds.make_credit(1_000_000).credit_id)
            order_id = world.fresh("pending", lambda: refunds.new_order(5000))["id"]
            return Request(f"{D}/credits/{credit_id}/apply", {"order_id": order_id})
    raise AssertionError(f"{key}: no request in the matrix; add one with its row in EXPECTED")


# --- the matrix -------------------------------------------------------------------------------------------------


def operations() -> list[str]:
    return sorted(
        f"{method.upper()} {path}" for path, ops in openapi_document()["paths"].items() for method in ops
    )


def test_every_route_of_the_document_has_a_row_and_every_row_a_route():
    assert sorted(EXPECTED) == operations()
    for key, row in EXPECTED.items():
        assert set(row) == set(CALLERS), key


@pytest.mark.parametrize("key", operations())
def test_each_caller_gets_what_api_md_gives(key, demo, emulator):
    assert key in EXPECTED, f"{key} has no row in the authorization matrix"
    other_conference()  # staff:other and sponsor:other:… hold roles in a real tenant
    world = World(emulator=emulator)
    method = key.split(" ", 1)[0]
    wrong: list[str] = []
    for caller in CALLERS:
        world.allowed = EXPECTED[key][caller] == OK
        request = request_for(key, world, caller)
        reply = through_gateway(
            method, request.path, token=token_of(caller), body=request.body, raw_body=request.raw_body
        )
        expected = EXPECTED[key][caller]
        got_ok = 200 <= reply.status < 300
        if (expected == OK and not got_ok) or (expected != OK and reply.status != expected):
            wrong.append(f"{caller}: expected {expected}, got {reply.status} {reply.text[:200]}")
        if not got_ok:
            assert reply.json["error"]["code"], reply.text  # every refusal in docs/api.md's error shape
    assert not wrong, f"{key}\n" + "\n".join(wrong)
