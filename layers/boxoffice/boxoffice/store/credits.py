"""Store credit: one item per credit, listed per user (GSI2) and per conference (GSI1).

Every change of a credit's remaining amount is guarded by the amount the writer read, so
concurrent applications can never overspend it.
"""

from typing import Any

from pynamodb.attributes import (
    ListAttribute,
    MapAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)

from boxoffice.store.base import IntAttribute, Item, get_or_none

AVAILABLE, APPLIED, EXPIRED = "available", "applied", "expired"


class Application(MapAttribute[str, object]):
    """One use of a credit: which order, how much, when."""

    order_id = UnicodeAttribute()
    amount = IntAttribute()
    at = UTCDateTimeAttribute()


class Credit(Item, discriminator="credit"):
    conference_id = UnicodeAttribute()
    credit_id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    amount = IntAttribute()
    remaining_amount = IntAttribute()
    currency = UnicodeAttribute()
    status = UnicodeAttribute()
    source_order_id = UnicodeAttribute(null=True)
    applications = ListAttribute(of=Application, default=list)
    expires_at = UTCDateTimeAttribute(null=True)
    note = UnicodeAttribute(default="")
    attention = UnicodeAttribute(null=True)
    """Set when the money behind the credit also went back to the card: the credit is frozen."""

    @classmethod
    def key(cls, conference_id: str, credit_id: str) -> tuple[str, str]:
        return f"CREDIT#{conference_id}#{credit_id}", "CREDIT"

    def index(self) -> None:
        self.GSI1PK, self.GSI1SK = (
            f"CREDITS#{self.conference_id}",
            f"{self.created_at.isoformat()}#{self.credit_id}",
        )
        self.GSI2PK, self.GSI2SK = (
            f"UCREDITS#{self.conference_id}#{self.user_id}",
            f"{self.created_at.isoformat()}#{self.credit_id}",
        )


def get(conference_id: str, credit_id: str) -> Credit | None:
    return get_or_none(Credit, Credit.key(conference_id, credit_id))


def list_credits(
    conference_id: str, user_id: str | None, *, limit: int, cursor: dict[str, Any] | None
) -> tuple[list[Credit], dict[str, Any] | None]:
    if user_id is None:
        results = Credit.gsi1.query(f"CREDITS#{conference_id}", limit=limit, last_evaluated_key=cursor)
    else:
        results = Credit.gsi2.query(
            f"UCREDITS#{conference_id}#{user_id}", limit=limit, last_evaluated_key=cursor
        )
    return [c for c in results if isinstance(c, Credit)], results.last_evaluated_key


def iter_conference_credits(conference_id: str) -> list[Credit]:
    return [c for c in Credit.gsi1.query(f"CREDITS#{conference_id}") if isinstance(c, Credit)]
