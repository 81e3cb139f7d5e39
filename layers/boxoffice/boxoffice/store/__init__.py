"""The store: every DynamoDB access pattern and every guard condition lives here.

Services call these functions; they never build DynamoDB expressions themselves. The names below
are read from ``store.base`` and ``store.conferences`` on first use (PEP 562), not at import:
both import PynamoDB and botocore, which a function's cold start need not pay for before its
first request touches the table (``boxoffice.lazy``).
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from boxoffice.store.base import (
        MAX_ATTENTION,
        Item,
        StaleRead,
        StateMachine,
        TransitionRejected,
        add_attention,
        back_off,
        is_condition_failure,
        is_conflict,
        now,
        retry_on_conflict,
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
        list_settling_conference_ids,
        put_catalog_entry,
        require_conference,
        save,
        save_conference,
    )

__all__ = [
    "MAX_ATTENTION",
    "AddOn",
    "Conference",
    "Item",
    "Sponsor",
    "StaleRead",
    "StateMachine",
    "TicketType",
    "TransitionRejected",
    "add_attention",
    "back_off",
    "catalog_items",
    "get_addon",
    "get_conference",
    "get_event_source",
    "get_sponsor",
    "get_ticket_type",
    "is_condition_failure",
    "is_conflict",
    "link_event_source",
    "list_active_conference_ids",
    "list_settling_conference_ids",
    "now",
    "put_catalog_entry",
    "require_conference",
    "retry_on_conflict",
    "save",
    "save_conference",
    "transaction",
    "transition",
    "transition_in",
    "update_if",
]

_BASE = frozenset(
    {
        "MAX_ATTENTION",
        "Item",
        "StaleRead",
        "StateMachine",
        "TransitionRejected",
        "add_attention",
        "back_off",
        "is_condition_failure",
        "is_conflict",
        "now",
        "retry_on_conflict",
        "transaction",
        "transition",
        "transition_in",
        "update_if",
    }
)
"""The names of ``__all__`` that ``store.base`` defines; ``store.conferences`` defines the others."""


def __getattr__(name: str) -> Any:
    """Import the defining module on first use of one of ``__all__``, then keep the name here."""
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    defining = importlib.import_module(f"{__name__}.{'base' if name in _BASE else 'conferences'}")
    value = getattr(defining, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
