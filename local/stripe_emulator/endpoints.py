"""`/v1/webhook_endpoints`: create (the only response with `secret`), list, retrieve, update, delete."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from . import objects
from .errors import invalid_request
from .params import EXPAND, LIST_PARAMS, Array, Boolean, Metadata, Obj, String
from .store import WEBHOOK_ENDPOINT, Ctx, Store

_EVENT_NAME = re.compile(r"^(\*|[a-z_]+(\.[a-z_]+)*)$")

CREATE = Obj(
    {
        "url": String(required=True, max_length=5000),
        "enabled_events": Array(String(), required=True),
        "description": String(max_length=5000),
        "metadata": Metadata(),
        "api_version": String(),
        "connect": Boolean(),
        "expand": EXPAND,
    }
)
UPDATE = Obj(
    {
        "url": String(max_length=5000),
        "enabled_events": Array(String()),
        "description": String(max_length=5000),
        "metadata": Metadata(),
        "disabled": Boolean(),
        "expand": EXPAND,
    }
)
RETRIEVE = Obj({"expand": EXPAND})
LIST = Obj(dict(LIST_PARAMS))
DELETE = Obj({})


def _check(params: dict[str, Any]) -> None:
    if "url" in params:
        parts = urlsplit(params["url"])
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise invalid_request(
                "Invalid URL: must be an http or https URL.", param="url", code="url_invalid"
            )
    if "enabled_events" in params:
        if not params["enabled_events"]:
            raise invalid_request("enabled_events must list at least one event type.", param="enabled_events")
        for index, name in enumerate(params["enabled_events"]):
            if not _EVENT_NAME.match(name):
                raise invalid_request(
                    f"Invalid enabled_events[{index}]: {name} is not an event type.",
                    param=f"enabled_events[{index}]",
                )


def create(store: Store, ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    """POST /v1/webhook_endpoints. The response (and only it) carries the signing secret."""
    _check(params)
    endpoint = objects.webhook_endpoint(
        endpoint_id=store.ids.new("we_1"),
        created=store.clock.timestamp(),
        url=params["url"],
        enabled_events=params["enabled_events"],
        description=params.get("description"),
        metadata=params.get("metadata", {}),
        api_version=params.get("api_version"),
    )
    store.add(ctx.account, endpoint)
    secret = store.ids.new("whsec_")
    ctx.account.endpoint_secrets[endpoint["id"]] = secret
    return {**endpoint, "secret": secret}


def update(store: Store, ctx: Ctx, endpoint: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """POST /v1/webhook_endpoints/{id}."""
    _check(params)
    for key in ("url", "enabled_events", "description"):
        if key in params:
            endpoint[key] = params[key]
    if "metadata" in params:
        endpoint["metadata"] = {**endpoint["metadata"], **params["metadata"]} if params["metadata"] else {}
    if "disabled" in params:
        endpoint["status"] = "disabled" if params["disabled"] else "enabled"
    return endpoint


def delete(store: Store, ctx: Ctx, endpoint: dict[str, Any]) -> dict[str, Any]:
    """DELETE /v1/webhook_endpoints/{id}: Stripe's deleted stub."""
    del ctx.account.objects[WEBHOOK_ENDPOINT][endpoint["id"]]
    ctx.account.endpoint_secrets.pop(endpoint["id"], None)
    return {"id": endpoint["id"], "object": "webhook_endpoint", "deleted": True}
