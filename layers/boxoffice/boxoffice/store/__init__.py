"""The store: every DynamoDB access pattern and every guard condition lives here.

Services call these functions; they never build DynamoDB expressions themselves.
"""

from boxoffice.store.base import (
    Item,
    StateMachine,
    TransitionRejected,
    add_attention,
    is_condition_failure,
    now,
    transaction,
    transition,
    transition_in,
    update_if,
)
from boxoffice.store.conferences import (
    AddOn,
    Conference,
    Sponsor,
    TicketType,
    catalog_items,
    get_addon,
    get_conference,
    get_event_source,
    get_sponsor,
    get_ticket_type,
    link_event_source,
    list_active_conference_ids,
    put_catalog_entry,
    require_conference,
    save,
    save_conference,
)

__all__ = [
    "AddOn",
    "Conference",
    "Item",
    "Sponsor",
    "StateMachine",
    "TicketType",
    "TransitionRejected",
    "add_attention",
    "catalog_items",
    "get_addon",
    "get_conference",
    "get_event_source",
    "get_sponsor",
    "get_ticket_type",
    "is_condition_failure",
    "link_event_source",
    "list_active_conference_ids",
    "now",
    "put_catalog_entry",
    "require_conference",
    "save",
    "save_conference",
    "transaction",
    "transition",
    "transition_in",
    "update_if",
]
