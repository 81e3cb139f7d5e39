"""What the books (``boxoffice.books``) read and the two things they write.

Reads: a record's whole partition (an order or purchase with its payments and refunds), Stripe
refund links and recorded events by id, and the "changed since" lists the sweep uses. Writes: the
sweep's cursor, and ``attention`` reasons appended (never overwritten) on a record with a break.
"""

from collections.abc import Iterable, Sequence
from datetime import datetime

from pynamodb.attributes import UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import UpdateError

from boxoffice.store.base import (
    Item,
    get_or_none,
    is_condition_failure,
    now,
)
from boxoffice.store.credits import Credit
from boxoffice.store.orders import Order, OrderListEntry
from boxoffice.store.refunds import StripeRefundLink
from boxoffice.store.stripe_events import StripeEventRecord, get_events

"""An attention text is for a person to read; past this it is cut (the metric still counts every break)."""


def partition(pk: str) -> list[Item]:
    """Every item of one partition, consistently read: an order with its payments and refunds."""
    return list(Item.query(pk, consistent_read=True))


def links(conference_id: str, stripe_refund_ids: Iterable[str]) -> dict[str, StripeRefundLink]:
    """The refund links of these Stripe refund ids, by id (missing ones are absent)."""
    keys = sorted({StripeRefundLink.key(conference_id, i) for i in stripe_refund_ids})
    found: dict[str, StripeRefundLink] = {}
    for start in range(0, len(keys), 100):
        for link in StripeRefundLink.batch_get(keys[start : start + 100], consistent_read=True):
            if isinstance(link, StripeRefundLink):
                found[link.PK.split("#", 2)[2]] = link
    return found


def event_records(conference_id: str, event_ids: Sequence[str]) -> dict[str, StripeEventRecord]:
    return get_events(conference_id, event_ids)


def all_order_ids(conference_id: str) -> list[str]:
    """Every order id of the conference, from its write-once list entries."""
    return [
        e.order_id for e in OrderListEntry.query(f"ORDERS#{conference_id}") if isinstance(e, OrderListEntry)
    ]


def orders_created_since(conference_id: str, since: datetime) -> list[str]:
    found = OrderListEntry.query(f"ORDERS#{conference_id}", OrderListEntry.SK > since.isoformat())
    return [e.order_id for e in found if isinstance(e, OrderListEntry)]


def credits_created_since(conference_id: str, since: datetime) -> list[Credit]:
    found = Credit.gsi1.query(f"CREDITS#{conference_id}", Credit.GSI1SK > since.isoformat())
    return [c for c in found if isinstance(c, Credit)]


def events_finished_since(conference_id: str, status: str, since: datetime) -> list[StripeEventRecord]:
    """Recorded events that reached ``status`` after ``since`` (the index sorts by that moment)."""
    found = StripeEventRecord.gsi1.query(
        f"EVENTS#{conference_id}#{status}", StripeEventRecord.GSI1SK > since.isoformat()
    )
    return [r for r in found if isinstance(r, StripeEventRecord)]


def get_many_orders(conference_id: str, order_ids: Sequence[str]) -> list[Order]:
    keys = [Order.key(conference_id, oid) for oid in dict.fromkeys(order_ids)]
    found: list[Order] = []
    for start in range(0, len(keys), 100):
        found += [o for o in Order.batch_get(keys[start : start + 100]) if isinstance(o, Order)]
    return found


class BooksCursor(Item, discriminator="books_cursor"):
    """Until when the sweep's audit has looked at what changed."""

    conference_id = UnicodeAttribute()
    audited_until = UTCDateTimeAttribute()

    @classmethod
    def key(cls, conference_id: str) -> tuple[str, str]:
        return f"CONF#{conference_id}", "BOOKS_CURSOR"


def get_cursor(conference_id: str) -> BooksCursor | None:
    return get_or_none(BooksCursor, BooksCursor.key(conference_id))


def advance_cursor(conference_id: str, until: datetime) -> None:
    """Move the cursor forward, never back, so a slow older run cannot undo a newer one."""
    cursor = BooksCursor(*BooksCursor.key(conference_id))
    try:
        cursor.update(
            actions=[
                BooksCursor.audited_until.set(until),
                BooksCursor.conference_id.set(conference_id),
                BooksCursor.entity.set(BooksCursor),
                BooksCursor.updated_at.set(now()),
            ],
            condition=BooksCursor.audited_until.does_not_exist() | (BooksCursor.audited_until < until),
            add_version_condition=False,
        )
    except UpdateError as exc:
        if not is_condition_failure(exc):
            raise
