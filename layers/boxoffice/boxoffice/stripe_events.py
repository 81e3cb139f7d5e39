"""Stripe events: intake, exactly-once processing, replay and reconciliation.

Stripe delivers events late, twice, concurrently and out of order, and retries failures for
three days. So:

- **Intake** (``stripe_intake``, apart so the webhook function loads only it) verifies the
  signature (webhook) or trusts the partner source (EventBridge), then records the event with a
  conditional put keyed by (conference, event id). A duplicate changes nothing. The event is then
  published to the bus; a record whose publication never happened (a crash in between) is
  published by the next delivery of the same event.
- **Processing** claims the record with a lease, checks that the event names only this
  conference's records (docs/domain.md defect 17), runs the handler registered for its type, and marks the record
  processed, or failed with the error before re-raising so Lambda's async retries run. Retries
  exhausted, the event lands in the function's dead-letter queue and an alarm fires.
- **Reconciliation** lists Stripe's events since a stored cursor and admits any never seen, which
  recovers webhooks lost for good. The cursor never passes an unfinished event.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, cast

from boxoffice import bus, lazy, store
from boxoffice.errors import InvalidState, NotFound, Unavailable
from boxoffice.observability import logger
from boxoffice.pagination import decode_cursor, encode_cursor
from boxoffice.shapes import Shape
from boxoffice.stripe_intake import HANDLED_TYPES as HANDLED_TYPES  # re-exported: the books list these
from boxoffice.stripe_intake import admit, check_event_shape

if TYPE_CHECKING:
    from boxoffice.store import stripe_events as records
else:
    records = lazy.module("boxoffice.store.stripe_events")


PARTNER_SOURCE_PREFIX = "aws.partner/stripe.com/"
RECONCILE_SAFETY_SECONDS = 300
"""Reconciliation re-lists this far before its cursor: Stripe's ``created`` and listing are not atomic."""
RECONCILE_FIRST_LOOKBACK_SECONDS = 3 * 24 * 3600
"""A conference's first reconciliation looks back as far as Stripe retries a webhook."""
STALE_AFTER = timedelta(minutes=10)
"""A record still unprocessed this long after its last change is published again."""

EventHandler = Callable[[str, dict[str, Any]], None]
"""A domain handler: (conference id, the Stripe event). It must be idempotent under its own guards."""


class EventBusy(Exception):
    """Another processor holds the event's lease; raising makes Lambda retry after it ends."""


@dataclass
class Registry:
    """Event type → domain handler, for one processor function."""

    handlers: dict[str, EventHandler] = field(default_factory=dict)

    def on(self, *event_types: str) -> Callable[[EventHandler], EventHandler]:
        def register(handler: EventHandler) -> EventHandler:
            for event_type in event_types:
                if event_type not in HANDLED_TYPES:
                    raise ValueError(f"{event_type} is not routed to any processor in template.yaml")
                self.handlers[event_type] = handler
            return handler

        return register

    def get(self, event_type: str) -> EventHandler | None:
        return self.handlers.get(event_type)


# --- processing -----------------------------------------------------------------------------------


def named_conference(event: Mapping[str, Any]) -> str | None:
    """The conference the event's object says it belongs to (our metadata), if it says."""
    obj = event.get("data", {}).get("object", {})
    metadata = obj.get("metadata") if isinstance(obj, dict) else None
    value = metadata.get("conference_id") if isinstance(metadata, dict) else None
    return value if isinstance(value, str) and value else None


def process_record(record: records.StripeEventRecord, registry: Registry, lease: timedelta) -> str:
    """Apply one recorded event once. Returns the record's final status; raises to be retried."""
    if record.status in records.FINISHED:
        return record.status
    claimed = records.claim(record, lease)
    if claimed is None:
        current = records.get_event(record.conference_id, record.event_id)
        if current is not None and current.status in records.FINISHED:
            return current.status
        raise EventBusy(f"event {record.event_id} is being processed elsewhere")
    event = claimed.event
    handler = registry.get(claimed.event_type)
    if handler is None:
        records.finish(claimed, records.IGNORED)
        return records.IGNORED
    owner = named_conference(event)
    if owner is not None and owner != claimed.conference_id:
        logger.warning(
            "event names another conference; rejected",
            extra={"event_id": claimed.event_id, "admitted_by": claimed.conference_id, "names": owner},
        )
        records.finish(claimed, records.REJECTED, f"the event names conference {owner}")
        return records.REJECTED
    try:
        handler(claimed.conference_id, event)
    except Exception as exc:
        records.finish(claimed, records.FAILED, f"{type(exc).__name__}: {exc}")
        logger.exception(
            "event processing failed", extra={"event_id": claimed.event_id, "attempt": claimed.attempts}
        )
        raise
    records.finish(claimed, records.PROCESSED)
    return records.PROCESSED


def conference_for_partner_source(source: str) -> str:
    """The conference whose Stripe account feeds the partner event source ``source``."""
    mapping = store.get_event_source(source)
    if mapping is None:
        raise NotFound(f"no conference receives events from {source}")
    return mapping


def handle_bus_event(envelope: dict[str, Any], registry: Registry, lease: timedelta) -> str:
    """Entry point of a processor function for one EventBridge event, from either way in.

    ``boxoffice.stripe`` events name a record the webhook made. Partner events (Stripe's
    EventBridge destination) carry the Stripe event itself and are trusted by their source;
    they are recorded and deduplicated here the same way.
    """
    from aws_lambda_powertools.utilities.parser import parse
    from aws_lambda_powertools.utilities.parser.models import EventBridgeModel

    parsed = parse(event=envelope, model=EventBridgeModel)
    if parsed.source == bus.STRIPE_SOURCE:
        detail = cast("dict[str, Any]", parsed.detail)  # EventBridgeModel leaves detail a plain dict
        record = records.get_event(str(detail.get("conference_id")), str(detail.get("event_id")))
        if record is None:
            raise NotFound(f"no recorded event {detail.get('event_id')} for {detail.get('conference_id')}")
    elif parsed.source.startswith(PARTNER_SOURCE_PREFIX):
        conference_id = conference_for_partner_source(parsed.source)
        event = check_event_shape(parsed.detail)
        record, _ = records.record_event(conference_id, event, source="eventbridge")
    else:
        raise ValueError(f"unexpected event source {parsed.source}")
    return process_record(record, registry, lease)


# --- operations -------------------------------------------------------------------------------------


class StripeEventView(Shape):
    event_id: str
    type: str
    status: str
    attempts: int
    last_error: str | None
    source: str
    stripe_created: int
    received_at: datetime
    updated_at: datetime


class StripeEventPage(Shape):
    items: list[StripeEventView]
    next: str | None


def _view(record: records.StripeEventRecord) -> StripeEventView:
    return StripeEventView(
        event_id=record.event_id,
        type=record.event_type,
        status=record.status,
        attempts=record.attempts,
        last_error=record.last_error,
        source=record.source,
        stripe_created=record.stripe_created,
        received_at=record.created_at,
        updated_at=record.updated_at,
    )


def list_events(conference_id: str, status: str, *, limit: int, cursor: str | None) -> StripeEventPage:
    store.require_conference(conference_id)
    key = decode_cursor(cursor, {"GSI1PK": f"EVENTS#{conference_id}#{status}"}, attributes=4)
    items, last = records.list_events(conference_id, status, limit=limit, cursor=key)
    return StripeEventPage(items=[_view(r) for r in items], next=encode_cursor(last))


def replay(conference_id: str, event_id: str) -> StripeEventView:
    """Publish a failed (or stuck) event again so its processor runs it; staff use it after a fix."""
    store.require_conference(conference_id)
    record = records.get_event(conference_id, event_id)
    if record is None:
        raise NotFound(f"event {event_id} not found")
    if record.status in records.FINISHED:
        raise InvalidState(f"event {event_id} is already {record.status}")
    try:
        bus.publish_stripe_event(conference_id, event_id, record.event_type)
    except bus.PublishFailed as exc:
        raise Unavailable("the event could not be queued; retry") from exc
    return _view(record)


def republish_stale(conference_id: str) -> int:
    """Publish again events left received, or processing past their lease, for STALE_AFTER."""
    cutoff = store.now() - STALE_AFTER
    count = 0
    for status in (records.RECEIVED, records.PROCESSING):
        for record in records.iter_events(conference_id, status):
            stale = record.updated_at < cutoff and (
                status == records.RECEIVED
                or (record.lease_until is not None and record.lease_until < store.now())
            )
            if stale:
                bus.publish_stripe_event(conference_id, record.event_id, record.event_type)
                count += 1
    return count


class ReconcileResult(Shape):
    conference_id: str
    listed: int
    admitted: int
    cursor: int


def reconcile(conference_id: str, *, now: float | None = None) -> ReconcileResult | None:
    """Admit every handled event Stripe has that the store has never seen; None if not configured.

    The cursor moves to the oldest event not yet finished (or to the newest seen when all are), so
    it only ever passes events that were processed.
    """
    from boxoffice import stripe_gateway

    conference = store.get_conference(conference_id)
    # A deactivated conference is reconciled too: the sweep still settles its money in flight.
    if conference is None or conference.stripe_secret_name is None:
        return None
    current = records.get_cursor(conference_id)
    since = current.created_gte if current else int((now or time.time()) - RECONCILE_FIRST_LOOKBACK_SECONDS)
    listed = admitted = 0
    oldest_unfinished: int | None = None
    newest = since
    events = list(
        stripe_gateway.list_events(
            conference.stripe_secret_name,
            created_gte=since - RECONCILE_SAFETY_SECONDS,
            types=sorted(HANDLED_TYPES),
        )
    )
    # The window re-lists events already recorded at every run: one batch read finds them, where a
    # conditional put per event would be refused (and billed at the record's size) every five minutes.
    # Eventually consistent is enough: a record too new to be seen is put again, and that put's
    # condition refuses it.
    known = records.get_events(conference_id, [e["id"] for e in events], consistent=False)
    for event in events:
        listed += 1
        record = known.get(event["id"])
        if record is None or (event["type"] in HANDLED_TYPES and not record.published):
            if admit(conference_id, event, source="reconciliation") == "recorded":
                admitted += 1
            record = records.get_event(conference_id, event["id"])
        created = int(event["created"])
        if record is not None and record.status not in records.FINISHED:
            oldest_unfinished = created if oldest_unfinished is None else min(oldest_unfinished, created)
        newest = max(newest, created)
    cursor = oldest_unfinished if oldest_unfinished is not None else newest
    records.advance_cursor(conference_id, cursor)
    if admitted:
        logger.info(
            "reconciliation admitted missed events", extra={"conference_id": conference_id, "count": admitted}
        )
    return ReconcileResult(conference_id=conference_id, listed=listed, admitted=admitted, cursor=cursor)


Status = Literal["received", "processing", "processed", "failed", "ignored", "rejected"]
