"""Conference settings and the catalog (ticket types, add-ons, sponsors).

All of a conference's configuration shares one partition, ``CONF#{cid}``, so the catalog is
one query. Active conferences are also in a sparse GSI1 list for the expiry job, and conferences
deactivated in the last :data:`SETTLING_WINDOW` in another, so the sweep keeps settling their money.
"""

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Self

from pynamodb.attributes import BooleanAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import PutError

from boxoffice.errors import InvalidState, NotFound
from boxoffice.store.base import IntAttribute, Item, get_or_none, is_condition_failure, now

ACTIVE_CONFERENCES = "ACTIVE_CONFERENCES"
WINDING_DOWN_CONFERENCES = "WINDING_DOWN_CONFERENCES"
SETTLING_WINDOW = timedelta(days=30)
"""How long the sweep goes on with a deactivated conference: checkouts opened before deactivation
still get paid, expire or fail, refunds still settle, and Stripe keeps its events (which the sweep
reconciles against) for 30 days."""


def conference_pk(conference_id: str) -> str:
    return f"CONF#{conference_id}"


class Conference(Item, discriminator="conference"):
    """A tenant. Holds only the *name* of the secret with its Stripe keys, never the keys."""

    conference_id = UnicodeAttribute()
    name = UnicodeAttribute()
    currency = UnicodeAttribute()
    is_active = BooleanAttribute(default=True)
    stripe_secret_name = UnicodeAttribute(null=True)
    stripe_event_source = UnicodeAttribute(null=True)
    checkout_expiry_minutes = IntAttribute()
    order_hold_minutes = IntAttribute()
    max_bulk_quantity = IntAttribute()
    ticket_capacity = IntAttribute(null=True)
    """The venue: shared by every ticket type. Absent: unlimited."""
    venue_counted = BooleanAttribute(null=True)
    """The venue's counter exists (a ticket capacity was set once): ticket sales write to it."""
    deactivated_at = UTCDateTimeAttribute(null=True)
    """When an active conference was last deactivated; absent while active or never active."""

    @classmethod
    def key(cls, conference_id: str) -> tuple[str, str]:
        return conference_pk(conference_id), "CONFERENCE"

    @classmethod
    def new(cls, conference_id: str) -> "Conference":
        pk, sk = cls.key(conference_id)
        return cls(pk, sk, conference_id=conference_id)

    def set_active(self, active: bool) -> None:
        """Keep the sparse GSI1 lists in step with ``is_active``: an active conference is listed as
        active; one deactivated now is listed as winding down from now on (the sweep settles what
        it had in flight); one already inactive keeps its place and clock."""
        was_active = self.GSI1PK == ACTIVE_CONFERENCES
        self.is_active = active
        if active:
            self.deactivated_at = None
            self.GSI1PK, self.GSI1SK = ACTIVE_CONFERENCES, self.conference_id
        elif was_active:
            self.deactivated_at = now()
            self.GSI1PK = WINDING_DOWN_CONFERENCES
            self.GSI1SK = f"{self.deactivated_at.isoformat()}#{self.conference_id}"


class _CatalogEntry(Item):
    """Common shape of things that live in a conference's partition under an id."""

    conference_id = UnicodeAttribute()
    entry_id = UnicodeAttribute()
    name = UnicodeAttribute()

    PREFIX = ""

    @classmethod
    def key(cls, conference_id: str, entry_id: str) -> tuple[str, str]:
        return conference_pk(conference_id), f"{cls.PREFIX}#{entry_id}"

    @classmethod
    def new(cls, conference_id: str, entry_id: str) -> Self:
        pk, sk = cls.key(conference_id, entry_id)
        return cls(pk, sk, conference_id=conference_id, entry_id=entry_id)


class TicketType(_CatalogEntry, discriminator="ticket_type"):
    PREFIX = "TICKET"
    price = IntAttribute()
    bulk_enabled = BooleanAttribute(default=False)
    requires_voucher = BooleanAttribute(default=False)
    capacity = IntAttribute(null=True)
    counted = BooleanAttribute(null=True)
    """The item's capacity counter exists (a capacity was set once): its sales write to it."""


class AddOn(_CatalogEntry, discriminator="addon"):
    PREFIX = "ADDON"
    price = IntAttribute()
    bulk_enabled = BooleanAttribute(default=False)
    capacity = IntAttribute(null=True)
    counted = BooleanAttribute(null=True)
    """The item's capacity counter exists (a capacity was set once): its sales write to it."""


class Sponsor(_CatalogEntry, discriminator="sponsor"):
    PREFIX = "SPONSOR"
    slug = UnicodeAttribute()
    contact_email = UnicodeAttribute()
    is_active = BooleanAttribute(default=True)


def save[I: Item](item: I) -> I:
    """Write ``item`` guarded by its version: a create fails if it exists, an update if it moved.

    Two concurrent writers of the same record cannot both win; the loser gets InvalidState
    and may re-read and retry.
    """
    item.updated_at = now()
    try:
        item.save()
    except PutError as exc:
        if is_condition_failure(exc):
            raise InvalidState(
                f"{type(item).__name__} changed concurrently; read it again and retry"
            ) from exc
        raise
    return item


def save_conference(conference: Conference) -> Conference:
    return save(conference)


def put_catalog_entry[E: _CatalogEntry](entry: E) -> E:
    return save(entry)


def get_conference(conference_id: str) -> Conference | None:
    return get_or_none(Conference, Conference.key(conference_id))


def get_ticket_type(conference_id: str, ticket_type_id: str) -> TicketType | None:
    return get_or_none(TicketType, TicketType.key(conference_id, ticket_type_id))


def get_addon(conference_id: str, addon_id: str) -> AddOn | None:
    return get_or_none(AddOn, AddOn.key(conference_id, addon_id))


def get_sponsor(conference_id: str, sponsor_id: str) -> Sponsor | None:
    return get_or_none(Sponsor, Sponsor.key(conference_id, sponsor_id))


def require_conference(conference_id: str) -> Conference:
    """The conference, active or not, or NotFound: an unknown id and another tenant's look alike."""
    conference = get_conference(conference_id)
    if conference is None:
        raise NotFound(f"conference {conference_id} not found")
    return conference


class EventSourceLink(Item, discriminator="event_source_link"):
    """Which conference a Stripe partner event source (EventBridge destination) feeds. One each."""

    conference_id = UnicodeAttribute()

    @classmethod
    def key(cls, source: str) -> tuple[str, str]:
        return f"EVTSRC#{source}", "EVTSRC"


def link_event_source(source: str, conference_id: str) -> None:
    """Bind ``source`` to the conference, refusing a source another conference already has."""
    link = EventSourceLink(*EventSourceLink.key(source), conference_id=conference_id)
    try:
        link.save(
            condition=EventSourceLink.PK.does_not_exist() | (EventSourceLink.conference_id == conference_id),
            add_version_condition=False,
        )
    except PutError as exc:
        if is_condition_failure(exc):
            raise InvalidState("that Stripe event source already feeds another conference") from exc
        raise


def get_event_source(source: str) -> str | None:
    """The conference fed by partner event source ``source``, by primary key."""
    link = get_or_none(EventSourceLink, EventSourceLink.key(source))
    return link.conference_id if link else None


def catalog_items(conference_id: str) -> Iterator[Item]:
    """The conference and everything in its catalog, in one (paginated) query."""
    return Item.query(conference_pk(conference_id))


def list_active_conference_ids() -> list[str]:
    """Ids of every active conference, from the sparse GSI1 list."""
    return [item.GSI1SK for item in Item.gsi1.query(ACTIVE_CONFERENCES) if item.GSI1SK]


def list_settling_conference_ids(at: datetime | None = None) -> list[str]:
    """Ids of the conferences whose money the sweep settles: every active one, and every one
    deactivated within :data:`SETTLING_WINDOW` before ``at`` (now by default)."""
    since = ((at or now()) - SETTLING_WINDOW).isoformat()
    winding_down = Item.gsi1.query(WINDING_DOWN_CONFERENCES, Item.GSI1SK >= since)
    return list_active_conference_ids() + [
        item.GSI1SK.rpartition("#")[2] for item in winding_down if item.GSI1SK
    ]
