"""Conference setup: settings, ticket types, add-ons and sponsors, and the public catalog.

The models here are the service's own input and output shapes; the API validates requests
against them and the OpenAPI document is generated from them.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

from pydantic import ConfigDict, Field, field_validator

from boxoffice import lazy, money, secrets, store
from boxoffice.errors import InvalidState, NotFound
from boxoffice.patterns import EMAIL_PATTERN, SPONSOR_SLUG_PATTERN
from boxoffice.shapes import Shape

if TYPE_CHECKING:
    from boxoffice.store import capacity as counters
    from boxoffice.store.conferences import _CatalogEntry as CatalogEntry
else:
    counters = lazy.module("boxoffice.store.capacity")


DEFAULT_CHECKOUT_EXPIRY_MINUTES = 60
DEFAULT_ORDER_HOLD_MINUTES = 60
DEFAULT_MAX_BULK_QUANTITY = 500

Name = Annotated[str, Field(min_length=1, max_length=200)]
Price = Annotated[int, Field(ge=0, le=money.MAX_AMOUNT, description="Minor units of the conference currency")]
Capacity = Annotated[
    int, Field(ge=0, le=10_000_000, description="Units that may be held and sold; null: unlimited")
]


class _Input(Shape):
    """Strict inputs: unknown fields and wrong types are refused, never coerced."""

    model_config = ConfigDict(extra="forbid", strict=True)


class StripeKeysInput(_Input):
    secret_key: Annotated[str, Field(pattern=r"^(sk|rk)_(test|live)_[A-Za-z0-9]{8,250}$", repr=False)]
    webhook_secret: Annotated[str, Field(pattern=r"^whsec_[A-Za-z0-9+/=]{8,250}$", repr=False)]


class ConferenceInput(_Input):
    """``PUT /v1/conferences/{cid}``. Omitted settings keep their stored value (or the default)."""

    name: Name
    currency: Annotated[str, Field(min_length=3, max_length=3, description="ISO 4217, lower case")]
    is_active: bool
    stripe: StripeKeysInput | None = None
    checkout_expiry_minutes: Annotated[int, Field(ge=30, le=1440)] | None = None
    order_hold_minutes: Annotated[int, Field(ge=30, le=1440)] | None = None
    max_bulk_quantity: Annotated[int, Field(ge=1, le=10_000)] | None = None
    ticket_capacity: Capacity | None = None
    """The venue, shared by every ticket type. Omitted keeps the stored value; null removes it."""
    stripe_event_source: (
        Annotated[
            str,
            Field(
                pattern=r"^aws\.partner/stripe\.com/[A-Za-z0-9_./-]{1,200}$",
                description="Stripe's EventBridge partner event source feeding this conference, if used",
            ),
        ]
        | None
    ) = None

    @field_validator("currency")
    @classmethod
    def _stripe_can_charge(cls, value: str) -> str:
        if value != value.lower() or not money.is_supported(value):
            raise ValueError("must be a lower-case ISO 4217 currency that Stripe can charge")
        return value


class StripeStatus(Shape):
    configured: bool


class ConferenceView(Shape):
    id: str
    name: str
    currency: str
    is_active: bool
    stripe: StripeStatus
    checkout_expiry_minutes: int
    order_hold_minutes: int
    max_bulk_quantity: int
    ticket_capacity: int | None = None
    stripe_event_source: str | None
    created_at: datetime
    updated_at: datetime


class TicketTypeInput(_Input):
    name: Name
    price: Price
    bulk_enabled: bool = False
    requires_voucher: bool = False
    capacity: Capacity | None = None


class AddOnInput(_Input):
    name: Name
    price: Price
    bulk_enabled: bool = False
    capacity: Capacity | None = None


class SponsorInput(_Input):
    name: Name
    slug: Annotated[str, Field(pattern=SPONSOR_SLUG_PATTERN)]
    contact_email: Annotated[str, Field(pattern=EMAIL_PATTERN, max_length=254)]
    is_active: bool = True


class TicketTypeView(Shape):
    id: str
    name: str
    price: int
    bulk_enabled: bool
    requires_voucher: bool
    capacity: int | None = None
    available: int | None = None
    """Units left to sell (null when unlimited); in the catalog, also within the venue's."""
    sold_out: bool = False


class AddOnView(Shape):
    id: str
    name: str
    price: int
    bulk_enabled: bool
    capacity: int | None = None
    available: int | None = None
    """Units left to sell (null when unlimited)."""
    sold_out: bool = False


class SponsorView(Shape):
    id: str
    name: str
    slug: str
    contact_email: str
    is_active: bool


class CatalogView(Shape):
    id: str
    name: str
    currency: str
    ticket_types: list[TicketTypeView]
    addons: list[AddOnView]


class Saved[T](Shape):
    """A view plus whether the PUT created the record (201) or replaced it (200)."""

    created: bool
    item: T


def _conference_view(conf: store.Conference) -> ConferenceView:
    return ConferenceView(
        id=conf.conference_id,
        name=conf.name,
        currency=conf.currency,
        is_active=conf.is_active,
        stripe=StripeStatus(configured=conf.stripe_secret_name is not None),
        checkout_expiry_minutes=conf.checkout_expiry_minutes,
        order_hold_minutes=conf.order_hold_minutes,
        max_bulk_quantity=conf.max_bulk_quantity,
        ticket_capacity=conf.ticket_capacity,
        stripe_event_source=conf.stripe_event_source,
        created_at=conf.created_at,
        updated_at=conf.updated_at,
    )


def put_conference(conference_id: str, data: ConferenceInput) -> Saved[ConferenceView]:
    """Create or update a conference. Stripe keys go to Secrets Manager; the table gets the name.

    The currency cannot change once set: every stored price and amount is in its minor unit.
    """
    conf = store.get_conference(conference_id)
    created = conf is None
    if conf is None:
        conf = store.Conference.new(conference_id)
        conf.checkout_expiry_minutes = DEFAULT_CHECKOUT_EXPIRY_MINUTES
        conf.order_hold_minutes = DEFAULT_ORDER_HOLD_MINUTES
        conf.max_bulk_quantity = DEFAULT_MAX_BULK_QUANTITY
    elif conf.currency != data.currency:
        raise InvalidState(f"the conference's currency is {conf.currency} and cannot change")
    conf.name = data.name
    conf.currency = data.currency
    conf.set_active(data.is_active)
    for field in ("checkout_expiry_minutes", "order_hold_minutes", "max_bulk_quantity"):
        value = getattr(data, field)
        if value is not None:
            setattr(conf, field, value)
    if data.stripe_event_source is not None and data.stripe_event_source != conf.stripe_event_source:
        store.link_event_source(data.stripe_event_source, conference_id)
        conf.stripe_event_source = data.stripe_event_source
    if data.stripe is not None:
        conf.stripe_secret_name = secrets.store_stripe_keys(
            conference_id,
            secrets.StripeKeys(secret_key=data.stripe.secret_key, webhook_secret=data.stripe.webhook_secret),
        )
    if "ticket_capacity" in data.model_fields_set and (
        data.ticket_capacity is not None or conf.venue_counted
    ):
        conf.ticket_capacity = data.ticket_capacity
        conf.venue_counted = True
        counters.save_with_capacity(conf, conference_id, counters.VENUE, data.ticket_capacity)
    else:
        store.save_conference(conf)
    return Saved(created=created, item=_conference_view(conf))


def get_conference(conference_id: str, *, include_inactive: bool) -> store.Conference:
    """The conference, or NotFound. An inactive one exists only for staff."""
    conf = store.get_conference(conference_id)
    if conf is None or (not conf.is_active and not include_inactive):
        raise NotFound(f"conference {conference_id} not found")
    return conf


def _put_entry[E: "CatalogEntry"](
    conference_id: str, cls: type[E], entry_id: str, scope: str | None = None, **fields: object
) -> tuple[E, bool]:
    conference = get_conference(conference_id, include_inactive=True)
    price = fields.get("price")
    if isinstance(price, int):
        money.require_on_grid(price, conference.currency, ["body", "price"])
    pk, sk = cls.key(conference_id, entry_id)
    try:
        entry = cls.get(pk, sk, consistent_read=True)
        created = False
    except cls.DoesNotExist:
        entry = cls.new(conference_id, entry_id)
        created = True
    for name, value in fields.items():
        setattr(entry, name, value)
    if (
        scope is not None  # given with ticket types and add-ons, the entries that have a counter
        and isinstance(entry, store.TicketType | store.AddOn)
        and (fields.get("capacity") is not None or entry.counted)
    ):
        entry.counted = True
        capacity = fields.get("capacity")
        counters.save_with_capacity(
            entry, conference_id, scope, capacity if isinstance(capacity, int) else None
        )
    else:
        store.put_catalog_entry(entry)
    return entry, created


def _ticket_view(t: store.TicketType) -> TicketTypeView:
    return TicketTypeView(
        id=t.entry_id,
        name=t.name,
        price=t.price,
        bulk_enabled=t.bulk_enabled,
        requires_voucher=t.requires_voucher,
        capacity=t.capacity,
    )


def _addon_view(a: store.AddOn) -> AddOnView:
    return AddOnView(
        id=a.entry_id,
        name=a.name,
        price=a.price,
        bulk_enabled=a.bulk_enabled,
        capacity=a.capacity,
    )


def _with_availability[V: (TicketTypeView, AddOnView)](view: V, *lefts: int | None) -> V:
    """``available`` is the least of what the item's limits leave (null when none is limited)."""
    limits = [left for left in lefts if left is not None]
    available = min(limits) if limits else None
    return view.model_copy(update={"available": available, "sold_out": available == 0})


def put_ticket_type(conference_id: str, ticket_type_id: str, data: TicketTypeInput) -> Saved[TicketTypeView]:
    scope = counters.ticket_scope(ticket_type_id)
    entry, created = _put_entry(conference_id, store.TicketType, ticket_type_id, scope, **data.model_dump())
    counter = counters.get(conference_id, scope) if entry.counted else None
    view = _ticket_view(entry)
    return Saved(created=created, item=_with_availability(view, counter.available if counter else None))


def put_addon(conference_id: str, addon_id: str, data: AddOnInput) -> Saved[AddOnView]:
    scope = counters.addon_scope(addon_id)
    entry, created = _put_entry(conference_id, store.AddOn, addon_id, scope, **data.model_dump())
    counter = counters.get(conference_id, scope) if entry.counted else None
    return Saved(
        created=created, item=_with_availability(_addon_view(entry), counter.available if counter else None)
    )


def put_sponsor(conference_id: str, sponsor_id: str, data: SponsorInput) -> Saved[SponsorView]:
    entry, created = _put_entry(conference_id, store.Sponsor, sponsor_id, **data.model_dump())
    return Saved(
        created=created,
        item=SponsorView(
            id=entry.entry_id,
            name=entry.name,
            slug=entry.slug,
            contact_email=entry.contact_email,
            is_active=entry.is_active,
        ),
    )


def catalog(conference_id: str, *, include_hidden: bool) -> CatalogView:
    """What an attendee can buy, each item with ``available`` (null when unlimited) and ``sold_out``.

    Ticket types that need a voucher are listed only for staff. A ticket's ``available`` is also
    within the venue's. The counters are read in one batch after the catalog's one query.
    """
    conf: store.Conference | None = None
    ticket_items: list[store.TicketType] = []
    addon_items: list[store.AddOn] = []
    for item in store.catalog_items(conference_id):
        if isinstance(item, store.Conference):
            conf = item
        elif isinstance(item, store.TicketType) and (include_hidden or not item.requires_voucher):
            ticket_items.append(item)
        elif isinstance(item, store.AddOn):
            addon_items.append(item)
    if conf is None or (not conf.is_active and not include_hidden):
        raise NotFound(f"conference {conference_id} not found")
    scopes = [counters.ticket_scope(t.entry_id) for t in ticket_items if t.counted]
    scopes += [counters.addon_scope(a.entry_id) for a in addon_items if a.counted]
    if conf.venue_counted:
        scopes.append(counters.VENUE)
    found = counters.get_many(conference_id, scopes)

    def left(scope: str) -> int | None:
        counter = found.get(scope)
        return counter.available if counter is not None else None

    venue = left(counters.VENUE)
    tickets = [
        _with_availability(_ticket_view(t), left(counters.ticket_scope(t.entry_id)), venue)
        for t in ticket_items
    ]
    addons = [_with_availability(_addon_view(a), left(counters.addon_scope(a.entry_id))) for a in addon_items]
    return CatalogView(
        id=conf.conference_id, name=conf.name, currency=conf.currency, ticket_types=tickets, addons=addons
    )
