"""The one table, its polymorphic item model, and the guarded state transition.

Single-table design: every entity is a subclass of :class:`Item`, told apart by a
discriminator attribute. Every item carries a :class:`VersionAttribute`, so PynamoDB adds
``version = :loaded`` to each update and transaction by itself; :func:`transition` adds the
state machine's rule (the allowed from-states) on top. Together they make duplicates,
retries and races harmless.
"""

import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Self

from pynamodb.attributes import (
    Attribute,
    DiscriminatorAttribute,
    ListAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.connection import Connection
from pynamodb.constants import NUMBER
from pynamodb.exceptions import TransactWriteError, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from boxoffice import snapstart
from boxoffice.config import settings
from boxoffice.errors import InvalidState


def now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class IntAttribute(Attribute[int]):
    """A whole number (an amount in minor units, a count, epoch seconds), read back as ``int``.

    PynamoDB's ``NumberAttribute`` is typed ``float``, which put an ``int(...)`` around every amount.
    This one is stored as the same DynamoDB number (a whole ``NumberAttribute`` value reads the same
    here, and the other way round), so switching a declaration changes no item. It writes only
    ``int``s: a float (even 2.0), a bool or a string raises ``TypeError``, so a fraction of a cent is
    never stored. Reading a stored fraction raises ``ValueError`` rather than rounding it away.
    """

    attr_type = NUMBER

    def serialize(self, value: int) -> str:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{self.attr_name} takes an int, not {type(value).__name__} {value!r}")
        return str(value)

    def deserialize(self, value: str) -> int:
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise ValueError(f"{self.attr_name}: {value!r} is not a number") from None
        if not number.is_finite() or number != number.to_integral_value():
            raise ValueError(f"{self.attr_name}: stored {value!r} is not a whole number")
        return int(number)


class UnicodeListAttribute(ListAttribute[str]):
    """A list of strings, typed ``list[str]`` (PynamoDB types ``ListAttribute(of=UnicodeAttribute)``
    as a list of attributes). Stored exactly as that declaration stores it."""

    def __init__(
        self,
        *,
        null: bool | None = None,
        default: Callable[[], list[str]] | None = None,
        attr_name: str | None = None,
    ) -> None:
        super().__init__(null=null, default=default, attr_name=attr_name)
        self.element_type = UnicodeAttribute


class Gsi1(GlobalSecondaryIndex["Item"]):
    """Generic index one: sparse lists such as the active conferences."""

    class Meta:
        index_name = "GSI1"
        projection = AllProjection()

    GSI1PK = UnicodeAttribute(hash_key=True)
    GSI1SK = UnicodeAttribute(range_key=True)


class Gsi2(GlobalSecondaryIndex["Item"]):
    """Generic index two, for a second lookup by another key."""

    class Meta:
        index_name = "GSI2"
        projection = AllProjection()

    GSI2PK = UnicodeAttribute(hash_key=True)
    GSI2SK = UnicodeAttribute(range_key=True)


class Item(Model):
    """Base of every entity in the one table."""

    class Meta:
        table_name = settings().table_name

    PK = UnicodeAttribute(hash_key=True)
    SK = UnicodeAttribute(range_key=True)
    entity = DiscriminatorAttribute()
    version = VersionAttribute()
    created_at = UTCDateTimeAttribute(default_for_new=now)
    updated_at = UTCDateTimeAttribute(default=now)
    GSI1PK = UnicodeAttribute(null=True)
    GSI1SK = UnicodeAttribute(null=True)
    GSI2PK = UnicodeAttribute(null=True)
    GSI2SK = UnicodeAttribute(null=True)
    ttl = IntAttribute(null=True)

    gsi1 = Gsi1()
    gsi2 = Gsi2()


def _models() -> list[type[Item]]:
    """``Item`` and every subclass defined so far, parents first."""
    found: list[type[Item]] = []
    pending: list[type[Item]] = [Item]
    while pending:
        model = pending.pop(0)
        found.append(model)
        pending.extend(model.__subclasses__())
    return found


def make_client() -> None:
    """Make the table's DynamoDB client now, rather than in the first request. Sends nothing.

    ``Item``'s connection is made first, so every subclass without one of its own shares it:
    one botocore session (and one parsed service model) and one client for the process.
    """
    for model in _models():
        model._get_connection().connection.client  # noqa: B018 - made now, used by requests


def forget_client() -> None:
    """Drop the models' DynamoDB clients; the next request makes one, with new connections and
    credentials, from the same botocore session, whose loaded service model stays."""
    for model in _models():
        if model._connection is not None:
            model._connection.connection._client = None


snapstart.after_restore(forget_client)


def get_or_none[T: Item](cls: type[T], key: tuple[str, str]) -> T | None:
    """A consistent read of one item by its key, or None when it does not exist."""
    try:
        return cls.get(*key, consistent_read=True)
    except cls.DoesNotExist:
        return None


@dataclass(frozen=True)
class StateMachine:
    """Allowed moves between states: ``edges[from_state]`` is the set of states it may go to."""

    edges: Mapping[str, frozenset[str]]

    @classmethod
    def of(cls, edges: Mapping[str, Iterable[str]]) -> Self:
        return cls({src: frozenset(dsts) for src, dsts in edges.items()})

    def sources(self, to_state: str) -> frozenset[str]:
        """The states from which ``to_state`` may be reached."""
        return frozenset(src for src, dsts in self.edges.items() if to_state in dsts)

    def allows(self, from_state: str, to_state: str) -> bool:
        return to_state in self.edges.get(from_state, frozenset())


class TransitionRejected(InvalidState):
    """The guard failed: the record's state (or version) was not what the move requires."""

    def __init__(self, message: str, current: Item | None = None) -> None:
        super().__init__(message)
        self.current = current

    def current_as[T: Item](self, model: type[T]) -> T:
        """The record as it is now, as the ``model`` that was moved; this error again if it is gone."""
        if not isinstance(self.current, model):
            raise self
        return self.current


def _transition_parts(
    item: Item, to_state: str, machine: StateMachine, actions: Iterable[Action], attr: str
) -> tuple[Any, list[Action]]:
    attribute = getattr(type(item), attr)
    sources = machine.sources(to_state)
    if not sources:
        raise ValueError(f"no state may move to {to_state!r}")
    condition = attribute.is_in(*sorted(sources))
    return condition, [attribute.set(to_state), type(item).updated_at.set(now()), *actions]


def transition[I: Item](
    item: I,
    to_state: str,
    machine: StateMachine,
    actions: Iterable[Action] = (),
    *,
    attr: str = "status",
) -> I:
    """Move ``item`` to ``to_state`` with one conditional update, or raise TransitionRejected.

    The condition is the state machine's rule (current state is one of the states that may
    reach ``to_state``) plus the version PynamoDB loaded. ``actions`` are applied in the same
    write. On rejection the item is re-read so the caller can see what won.
    """
    condition, all_actions = _transition_parts(item, to_state, machine, actions, attr)
    try:
        item.update(actions=all_actions, condition=condition)
    except UpdateError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise
        current = type(item).get(item.PK, item.SK, consistent_read=True)
        raise TransitionRejected(
            f"{type(item).__name__.lower()} is {getattr(current, attr)}; cannot move to {to_state}",
            current=current,
        ) from exc
    return item


def update_if(item: Item, actions: Iterable[Action], condition: Any) -> bool:
    """One conditional update (stamping ``updated_at``); False, with nothing written, when the
    condition does not hold. For guards that are not state moves: amounts, flags, leases."""
    try:
        item.update(
            actions=[*actions, type(item).updated_at.set(now())],
            condition=condition,
            add_version_condition=False,
        )
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


def transaction(client_request_token: str | None = None) -> TransactWrite:
    """A write transaction on the table. A ``client_request_token`` makes a retried commit a no-op."""
    return TransactWrite(connection=Connection(), client_request_token=client_request_token)


def transition_in(
    transaction: TransactWrite,
    item: Item,
    to_state: str,
    machine: StateMachine,
    actions: Iterable[Action] = (),
    *,
    attr: str = "status",
    also: Any = None,
) -> None:
    """Add the same guarded move to a transaction, so it commits with other writes or not at all.
    ``also`` is a further condition on the item (a transaction names an item once)."""
    condition, all_actions = _transition_parts(item, to_state, machine, actions, attr)
    if also is not None:
        condition &= also
    transaction.update(item, actions=all_actions, condition=condition)


def is_condition_failure(exc: Exception) -> bool:
    """True when a write or transaction failed only because a guard condition was false."""
    if isinstance(exc, TransactWriteError):
        reasons = exc.cancellation_reasons or []
        return any(r is not None and r.code == "ConditionalCheckFailed" for r in reasons)
    return getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException"


def is_conflict(exc: Exception) -> bool:
    """True when a transaction was cancelled because another one held one of its items (retry it)."""
    reasons = exc.cancellation_reasons if isinstance(exc, TransactWriteError) else None
    return any(r is not None and r.code == "TransactionConflict" for r in reasons or [])


class StaleRead(Exception):
    """Raised by a write attempt whose guard failed on state it read before: read again and retry."""


def back_off(attempt: int) -> None:
    """Jittered exponential wait (up to 20 ms times 2**attempt) before trying a cancelled write again."""
    time.sleep(random.uniform(0, 0.02 * 2**attempt))


def retry_on_conflict[T](attempt: Callable[[], T], *, attempts: int = 5) -> T:
    """Run ``attempt`` until it commits: again, after :func:`back_off`, when DynamoDB cancelled its
    transaction for a concurrent one on the same item (``TransactionConflict``), or when it raised
    :class:`StaleRead` because what it read moved meanwhile. ``attempt`` reads what it needs itself,
    so each round decides on fresh state. The last round's error is raised as it is.
    """
    for n in range(attempts):
        try:
            return attempt()
        except (TransactWriteError, StaleRead) as exc:
            if n + 1 == attempts or not (isinstance(exc, StaleRead) or is_conflict(exc)):
                raise
        back_off(n)
    raise AssertionError("unreachable: the last attempt returns or raises")


MAX_ATTENTION = 2000
"""Attention reasons are appended; the text is cut at this length."""


def add_attention(item: Any, reason: str, *, attempts: int = 4) -> bool:
    """Append ``reason`` to the record's ``attention`` unless it is already there. Returns whether it wrote.

    Conditional on the text read, so a reason someone else set meanwhile is kept, never clobbered:
    on a race the record is read again and the reason appended to what is there now.
    """
    model = type(item)
    for _ in range(attempts):
        current = item.attention
        if current and reason in current:
            return False
        text = (f"{current}; {reason}" if current else reason)[:MAX_ATTENTION]
        condition = model.attention.does_not_exist() if current is None else (model.attention == current)
        if update_if(item, [model.attention.set(text)], condition & model.PK.exists()):
            item.attention = text
            return True
        fresh = get_or_none(model, (item.PK, item.SK))
        if fresh is None:
            return False
        item = fresh
    return False
