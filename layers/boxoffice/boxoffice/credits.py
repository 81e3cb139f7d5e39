"""Store credit: listing, applying a credit to an order, giving it back, and expiry.

Applying runs the original service's checks in its order, each with its own message:
available; remaining > 0; order pending; same user; same conference; unpaid balance > 0. Then one
transaction: a ``credit`` payment of min(remaining, balance); the credit's remaining amount (and
``applied`` at 0) with an entry in its ledger; and, if the order is covered, the order paid with
its hold cleared. Both the credit and the order are guarded by the amounts that were read, so
concurrent applications can neither overspend a credit nor over-cover an order. ``order.paid`` is
announced once, and only when the order becomes paid.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import ConfigDict, Field

from boxoffice import lazy, store
from boxoffice.errors import InvalidState, NotFound, ValidationFailed
from boxoffice.shapes import Shape

if TYPE_CHECKING:
    from pynamodb import exceptions as pynamodb_errors

    from boxoffice.store import credits as records
    from boxoffice.store import orders as order_records
else:
    pynamodb_errors = lazy.module("pynamodb.exceptions")
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
    from boxoffice import orders

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
        if int(credit.remaining_amount) <= 0:
            raise CreditError("the credit has nothing left")
        order = order_records.get(conference_id, order_id)
        if order is None:
            raise NotFound(f"order {order_id} not found")
        if order.status != order_records.PENDING:
            raise CreditError(f"the order is {order.status}; credit applies only to a pending order")
        if order.user_id != credit.user_id:
            raise _refused("the credit and the order belong to different users")
        if order.conference_id != credit.conference_id or order.currency != credit.currency:
            raise _refused("the credit and the order belong to different conferences")
        balance = int(order.total) - int(order.amount_paid)
        if balance <= 0:
            raise CreditError("the order is already covered")
        if (
            order.checkout_session_id
            and order.checkout_expires_at
            and order.checkout_expires_at > store.now()
        ):
            # An open Checkout Session still asks for the old balance; close it first, so the
            # card cannot collect what the credit covers (a paid one is recorded instead).
            orders.close_open_session(order)
            continue
        amount = min(int(credit.remaining_amount), balance)
        try:
            payment = _apply_once(credit, order, amount)
        except pynamodb_errors.TransactWriteError as exc:
            if store.is_condition_failure(exc) or _conflict(exc):
                continue  # someone else moved the credit or the order: read again and re-check
            raise
        if amount == balance:
            order.status = order_records.PAID
            orders.announce_paid(order)
        return payment
    raise InvalidState("the credit or the order kept changing; retry")


def _conflict(exc: pynamodb_errors.TransactWriteError) -> bool:
    return any(r is not None and r.code == "TransactionConflict" for r in exc.cancellation_reasons or [])


def _apply_once(credit: records.Credit, order: order_records.Order, amount: int) -> order_records.Payment:
    at = store.now()
    payment_id = f"pay_cr_{secrets.token_hex(6)}"
    payment = order_records.Payment(
        *order_records.Payment.key(order.conference_id, order.order_id, payment_id),
        conference_id=order.conference_id, order_id=order.order_id, payment_id=payment_id,
        method="credit", status="succeeded", amount=amount, credit_id=credit.credit_id,
    )  # fmt: skip
    remaining = int(credit.remaining_amount) - amount
    covered = amount == int(order.total) - int(order.amount_paid)
    with store.transaction() as tx:
        tx.update(
            credit,
            actions=[
                records.Credit.remaining_amount.set(remaining),
                records.Credit.status.set(records.APPLIED if remaining == 0 else records.AVAILABLE),
                records.Credit.applications.set(
                    (records.Credit.applications | []).append(
                        [records.Application(order_id=order.order_id, amount=amount, at=at)]
                    )
                ),
                records.Credit.updated_at.set(at),
            ],
            condition=(records.Credit.status == records.AVAILABLE)
            & records.Credit.attention.does_not_exist()
            & (records.Credit.remaining_amount == int(credit.remaining_amount)),
            add_version_condition=False,
        )
        order_actions = [
            order_records.Order.amount_paid.add(amount),
            order_records.Order.refundable_total.add(amount),
            order_records.Order.updated_at.set(at),
        ]
        if covered:
            order_actions += [
                order_records.Order.status.set(order_records.PAID),
                *order_records.await_announcement(order),
            ]
        tx.update(
            order,
            actions=order_actions,
            condition=(order_records.Order.status == order_records.PENDING)
            & (order_records.Order.amount_paid == int(order.amount_paid))
            # A checkout that opened a session meanwhile asks for the old balance: read again, close it.
            & (
                order_records.Order.checkout_session_id.does_not_exist()
                if order.checkout_session_id is None
                else order_records.Order.checkout_session_id == order.checkout_session_id
            ),
            add_version_condition=False,
        )
        tx.save(payment, condition=order_records.Payment.PK.does_not_exist())
    return payment


type CreditReturn = tuple[order_records.Payment, records.Credit, int]


def credit_returns(order: order_records.Order) -> list[CreditReturn]:
    """What cancelling ``order`` gives back: each succeeded credit payment, capped at its credit's amount."""
    found: list[CreditReturn] = []
    for payment in order_records.payments_of(order.conference_id, order.order_id):
        if payment.method != "credit" or payment.status != "succeeded" or not payment.credit_id:
            continue
        credit = records.get(order.conference_id, payment.credit_id)
        if credit is not None:
            found.append(
                (payment, credit, min(int(payment.amount), int(credit.amount) - int(credit.remaining_amount)))
            )
    return found


def add_credit_returns(tx: Any, returns: Sequence[CreditReturn]) -> None:
    """Add the returns to the cancelling transaction, each guarded by what was read."""
    for payment, credit, back in returns:
        tx.update(
            payment,
            actions=[order_records.Payment.status.set("refunded")],
            condition=order_records.Payment.status == "succeeded",
            add_version_condition=False,
        )
        tx.update(
            credit,
            actions=[
                records.Credit.remaining_amount.add(back),
                records.Credit.status.set(
                    records.EXPIRED if credit.status == records.EXPIRED else records.AVAILABLE
                ),
                records.Credit.updated_at.set(store.now()),
            ],
            condition=records.Credit.remaining_amount == int(credit.remaining_amount),
            add_version_condition=False,
        )


def expire_credits(conference_id: str, credits: Sequence[records.Credit] | None = None) -> int:
    """Mark available credits past ``expires_at`` as expired."""
    now = store.now()
    expired = 0
    for credit in credits if credits is not None else records.iter_conference_credits(conference_id):
        if credit.status != records.AVAILABLE or credit.expires_at is None or credit.expires_at >= now:
            continue
        try:
            credit.update(
                actions=[records.Credit.status.set(records.EXPIRED), records.Credit.updated_at.set(now)],
                condition=records.Credit.status == records.AVAILABLE,
                add_version_condition=False,
            )
            expired += 1
        except Exception as exc:
            if not store.is_condition_failure(exc):
                raise
    return expired
