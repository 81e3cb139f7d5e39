"""The REST routes under `/v1`: which schema validates each one and which operation runs it.

Handlers run with the store lock held and return a private, rendered copy of the object, so
the HTTP layer can serialize it without racing other requests.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import checkout, disputes, endpoints, events, refunds
from .params import EXPAND, LIST_PARAMS, Obj, RangeFilter, String
from .store import CHARGE, DISPUTE, EVENT, PAYMENT_INTENT, REFUND, SESSION, WEBHOOK_ENDPOINT, Ctx, Store

type Handler = Callable[[Store, Ctx, dict[str, Any], str | None], dict[str, Any]]


@dataclass(frozen=True)
class Route:
    """One endpoint: HTTP method, path pattern, parameter schema and handler."""

    method: str
    pattern: re.Pattern[str]
    schema: Obj
    handler: Handler


def _expand(params: dict[str, Any]) -> list[str] | None:
    return params.get("expand")


# -- Checkout Sessions --------------------------------------------------------------------------


def _session_create(store: Store, ctx: Ctx, params: dict[str, Any], _: str | None) -> dict[str, Any]:
    return store.render(ctx.account, checkout.create(store, ctx, params), _expand(params))


def _session(store: Store, ctx: Ctx, session_id: str | None) -> dict[str, Any]:
    return store.get(ctx.account, SESSION, session_id or "", "session")


def _session_retrieve(store: Store, ctx: Ctx, params: dict[str, Any], sid: str | None) -> dict[str, Any]:
    return store.render(ctx.account, _session(store, ctx, sid), _expand(params))


def _session_update(store: Store, ctx: Ctx, params: dict[str, Any], sid: str | None) -> dict[str, Any]:
    session = checkout.update(store, ctx, _session(store, ctx, sid), params)
    return store.render(ctx.account, session, _expand(params))


def _session_expire(store: Store, ctx: Ctx, params: dict[str, Any], sid: str | None) -> dict[str, Any]:
    session = checkout.expire(store, ctx, _session(store, ctx, sid))
    return store.render(ctx.account, session, _expand(params))


def _session_list(store: Store, ctx: Ctx, params: dict[str, Any], _: str | None) -> dict[str, Any]:
    sessions = checkout.list_sessions(store, ctx, params)
    return store.paginate(ctx.account, sessions, params, "/v1/checkout/sessions", SESSION)


def _session_line_items(store: Store, ctx: Ctx, params: dict[str, Any], sid: str | None) -> dict[str, Any]:
    session = _session(store, ctx, sid)
    items = ctx.account.line_items.get(session["id"], [])
    return store.paginate(
        ctx.account, items, params, f"/v1/checkout/sessions/{session['id']}/line_items", "item"
    )


# -- PaymentIntents and Charges -------------------------------------------------------------------


def _intent_retrieve(store: Store, ctx: Ctx, params: dict[str, Any], pid: str | None) -> dict[str, Any]:
    intent = store.get(ctx.account, PAYMENT_INTENT, pid or "", "intent")
    return store.render(ctx.account, intent, _expand(params))


def _intent_list(store: Store, ctx: Ctx, params: dict[str, Any], _: str | None) -> dict[str, Any]:
    intents = store.created_filter(ctx.account.newest_first(PAYMENT_INTENT), params)
    return store.paginate(ctx.account, intents, params, "/v1/payment_intents", PAYMENT_INTENT)


def _charge_retrieve(store: Store, ctx: Ctx, params: dict[str, Any], cid: str | None) -> dict[str, Any]:
    charge = store.get(ctx.account, CHARGE, cid or "", "charge")
    return store.render(ctx.account, charge, _expand(params))


def _charge_list(store: Store, ctx: Ctx, params: dict[str, Any], _: str | None) -> dict[str, Any]:
    charges = store.created_filter(ctx.account.newest_first(CHARGE), params)
    if "payment_intent" in params:
        charges = [c for c in charges if c["payment_intent"] == params["payment_intent"]]
    return store.paginate(ctx.account, charges, params, "/v1/charges", CHARGE)


def _charge_refunds(store: Store, ctx: Ctx, params: dict[str, Any], cid: str | None) -> dict[str, Any]:
    charge = store.get(ctx.account, CHARGE, cid or "", "charge")
    items = [r for r in ctx.account.newest_first(REFUND) if r["charge"] == charge["id"]]
    return store.paginate(ctx.account, items, params, f"/v1/charges/{charge['id']}/refunds", REFUND)


# -- Refunds ------------------------------------------------------------------------------------


def _refund_create(store: Store, ctx: Ctx, params: dict[str, Any], _: str | None) -> dict[str, Any]:
    return store.render(ctx.account, refunds.create(store, ctx, params), _expand(params))


def _refund_retrieve(store: Store, ctx: Ctx, params: dict[str, Any], rid: str | None) -> dict[str, Any]:
    refund = store.get(ctx.account, REFUND, rid or "", "refund")
    return store.render(ctx.account, refund, _expand(params))


def _refund_update(store: Store, ctx: Ctx, params: dict[str, Any], rid: str | None) -> dict[str, Any]:
    refund = refunds.update(store, ctx, store.get(ctx.account, REFUND, rid or "", "refund"), params)
    return store.render(ctx.account, refund, _expand(params))


def _refund_list(store: Store, ctx: Ctx, params: dict[str, Any], _: str | None) -> dict[str, Any]:
    return store.paginate(
        ctx.account, refunds.list_refunds(store, ctx, params), params, "/v1/refunds", REFUND
    )


# -- Disputes -------------------------------------------------------------------------------------


def _dispute_retrieve(store: Store, ctx: Ctx, params: dict[str, Any], did: str | None) -> dict[str, Any]:
    dispute = store.get(ctx.account, DISPUTE, did or "", "dispute")
    return store.render(ctx.account, dispute, _expand(params))


def _dispute_list(store: Store, ctx: Ctx, params: dict[str, Any], _: str | None) -> dict[str, Any]:
    items = disputes.list_disputes(store, ctx, params)
    return store.paginate(ctx.account, items, params, "/v1/disputes", DISPUTE)


# -- Events and webhook endpoints -----------------------------------------------------------------


def _event_retrieve(store: Store, ctx: Ctx, params: dict[str, Any], eid: str | None) -> dict[str, Any]:
    return store.render(ctx.account, store.get(ctx.account, EVENT, eid or "", "id"), _expand(params))


def _event_list(store: Store, ctx: Ctx, params: dict[str, Any], _: str | None) -> dict[str, Any]:
    return store.paginate(ctx.account, events.list_events(store, ctx, params), params, "/v1/events", EVENT)


def _endpoint(store: Store, ctx: Ctx, wid: str | None) -> dict[str, Any]:
    return store.get(ctx.account, WEBHOOK_ENDPOINT, wid or "", "webhook_endpoint")


def _endpoint_create(store: Store, ctx: Ctx, params: dict[str, Any], _: str | None) -> dict[str, Any]:
    return store.render(ctx.account, endpoints.create(store, ctx, params), _expand(params))


def _endpoint_retrieve(store: Store, ctx: Ctx, params: dict[str, Any], wid: str | None) -> dict[str, Any]:
    return store.render(ctx.account, _endpoint(store, ctx, wid), _expand(params))


def _endpoint_update(store: Store, ctx: Ctx, params: dict[str, Any], wid: str | None) -> dict[str, Any]:
    endpoint = endpoints.update(store, ctx, _endpoint(store, ctx, wid), params)
    return store.render(ctx.account, endpoint, _expand(params))


def _endpoint_delete(store: Store, ctx: Ctx, params: dict[str, Any], wid: str | None) -> dict[str, Any]:
    return endpoints.delete(store, ctx, _endpoint(store, ctx, wid))


def _endpoint_list(store: Store, ctx: Ctx, params: dict[str, Any], _: str | None) -> dict[str, Any]:
    items = ctx.account.newest_first(WEBHOOK_ENDPOINT)
    return store.paginate(ctx.account, items, params, "/v1/webhook_endpoints", WEBHOOK_ENDPOINT)


_ID = r"(?P<id>[^/]+)"
_RETRIEVE = Obj({"expand": EXPAND})
_INTENT_LIST = Obj({**LIST_PARAMS, "created": RangeFilter(), "customer": String()})
_CHARGE_LIST = Obj(
    {**LIST_PARAMS, "created": RangeFilter(), "customer": String(), "payment_intent": String()}
)

_TABLE: list[tuple[str, str, Obj, Handler]] = [
    ("POST", "/v1/checkout/sessions", checkout.CREATE, _session_create),
    ("GET", "/v1/checkout/sessions", checkout.LIST, _session_list),
    ("GET", f"/v1/checkout/sessions/{_ID}", checkout.RETRIEVE, _session_retrieve),
    ("POST", f"/v1/checkout/sessions/{_ID}", checkout.UPDATE, _session_update),
    ("POST", f"/v1/checkout/sessions/{_ID}/expire", _RETRIEVE, _session_expire),
    ("GET", f"/v1/checkout/sessions/{_ID}/line_items", checkout.LINE_ITEMS, _session_line_items),
    ("GET", "/v1/payment_intents", _INTENT_LIST, _intent_list),
    ("GET", f"/v1/payment_intents/{_ID}", _RETRIEVE, _intent_retrieve),
    ("GET", "/v1/charges", _CHARGE_LIST, _charge_list),
    ("GET", f"/v1/charges/{_ID}", _RETRIEVE, _charge_retrieve),
    ("GET", f"/v1/charges/{_ID}/refunds", refunds.CHARGE_REFUNDS, _charge_refunds),
    ("POST", "/v1/refunds", refunds.CREATE, _refund_create),
    ("GET", "/v1/refunds", refunds.LIST, _refund_list),
    ("GET", f"/v1/refunds/{_ID}", refunds.RETRIEVE, _refund_retrieve),
    ("POST", f"/v1/refunds/{_ID}", refunds.UPDATE, _refund_update),
    ("GET", "/v1/disputes", disputes.LIST, _dispute_list),
    ("GET", f"/v1/disputes/{_ID}", disputes.RETRIEVE, _dispute_retrieve),
    ("GET", "/v1/events", events.LIST, _event_list),
    ("GET", f"/v1/events/{_ID}", events.RETRIEVE, _event_retrieve),
    ("POST", "/v1/webhook_endpoints", endpoints.CREATE, _endpoint_create),
    ("GET", "/v1/webhook_endpoints", endpoints.LIST, _endpoint_list),
    ("GET", f"/v1/webhook_endpoints/{_ID}", endpoints.RETRIEVE, _endpoint_retrieve),
    ("POST", f"/v1/webhook_endpoints/{_ID}", endpoints.UPDATE, _endpoint_update),
    ("DELETE", f"/v1/webhook_endpoints/{_ID}", endpoints.DELETE, _endpoint_delete),
]

ROUTES: list[Route] = [
    Route(method, re.compile(pattern), schema, handler) for method, pattern, schema, handler in _TABLE
]


def match(method: str, path: str) -> tuple[Route, str | None] | None:
    """The route for `method path` and the object id in the path, if any."""
    for route in ROUTES:
        if route.method != method:
            continue
        found = route.pattern.fullmatch(path)
        if found is not None:
            return route, found.groupdict().get("id")
    return None
