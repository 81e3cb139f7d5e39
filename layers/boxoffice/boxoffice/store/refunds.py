"""Refund records and the links that match Stripe's refunds to them.

A refund lives in its owner's partition (``BP#…`` for a bulk purchase), so an owner's refunds
are one query. ``RE#{cid}#{stripe_refund_id}`` is put once per Stripe refund: it is what makes a
refund seen by our API, by an event and by a reconciliation count once. Every write of a refund
is in :mod:`boxoffice.store.refund_writes`, which builds on these models and the owners' (this
module imports no owner's, so ``store.orders`` may read refunds without an import cycle).
"""

from collections.abc import Iterator
from datetime import datetime

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    UnicodeAttribute,
)

from boxoffice.store.base import IntAttribute, Item, StateMachine, UnicodeListAttribute, get_or_none

PENDING, SUCCEEDED, FAILED = "pending", "succeeded", "failed"
OWNER, EXTRA, UNMATCHED = "owner", "extra", "unmatched"
"""What a refund counts against: the owner's own payment (absent means this), money that is not
the owner's own payment (a duplicate), or a payment not recorded yet (its events are late)."""
MACHINE = StateMachine.of({PENDING: {SUCCEEDED, FAILED}, SUCCEEDED: {FAILED}})
"""pending → succeeded | failed (Stripe refused); succeeded → failed (the bank failed it later)."""


class Refund(Item, discriminator="refund"):
    conference_id = UnicodeAttribute()
    refund_id = UnicodeAttribute()
    order_id = UnicodeAttribute(null=True)
    bulk_purchase_id = UnicodeAttribute(null=True)
    payment_intent_id = UnicodeAttribute(null=True)
    amount = IntAttribute()
    currency = UnicodeAttribute()
    reason = UnicodeAttribute()
    note = UnicodeAttribute(default="")
    destination = UnicodeAttribute()
    status = UnicodeAttribute()
    source = UnicodeAttribute()
    stripe_refund_ids = UnicodeListAttribute(default=list)
    credit_id = UnicodeAttribute(null=True)
    split = JSONAttribute(null=True)
    """For card refunds: {payment_intent_id: amount}, newest intent first."""
    created_by = UnicodeAttribute(null=True)
    failure_reason = UnicodeAttribute(null=True)
    against = UnicodeAttribute(null=True)
    """OWNER (absent), EXTRA or UNMATCHED: see the constants."""
    request_hash = UnicodeAttribute(null=True)
    """A hash of the staff request that created it: the same Idempotency-Key with another body is refused."""

    @property
    def counts_against(self) -> str:
        return self.against or OWNER

    @classmethod
    def key(cls, owner_pk: str, refund_id: str) -> tuple[str, str]:
        return owner_pk, f"REFUND#{refund_id}"


class StripeRefundLink(Item, discriminator="stripe_refund_link"):
    owner_pk = UnicodeAttribute()
    refund_id = UnicodeAttribute()
    amount = IntAttribute(default=0)
    payment_intent_id = UnicodeAttribute(null=True)
    failed = BooleanAttribute(null=True)
    """Set once when this part failed at the bank, so its amount is given back exactly once."""

    @classmethod
    def key(cls, conference_id: str, stripe_refund_id: str) -> tuple[str, str]:
        return f"RE#{conference_id}#{stripe_refund_id}", "RE"


def get_refund(owner_pk: str, refund_id: str) -> Refund | None:
    return get_or_none(Refund, Refund.key(owner_pk, refund_id))


def list_refunds(owner_pk: str) -> list[Refund]:
    return [r for r in Refund.query(owner_pk, Refund.SK.startswith("REFUND#")) if isinstance(r, Refund)]


def get_link(conference_id: str, stripe_refund_id: str) -> StripeRefundLink | None:
    return get_or_none(StripeRefundLink, StripeRefundLink.key(conference_id, stripe_refund_id))


def stale_pending(conference_id: str, started_before: datetime) -> Iterator[Refund]:
    """The conference's refunds still pending that started before ``started_before`` (for the sweep)."""
    for refund in Refund.gsi1.query(pending_pk(conference_id), Refund.GSI1SK < started_before.isoformat()):
        if isinstance(refund, Refund):
            yield refund


def pending_pk(conference_id: str) -> str:
    return f"REFUNDS_PENDING#{conference_id}"
