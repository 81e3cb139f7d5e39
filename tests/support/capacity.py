"""Capacity in the demo catalog: limits set by staff through the API, and the counters' holds."""

from typing import Any

from boxoffice.store import capacity as counters
from tests.support.functions import api_fn
from tests.support.http import STAFF, Reply, call


def put_item(path: str, **body: Any) -> Reply:
    """Staff ``PUT`` the demo catalog item at ``path`` (``ticket-types/<id>`` or ``addons/<id>``)."""
    return call(api_fn(), "PUT", f"/v1/conferences/demo/{path}", body=body, claims=STAFF)


def limit_general(capacity: int | None, **extra: Any) -> None:
    """The demo's general ticket limited to ``capacity`` units (None: unlimited)."""
    reply = put_item(
        "ticket-types/general", name="General", price=25000, bulk_enabled=True, capacity=capacity, **extra
    )
    assert reply.status == 200, reply.text


def limit_workshop(capacity: int | None) -> None:
    """The demo's workshop add-on limited to ``capacity`` units (None: unlimited)."""
    reply = put_item("addons/workshop", name="Workshop", price=5000, bulk_enabled=True, capacity=capacity)
    assert reply.status == 200, reply.text


def held(scope: str = counters.ticket_scope("general")) -> int:
    """The units the counter of ``scope`` holds (the general ticket's by default)."""
    counter = counters.get("demo", scope)
    return 0 if counter is None else int(counter.held)
