"""Stripe event intake: verify a webhook, record its event once, publish it to the bus.

The webhook function runs only this. It is kept apart from ``stripe_events`` (processing,
replay, reconciliation and their API models) so that function imports no pydantic: verifying,
recording and publishing need none. The store, the Stripe SDK and boto3 load on first use.
A duplicate changes nothing; a record whose publication never happened (a crash in between)
is published by the next delivery of the same event.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from boxoffice import bus, lazy, secrets, snapstart, store
from boxoffice.errors import BadRequest, NotFound, Unavailable
from boxoffice.observability import logger

if TYPE_CHECKING:
    from boxoffice.store import stripe_events as records
else:
    records = lazy.module("boxoffice.store.stripe_events")

HANDLED_TYPES: frozenset[str] = frozenset(
    {
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "checkout.session.async_payment_failed",
        "checkout.session.expired",
        "payment_intent.payment_failed",
        "charge.refunded",
        "charge.refund.updated",
        "refund.created",
        "refund.updated",
        "refund.failed",
        "charge.dispute.created",
        "charge.dispute.updated",
        "charge.dispute.closed",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.funds_reinstated",
    }
)
"""Types the template's rules route to a processor. Others are recorded as ignored and acknowledged."""


def check_event_shape(event: Any) -> dict[str, Any]:
    """``event`` if it has a Stripe event's shape (``evt_`` id, type, data.object), else BadRequest."""
    if (
        not isinstance(event, dict)
        or not isinstance(event.get("id"), str)
        or not event["id"].startswith("evt_")
        or len(event["id"]) > 255
        or not isinstance(event.get("type"), str)
        or not isinstance(event.get("data"), dict)
        or not isinstance(event["data"].get("object"), dict)
    ):
        raise BadRequest("the body is not a Stripe event")
    return event


def admit(conference_id: str, event: dict[str, Any], *, source: str) -> str:
    """Record ``event`` once and publish it; returns ``recorded``, ``duplicate`` or ``ignored``.

    Publication is retried by any later delivery while the record says it never happened.
    """
    handled = event["type"] in HANDLED_TYPES
    try:
        record, created = records.record_event(
            conference_id, event, source=source, status=records.RECEIVED if handled else records.IGNORED
        )
        if not handled:
            return "ignored" if created else "duplicate"
        if record.published:
            return "duplicate"
        bus.publish_stripe_event(conference_id, record.event_id, record.event_type)
        records.mark_published(record)
    except bus.PublishFailed as exc:
        logger.warning("event recorded but not published", extra={"event_id": event["id"], "error": str(exc)})
        raise Unavailable("the event could not be queued; Stripe will retry") from exc
    return "recorded" if created else "duplicate"


FORCED_READ_INTERVAL = 60.0
_FORCED_READS: dict[str, float] = {}
snapstart.after_restore(_FORCED_READS.clear)  # monotonic readings from before a snapshot mean nothing after


def receive_webhook(conference_id: str, payload: str, signature: str | None) -> str:
    """Verify a webhook against the conference's signing secret and admit its event.

    Unknown conferences are NotFound; a bad, stale or missing signature is BadRequest, and in both
    cases nothing is stored. An inactive conference's events are admitted like any other: money on
    checkouts opened before it was deactivated, refunds and disputes must still reach the books. A failed check is retried once with a freshly read secret,
    so a rotated signing secret works before the cache expires.
    """
    from boxoffice import stripe_gateway

    conference = store.get_conference(conference_id)
    if conference is None or conference.stripe_secret_name is None:
        raise NotFound(f"conference {conference_id} not found")
    keys = secrets.get_stripe_keys(conference.stripe_secret_name)
    try:
        event = stripe_gateway.verify_webhook(payload, signature, keys.webhook_secret)
    except BadRequest:
        # At most one forced read a minute per conference: bad signatures cost nothing to send.
        last = _FORCED_READS.get(conference_id, 0.0)
        if time.monotonic() - last < FORCED_READ_INTERVAL:
            raise
        _FORCED_READS[conference_id] = time.monotonic()
        fresh = secrets.get_stripe_keys(conference.stripe_secret_name, force_fetch=True)
        if fresh.webhook_secret == keys.webhook_secret:
            raise
        event = stripe_gateway.verify_webhook(payload, signature, fresh.webhook_secret)
    return admit(conference_id, check_event_shape(event), source="webhook")
