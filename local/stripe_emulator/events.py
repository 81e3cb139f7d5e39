"""`/v1/events`: list (with `type`, `types[]`, `created` filters) and retrieve."""

from __future__ import annotations

from typing import Any

from .errors import invalid_request
from .params import EXPAND, LIST_PARAMS, Array, Boolean, Obj, RangeFilter, String
from .store import EVENT, Ctx, Store

LIST = Obj(
    {
        **LIST_PARAMS,
        "type": String(),
        "types": Array(String(), max_items=20),
        "created": RangeFilter(),
        "delivery_success": Boolean(),
    }
)
RETRIEVE = Obj({"expand": EXPAND})


def type_matches(pattern: str, type_: str) -> bool:
    """`checkout.session.*` matches every checkout.session event; `*` matches all."""
    if pattern.endswith("*"):
        return type_.startswith(pattern[:-1])
    return pattern == type_


def list_events(store: Store, ctx: Ctx, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Newest first, filtered."""
    if "type" in params and "types" in params:
        raise invalid_request(
            "You may only specify one of these parameters: type, types.",
            param="types",
            code="parameters_exclusive",
        )
    events = store.created_filter(ctx.account.newest_first(EVENT), params)
    if "type" in params:
        events = [e for e in events if type_matches(params["type"], e["type"])]
    if "types" in params:
        events = [e for e in events if any(type_matches(t, e["type"]) for t in params["types"])]
    if "delivery_success" in params:
        wanted = params["delivery_success"]
        events = [e for e in events if (e["pending_webhooks"] == 0) == wanted]
    return events
