"""Which order or bulk purchase a Stripe object is about: the one place that answers it.

A checkout session, a refund, a dispute or a charge names its owner by our metadata ids
(``order_id``, ``bulk_purchase_id``), or only by its payment intent, whose link says what it paid
for. Refunds and disputes of a payment whose own events have not arrived yet (no link) may also
ask Stripe for the intent's metadata, so they are never dropped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from boxoffice import lazy, store
from boxoffice.errors import PaymentProviderError

if TYPE_CHECKING:
    from boxoffice.store import bulk_purchases as purchases
    from boxoffice.store import orders as order_records
else:
    purchases = lazy.module("boxoffice.store.bulk_purchases")
    order_records = lazy.module("boxoffice.store.orders")

type Kind = Literal["order", "bulk_purchase"]
ORDER: Kind = "order"
BULK_PURCHASE: Kind = "bulk_purchase"
BOTH: tuple[Kind, ...] = (ORDER, BULK_PURCHASE)
_ID_KEY: dict[Kind, str] = {ORDER: "order_id", BULK_PURCHASE: "bulk_purchase_id"}
"""The metadata key that names an owner of each kind (both set by our checkout and refunds)."""


def named(obj: dict[str, Any], kinds: tuple[Kind, ...] = BOTH) -> tuple[Kind, str] | None:
    """The owner our metadata ids name, of one of ``kinds``: (kind, id), orders first."""
    metadata = obj.get("metadata") or {}
    for kind in kinds:
        value = metadata.get(_ID_KEY[kind])
        if isinstance(value, str) and value:
            return kind, value
    return None


def find(
    conference_id: str, obj: dict[str, Any], kinds: tuple[Kind, ...] = BOTH, *, ask_stripe: bool = False
) -> order_records.Order | purchases.BulkPurchase | None:
    """The order or bulk purchase (of one of ``kinds``) that ``obj`` names by our metadata ids, or
    by its payment intent's link. With ``ask_stripe``, an intent with no link yet is looked up at
    Stripe, whose metadata for it names the owner."""
    found = named(obj, kinds)
    if found is not None:
        return _get(conference_id, *found)
    intent = obj.get("payment_intent")
    intent_id = intent.get("id") if isinstance(intent, dict) else intent
    if not isinstance(intent_id, str) or not intent_id:
        return None
    link = purchases.find_by_payment_intent(conference_id, intent_id)
    if link is not None:
        return _get(conference_id, link.kind, link.record_id) if link.kind in kinds else None
    if ask_stripe:
        # The payment's own events have not arrived yet (no link): the intent's metadata at
        # Stripe names the order or purchase, so a refund or dispute is never dropped.
        metadata = _intent_metadata(conference_id, intent_id)
        if metadata:
            return find(conference_id, {"metadata": metadata}, kinds)
    return None


def find_purchase(conference_id: str, obj: dict[str, Any]) -> purchases.BulkPurchase | None:
    """The bulk purchase ``obj`` names by metadata id, or by its payment intent's link."""
    found = find(conference_id, obj, (BULK_PURCHASE,))
    return found if isinstance(found, purchases.BulkPurchase) else None


def _get(
    conference_id: str, kind: str, record_id: str
) -> order_records.Order | purchases.BulkPurchase | None:
    if kind == ORDER:
        return order_records.get(conference_id, record_id)
    return purchases.get(conference_id, record_id)


def _intent_metadata(conference_id: str, payment_intent_id: str) -> dict[str, str]:
    """Our owner ids in the intent's metadata at Stripe; none for another conference's intent."""
    from boxoffice import stripe_gateway

    conference = store.get_conference(conference_id)
    if conference is None or conference.stripe_secret_name is None:
        return {}
    try:
        intent = stripe_gateway.retrieve_payment_intent(conference.stripe_secret_name, payment_intent_id)
    except PaymentProviderError as exc:
        if exc.refused:
            return {}  # Stripe has no such intent on this account: nothing of ours
        raise
    metadata = intent.get("metadata") or {}
    ours = {k: v for k, v in metadata.items() if k in _ID_KEY.values() and isinstance(v, str)}
    if metadata.get("conference_id") not in (None, conference_id):
        return {}  # another conference's money: not ours to touch (docs/domain.md defect 17)
    return ours
