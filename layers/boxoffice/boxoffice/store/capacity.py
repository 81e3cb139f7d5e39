"""Capacity counters: how many units of an item (or of the venue) are held, and how many are free.

One counter item per capacity scope, each its own partition (a hot key takes ~1,000 writes/s):

- ``CAP#{cid}#ticket#{id}``, ``CAP#{cid}#addon#{id}``: one ticket type or add-on;
- ``CAP#{cid}#venue``: the conference's ``ticket_capacity``, shared by every ticket type.

``held`` counts units held by pending orders, sold to paid ones, and held by sponsor blocks.
``free`` is ``capacity - held``, kept in step by every write so a condition can compare it
(DynamoDB conditions cannot subtract two attributes). A counter without ``capacity`` is unlimited
but still counts, so a capacity set later starts from what is really held. An item that never had
a capacity has no counter and its sales write nothing here.

Taking units is an ``ADD`` guarded by ``free >= units`` inside the caller's transaction (the order's
creation, a purchase's move to processing or approved); giving them back is an unguarded ``ADD``
inside the transaction whose state move makes it happen once (cancel, expiry, release flags).
"""

from collections.abc import Iterable, Mapping
from typing import Any

from pynamodb.attributes import UnicodeAttribute
from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from boxoffice.errors import BoxofficeError, InvalidState
from boxoffice.store.base import IntAttribute, Item, get_or_none, now, transaction

VENUE = "venue"


def ticket_scope(ticket_type_id: str) -> str:
    return f"ticket#{ticket_type_id}"


def addon_scope(addon_id: str) -> str:
    return f"addon#{addon_id}"


def describe(scope: str) -> dict[str, str]:
    """How a scope is named to clients in ``sold_out`` details."""
    if scope == VENUE:
        return {"venue": "ticket_capacity"}
    kind, _, entry = scope.partition("#")
    return {"ticket_type_id": entry} if kind == "ticket" else {"addon_id": entry}


class SoldOut(BoxofficeError):
    """The request does not fit what is left; ``details`` names each item and what is left."""

    status, code = 409, "sold_out"


class Counter(Item, discriminator="capacity_counter"):
    conference_id = UnicodeAttribute()
    scope = UnicodeAttribute()
    capacity = IntAttribute(null=True)
    """Absent: unlimited (the counter still counts)."""
    held = IntAttribute(default=0)
    free = IntAttribute(default=0)
    """``capacity - held`` while a capacity is set; meaningless (and never read) while unlimited."""

    @classmethod
    def key(cls, conference_id: str, scope: str) -> tuple[str, str]:
        return f"CAP#{conference_id}#{scope}", "CAP"

    @property
    def available(self) -> int | None:
        return None if self.capacity is None else max(self.capacity - self.held, 0)


def _ref(conference_id: str, scope: str) -> Counter:
    return Counter(*Counter.key(conference_id, scope), conference_id=conference_id, scope=scope)


def take_in(tx: TransactWrite, conference_id: str, units: Mapping[str, int]) -> list[str]:
    """Add ``held += n`` per scope to ``tx``, each guarded by ``free >= n`` unless unlimited.

    Returns the scopes in the order their writes were added, so a cancellation reason (which
    comes back with the counter's old image) can be told apart from the caller's other writes.
    """
    scopes = [s for s, n in units.items() if n > 0]
    for scope in scopes:
        n = units[scope]
        tx.update(
            _ref(conference_id, scope),
            actions=[
                Counter.held.add(n),
                Counter.free.add(-n),
                Counter.conference_id.set(conference_id),
                Counter.scope.set(scope),
            ],
            condition=Counter.capacity.does_not_exist() | (Counter.free >= n),
            return_values="ALL_OLD",
            add_version_condition=False,
        )
    return scopes


def give_back_in(tx: TransactWrite, conference_id: str, units: Mapping[str, int]) -> None:
    """Add ``held -= n`` per scope to ``tx``. Unguarded: the caller's state move makes it once."""
    for scope, n in units.items():
        if n > 0:
            tx.update(
                _ref(conference_id, scope),
                actions=[Counter.held.add(-n), Counter.free.add(n)],
                add_version_condition=False,
            )


def take_unguarded_in(tx: TransactWrite, conference_id: str, units: Mapping[str, int]) -> None:
    """Add ``held += n`` per scope to ``tx`` with no guard: only for units someone already paid for
    (a block coming back with its purchase), where refusing is worse than an overrun the caller flags."""
    for scope, n in units.items():
        if n > 0:
            tx.update(
                _ref(conference_id, scope),
                actions=[Counter.held.add(n), Counter.free.add(-n)],
                add_version_condition=False,
            )


def sold_out(
    exc: TransactWriteError, first_index: int, scopes: list[str], units: Mapping[str, int]
) -> SoldOut | None:
    """The SoldOut a cancelled transaction means, when one of its counter guards failed, else None.

    What is left comes from the old image DynamoDB returns with the failed guard (no extra read).
    """
    reasons = exc.cancellation_reasons or []
    short: list[dict[str, Any]] = []
    for offset, scope in enumerate(scopes):
        i = first_index + offset
        reason = reasons[i] if i < len(reasons) else None
        if reason is None or reason.code != "ConditionalCheckFailed":
            continue
        left = 0
        raw = reason.raw_item or {}
        if "capacity" in raw:
            left = max(int(raw["capacity"]["N"]) - int(raw.get("held", {"N": "0"})["N"]), 0)
        short.append({**describe(scope), "requested": int(units[scope]), "available": left})
    if not short:
        return None
    names = ", ".join(next(iter(d.values())) for d in short)
    return SoldOut(f"not enough left of: {names}", details=short)


def get(conference_id: str, scope: str) -> Counter | None:
    return get_or_none(Counter, Counter.key(conference_id, scope))


def get_many(conference_id: str, scopes: Iterable[str]) -> dict[str, Counter]:
    keys = [Counter.key(conference_id, s) for s in set(scopes)]
    if not keys:
        return {}
    return {c.scope: c for c in Counter.batch_get(keys, consistent_read=True) if isinstance(c, Counter)}


def set_capacity_in(
    tx: TransactWrite, conference_id: str, scope: str, capacity: int | None, current: Counter | None
) -> None:
    """Add the counter's new capacity to ``tx``, guarded by the ``held`` that was read.

    Lowering below what is held is refused here (InvalidState with the held count); a racer that
    moved ``held`` meanwhile fails the guard, and the caller reads again.
    """
    held = current.held if current is not None else 0
    if capacity is not None and capacity < held:
        raise InvalidState(
            f"{held} units are held; the capacity cannot go below that",
            details={**describe(scope), "held": held},
        )
    guard = Counter.held == held if current is not None else Counter.PK.does_not_exist()
    actions: list[Any] = [
        Counter.conference_id.set(conference_id),
        Counter.scope.set(scope),
        Counter.held.set(held),
        Counter.updated_at.set(now()),
    ]
    if capacity is None:
        actions += [Counter.capacity.remove(), Counter.free.set(0)]
    else:
        actions += [Counter.capacity.set(capacity), Counter.free.set(capacity - held)]
    tx.update(_ref(conference_id, scope), actions=actions, condition=guard, add_version_condition=False)


CAPACITY_ATTEMPTS = 5


def save_with_capacity(entry: Item, conference_id: str, scope: str, capacity: int | None) -> None:
    """Save ``entry`` and its counter's capacity in one transaction, so they never disagree.

    The entry is guarded by its version (a concurrent edit wins, InvalidState), the counter by the
    ``held`` that was read: a sale that moved it meanwhile makes us read it again. Lowering the
    capacity below what is held is refused with the held count.
    """
    for _ in range(CAPACITY_ATTEMPTS):
        current = get(conference_id, scope)
        entry.updated_at = now()
        try:
            with transaction() as tx:
                tx.save(entry)
                set_capacity_in(tx, conference_id, scope, capacity, current)
            return
        except TransactWriteError as exc:
            reasons = exc.cancellation_reasons or []
            if reasons and reasons[0] is not None and reasons[0].code == "ConditionalCheckFailed":
                raise InvalidState(
                    f"{type(entry).__name__} changed concurrently; read it again and retry"
                ) from exc
            if not reasons:
                raise
    raise InvalidState("units were being held while the capacity changed; retry")
