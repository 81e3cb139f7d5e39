"""Store credit: one item per credit, listed per user (GSI2) and per conference (GSI1).

Every change of a credit's remaining amount is guarded by the amount the writer read, so
concurrent applications can never overspend it.
"""

from datetime import datetime
from typing import Any

from pynamodb.attributes import (
    ListAttribute,
    MapAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)

from boxoffice.store.base import IntAttribute, Item, get_or_none, is_condition_failure, now

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


def spend_in(tx: Any, credit: Credit, order_id: str, amount: int, at: datetime) -> None:
    """Add to ``tx`` taking ``amount`` off the credit for ``order_id``, with an entry in its ledger.

    Guarded by what was read: still available, not frozen, and the remaining amount unchanged, so
    concurrent applications can never overspend it. ``applied`` once nothing is left.
    """
    remaining = int(credit.remaining_amount) - amount
    tx.update(
        credit,
        actions=[
            Credit.remaining_amount.set(remaining),
            Credit.status.set(APPLIED if remaining == 0 else AVAILABLE),
            Credit.applications.set(
                (Credit.applications | []).append([Application(order_id=order_id, amount=amount, at=at)])  # type: ignore[no-untyped-call]
            ),
            Credit.updated_at.set(at),
        ],
        condition=(Credit.status == AVAILABLE)
        & Credit.attention.does_not_exist()
        & (Credit.remaining_amount == int(credit.remaining_amount)),
        add_version_condition=False,
    )


def give_back_in(tx: Any, credit: Credit, amount: int) -> None:
    """Add to ``tx`` giving ``amount`` back to the credit (an expired one stays expired), guarded by
    the remaining amount that was read."""
    tx.update(
        credit,
        actions=[
            Credit.remaining_amount.add(amount),
            Credit.status.set(EXPIRED if credit.status == EXPIRED else AVAILABLE),
            Credit.updated_at.set(now()),
        ],
        condition=Credit.remaining_amount == int(credit.remaining_amount),
        add_version_condition=False,
    )


def expire(credit: Credit, at: datetime) -> bool:
    """available → expired; False, with nothing written, when it is no longer available."""
    try:
        credit.update(
            actions=[Credit.status.set(EXPIRED), Credit.updated_at.set(at)],
            condition=Credit.status == AVAILABLE,
            add_version_condition=False,
        )
    except Exception as exc:
        if not is_condition_failure(exc):
            raise
        return False
    return True
