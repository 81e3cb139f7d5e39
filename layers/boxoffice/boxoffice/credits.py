"""Store credit: listing, applying a credit to an order, and expiry (cancelling an order gives
its credit back: ``store.orders.cancel_order``).

Applying runs the original service's checks in its order, each with its own message:
available; remaining > 0; order pending; same user; same conference; unpaid balance > 0. Then one
transaction (``store.orders.apply_credit``): a ``credit`` payment of min(remaining, balance); the
credit's remaining amount (and ``applied`` at 0) with an entry in its ledger; and, if the order is covered, the order paid with
its hold cleared. Both the credit and the order are guarded by the amounts that were read, so
concurrent applications can neither overspend a credit nor over-cover an order. ``order.paid`` is
announced once, and only when the order becomes paid.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated

from pydantic import ConfigDict, Field

from boxoffice import lazy, store
from boxoffice.errors import InvalidState, NotFound, ValidationFailed
from boxoffice.orders import payments as order_payments
from boxoffice.shapes import Shape

if TYPE_CHECKING:
    from boxoffice.store import credits as records
    from boxoffice.store import orders as order_records
else:
    records = lazy.module("boxoffice.store.credits")
    order_records = lazy.module("boxoffice.store.orders")

ATTEMPTS = 5


class ApplyCredit(Shape):
    model_config = ConfigDict(extra="forbid", strict=True)

    order_id: Annotated[str, Field(pattern=r"^ord_[a-f0-9]{16}$")]


class CreditError(InvalidState):
    """A credit cannot be applied to that order; the message says which check failed."""


def _refused(message: str) -> ValidationFailed:
    return ValidationFailed(
        message, details=[{"loc": ["body", "order_id"], "msg": message, "type": "credit_refused"}]
    )


def list_credits(
    conference_id: str, *, user_id: str | None, limit: int, cursor: str | None
) -> tuple[list[records.Credit], str | None]:
    from boxoffice.pagination import decode_cursor, encode_cursor

    store.require_conference(conference_id)
    expected = (
        {"GSI2PK": f"UCREDITS#{conference_id}#{user_id}"}
        if user_id
        else {"GSI1PK": f"CREDITS#{conference_id}"}
    )
    found, last = records.list_credits(
        conference_id, user_id, limit=limit, cursor=decode_cursor(cursor, expected, attributes=4)
    )
    return found, encode_cursor(last)


def apply(
    conference_id: str, credit_id: str, order_id: str, *, user_id: str, is_staff: bool
) -> order_records.Payment:
    """Apply a credit to a pending order; returns the ``credit`` payment."""
    store.require_conference(conference_id)
    for _ in range(ATTEMPTS):
        credit = records.get(conference_id, credit_id)
        if credit is None or (not is_staff and credit.user_id != user_id):
            raise NotFound(f"credit {credit_id} not found")
        if credit.status != records.AVAILABLE:
            raise CreditError(f"the credit is {credit.status}, not available")
        if credit.attention is not None:
            raise CreditError(f"the credit is frozen until staff look at it: {credit.attention}")
        if credit.expires_at is not None and credit.expires_at < store.now():
            raise CreditError("the credit has expired")
        if credit.remaining_amount <= 0:
            raise CreditError("the credit has nothing left")
        sources = _sources(conference_id, credit)
        disputed = [o for o in sources if o.dispute and not order_records.chargeback_counted(o)]
        if disputed:
            # The bank may give the money this credit stands for back: spent meanwhile, it would be
            # paid twice. It waits for the dispute (won, it is spendable again; lost, what it paid
            # twice is frozen by attention, and a credit of the undisputed rest is spendable).
            raise CreditError(f"the payment of an order it came from is disputed ({disputed[0].dispute})")
        order = order_records.get(conference_id, order_id)
        if order is None:
            raise NotFound(f"order {order_id} not found")
        if order.status != order_records.PENDING:
            raise CreditError(f"the order is {order.status}; credit applies only to a pending order")
        if order.user_id != credit.user_id:
            raise _refused("the credit and the order belong to different users")
        if order.conference_id != credit.conference_id or order.currency != credit.currency:
            raise _refused("the credit and the order belong to different conferences")
        balance = order.total - order.amount_paid
        if balance <= 0:
            raise CreditError("the order is already covered")
        if order.settling:
            # A bank debit for the whole balance may still land: the credit would pay it twice.
            raise CreditError("the order's payment is still settling at the bank")
        if (
            order.checkout_session_id
            and order.checkout_expires_at
            and order.checkout_expires_at > store.now()
        ):
            # An open Checkout Session still asks for the old balance; close it first, so the
            # card cannot collect what the credit covers (a paid one is recorded instead).
            order_payments.close_open_session(order)
            continue
        amount = min(credit.remaining_amount, balance)
        try:
            payment = order_records.apply_credit(credit, order, amount, sources)
        except order_records.OrderMoved:
            continue  # someone else moved the credit or the order: read again and re-check
        if amount == balance:
            order.status = order_records.PAID
            order_payments.announce_paid(order)
        return payment
    raise InvalidState("the credit or the order kept changing; retry")


def _sources(conference_id: str, credit: records.Credit, depth: int = 5) -> list[order_records.Order]:
    """The orders the credit's money came through: the order that issued it, and the orders whose
    credits paid that one (the same money, passed on), a few generations back."""
    found: list[order_records.Order] = []
    frontier, seen = [credit], set()
    for _ in range(depth):
        parents: list[records.Credit] = []
        for current in frontier:
            if not current.source_order_id or current.source_order_id in seen:
                continue
            seen.add(current.source_order_id)
            order = order_records.get(conference_id, current.source_order_id)
            if order is None:
                continue
            found.append(order)
            for payment in order_records.payments_of(conference_id, order.order_id):
                if payment.method == "credit" and payment.status == "succeeded" and payment.credit_id:
                    parent = records.get(conference_id, payment.credit_id)
                    if parent is not None:
                        parents.append(parent)
        if not parents:
            break
        frontier = parents
    return found


def expire_credits(conference_id: str, credits: Sequence[records.Credit] | None = None) -> int:
    """Mark available credits past ``expires_at`` as expired."""
    now = store.now()
    expired = 0
    for credit in credits if credits is not None else records.iter_conference_credits(conference_id):
        if credit.status != records.AVAILABLE or credit.expires_at is None or credit.expires_at >= now:
            continue
        if records.expire(credit, now):
            expired += 1
    return expired
