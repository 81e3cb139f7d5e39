"""Recorded Stripe events: the dedupe key, the processing state machine, and the replay list.

One item per (conference, event id). Its conditional put is the dedupe: however often and however
concurrently Stripe delivers an event, one record exists. Processing claims the record with a
lease, so one processor at a time applies it, and a crashed one's claim expires.

States: ``received`` → ``processing`` → ``processed`` | ``failed``; ``failed`` → ``processing``
again on a retry or replay. ``ignored`` is terminal for types nobody handles, ``rejected`` for
events naming another conference's records.

The record is listed in GSI1 by status (the index projects whole items), so each of its four
writes (put, published, claimed, finished) costs its size in the table and again in the index,
twice there when the status moves it. The event's payload is most of the record, so it is kept
zlib-compressed: Stripe's JSON shrinks about 2.5 times, and so does each of those writes.
"""

import json
import zlib
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from pynamodb.attributes import (
    BinaryAttribute,
    BooleanAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.exceptions import PutError, UpdateError

from boxoffice.store.base import IntAttribute, Item, get_or_none, is_condition_failure, now

RETENTION = timedelta(days=90)
"""Finished records are kept this long (TTL): far past Stripe's 3 days of retries and 30 of events."""

RECEIVED, PROCESSING, PROCESSED, FAILED, IGNORED, REJECTED = (
    "received",
    "processing",
    "processed",
    "failed",
    "ignored",
    "rejected",
)
FINISHED = frozenset({PROCESSED, IGNORED, REJECTED})
STATUSES = frozenset({RECEIVED, PROCESSING, PROCESSED, FAILED, IGNORED, REJECTED})
MAX_ERROR_LENGTH = 1000


class StripeEventRecord(Item, discriminator="stripe_event"):
    conference_id = UnicodeAttribute()
    event_id = UnicodeAttribute()
    event_type = UnicodeAttribute()
    stripe_created = IntAttribute()
    payload = UnicodeAttribute(null=True)
    """The event's JSON as recorded before payloads were compressed; read, never written now."""
    payload_z = BinaryAttribute(legacy_encoding=False, null=True)
    """The event's JSON, zlib-compressed."""
    source = UnicodeAttribute()
    status = UnicodeAttribute()
    attempts = IntAttribute(default=0)
    last_error = UnicodeAttribute(null=True)
    lease_until = UTCDateTimeAttribute(null=True)
    published = BooleanAttribute(default=False)

    @classmethod
    def key(cls, conference_id: str, event_id: str) -> tuple[str, str]:
        return f"EVT#{conference_id}#{event_id}", "EVENT"

    @property
    def event(self) -> dict[str, Any]:
        text = zlib.decompress(self.payload_z) if self.payload_z is not None else self.payload or "null"
        event: dict[str, Any] = json.loads(text)
        return event

    def _index_status(self, status: str, at: datetime) -> None:
        self.GSI1PK = f"EVENTS#{self.conference_id}#{status}"
        self.GSI1SK = f"{at.isoformat()}#{self.event_id}"


def _status_actions(status: str, at: datetime, conference_id: str, event_id: str) -> list[Any]:
    actions = [
        StripeEventRecord.status.set(status),
        StripeEventRecord.updated_at.set(at),
        StripeEventRecord.GSI1PK.set(f"EVENTS#{conference_id}#{status}"),
        StripeEventRecord.GSI1SK.set(f"{at.isoformat()}#{event_id}"),
    ]
    if status in FINISHED:
        actions.append(StripeEventRecord.ttl.set(int((at + RETENTION).timestamp())))
    return actions


def get_event(conference_id: str, event_id: str) -> StripeEventRecord | None:
    return get_or_none(StripeEventRecord, StripeEventRecord.key(conference_id, event_id))


def get_events(
    conference_id: str, event_ids: Sequence[str], *, consistent: bool = True
) -> dict[str, StripeEventRecord]:
    """The records of these event ids, by id (missing ones are absent): one BatchGetItem per 100.

    ``consistent=False`` reads at half the units, for a caller whose conditional write catches a
    record written too recently to be seen."""
    keys = [StripeEventRecord.key(conference_id, i) for i in dict.fromkeys(event_ids)]
    found: dict[str, StripeEventRecord] = {}
    for start in range(0, len(keys), 100):
        for record in StripeEventRecord.batch_get(keys[start : start + 100], consistent_read=consistent):
            if isinstance(record, StripeEventRecord):
                found[record.event_id] = record
    return found


def record_event(
    conference_id: str, event: dict[str, Any], *, source: str, status: str = RECEIVED
) -> tuple[StripeEventRecord, bool]:
    """Put the event's record unless it exists. Returns the stored record and whether this call made it."""
    at = now()
    record = StripeEventRecord(
        *StripeEventRecord.key(conference_id, event["id"]),
        conference_id=conference_id,
        event_id=event["id"],
        event_type=event["type"],
        stripe_created=int(event.get("created") or 0),
        payload_z=zlib.compress(json.dumps(event, separators=(",", ":")).encode()),
        source=source,
        status=status,
        published=False,
    )
    record._index_status(status, at)
    if status in FINISHED:
        record.ttl = int((at + RETENTION).timestamp())
    try:
        record.save(condition=StripeEventRecord.PK.does_not_exist())
    except PutError as exc:
        if not is_condition_failure(exc):
            raise
        existing = get_event(conference_id, event["id"])
        if existing is None:  # deleted by TTL between the put and the read: treat as new next time
            raise
        return existing, False
    return record, True


def mark_published(record: StripeEventRecord) -> None:
    """Note that the bus has the event, so a duplicate delivery need not publish again."""
    record.update(actions=[StripeEventRecord.published.set(True)], add_version_condition=False)


def claim(record: StripeEventRecord, lease: timedelta) -> StripeEventRecord | None:
    """Take the record for processing, or None if it is finished or another processor holds it.

    The condition is the state machine's: from received or failed, or from processing whose lease
    has run out (its processor crashed). The attempt count goes up with each claim.
    """
    at = now()
    condition = StripeEventRecord.status.is_in(RECEIVED, FAILED) | (
        (StripeEventRecord.status == PROCESSING) & (StripeEventRecord.lease_until < at)
    )
    try:
        record.update(
            actions=[
                *_status_actions(PROCESSING, at, record.conference_id, record.event_id),
                StripeEventRecord.attempts.add(1),
                StripeEventRecord.lease_until.set(at + lease),
            ],
            condition=condition,
            add_version_condition=False,
        )
    except UpdateError as exc:
        if is_condition_failure(exc):
            return None
        raise
    return record


def finish(record: StripeEventRecord, status: str, error: str | None = None) -> None:
    """Close a claimed record as processed, failed, ignored or rejected.

    Guarded by this processor's own claim (status processing, same attempt), so a processor whose
    lease ran out cannot overwrite the outcome of the one that took over.
    """
    actions = [*_status_actions(status, now(), record.conference_id, record.event_id)]
    actions.append(StripeEventRecord.lease_until.remove())
    actions.append(
        StripeEventRecord.last_error.set(error[:MAX_ERROR_LENGTH])
        if error
        else StripeEventRecord.last_error.remove()
    )
    try:
        record.update(
            actions=actions,
            condition=(StripeEventRecord.status == PROCESSING)
            & (StripeEventRecord.attempts == record.attempts),
            add_version_condition=False,
        )
    except UpdateError as exc:
        if not is_condition_failure(exc):
            raise


def list_events(
    conference_id: str, status: str, *, limit: int, cursor: dict[str, Any] | None
) -> tuple[list[StripeEventRecord], dict[str, Any] | None]:
    """One page of a conference's records in ``status``, oldest first, and the next page's key."""
    results = StripeEventRecord.gsi1.query(
        f"EVENTS#{conference_id}#{status}", limit=limit, last_evaluated_key=cursor
    )
    items = [r for r in results if isinstance(r, StripeEventRecord)]
    return items, results.last_evaluated_key


def iter_events(conference_id: str, status: str) -> Iterator[StripeEventRecord]:
    for item in StripeEventRecord.gsi1.query(f"EVENTS#{conference_id}#{status}"):
        if isinstance(item, StripeEventRecord):
            yield item


class ReconcileCursor(Item, discriminator="reconcile_cursor"):
    """Where reconciliation's last complete pass reached, as a Stripe ``created`` timestamp."""

    conference_id = UnicodeAttribute()
    created_gte = IntAttribute()

    @classmethod
    def key(cls, conference_id: str) -> tuple[str, str]:
        return f"CONF#{conference_id}", "RECONCILE_CURSOR"


def get_cursor(conference_id: str) -> ReconcileCursor | None:
    return get_or_none(ReconcileCursor, ReconcileCursor.key(conference_id))


def advance_cursor(conference_id: str, created_gte: int) -> None:
    """Move the cursor forward, never back: a slower, older run cannot undo a newer one."""
    cursor = ReconcileCursor(
        *ReconcileCursor.key(conference_id), conference_id=conference_id, created_gte=created_gte
    )
    try:
        cursor.update(
            actions=[
                ReconcileCursor.created_gte.set(created_gte),
                ReconcileCursor.conference_id.set(conference_id),
                ReconcileCursor.entity.set(ReconcileCursor),
                ReconcileCursor.updated_at.set(now()),
            ],
            condition=ReconcileCursor.created_gte.does_not_exist()
            | (ReconcileCursor.created_gte < created_gte),
            add_version_condition=False,
        )
    except UpdateError as exc:
        if not is_condition_failure(exc):
            raise
