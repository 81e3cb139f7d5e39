"""Vouchers: one item per code, keyed by (conference, code), with no index.

Redemption is a conditional update on the one item, so it scales with codes and never meets a hot
partition. Bulk codes are written in 25-item batch writes (unprocessed items retried by PynamoDB);
that is safe only because a purchase's codes are written by the one fulfillment holding its lease,
and a resumed fulfillment skips the codes that already exist.
"""

from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.exceptions import UpdateError

from boxoffice.store.base import (
    IntAttribute,
    Item,
    StaleRead,
    UnicodeListAttribute,
    get_or_none,
    is_condition_failure,
    now,
)

BATCH_GET_SIZE = 100


class Voucher(Item, discriminator="voucher"):
    conference_id = UnicodeAttribute()
    code = UnicodeAttribute()
    voucher_type = UnicodeAttribute()
    discount_value = IntAttribute(default=0)
    max_uses = IntAttribute()
    times_used = IntAttribute(default=0)
    valid_from = UTCDateTimeAttribute(null=True)
    valid_until = UTCDateTimeAttribute(null=True)
    unlocks_hidden_tickets = BooleanAttribute(default=False)
    is_active = BooleanAttribute(default=True)
    ticket_type_ids = UnicodeListAttribute(default=list)
    addon_ids = UnicodeListAttribute(default=list)
    bulk_purchase_id = UnicodeAttribute(null=True)

    @classmethod
    def key(cls, conference_id: str, code: str) -> tuple[str, str]:
        return f"VOUCHER#{conference_id}#{code}", "VOUCHER"


def get_voucher(conference_id: str, code: str) -> Voucher | None:
    return get_or_none(Voucher, Voucher.key(conference_id, code))


def get_vouchers(conference_id: str, codes: Sequence[str]) -> dict[str, Voucher]:
    """The existing vouchers among ``codes``, by code (100 keys a request, unprocessed keys retried)."""
    found: dict[str, Voucher] = {}
    keys = [Voucher.key(conference_id, c) for c in codes]
    for voucher in Voucher.batch_get(keys, consistent_read=True):
        if isinstance(voucher, Voucher):
            found[voucher.code] = voucher
    return found


class LeaseEnded(StaleRead):
    """The fulfilment lease these codes were written under is over: another holder may write them."""


def put_new_vouchers(vouchers: Iterable[Voucher], *, until: datetime | None = None, workers: int = 8) -> int:
    """Write vouchers in 25-item batch writes, ``workers`` batches in flight. Returns the count.

    Unconditional puts: the caller guarantees none of these codes exists (see module docstring),
    by holding the purchase's lease; no batch starts at or after ``until`` (raises LeaseEnded), so a
    late batch never lands on a code another holder wrote and an attendee redeemed meanwhile.
    """
    chunks: list[list[Voucher]] = []
    for voucher in vouchers:
        if not chunks or len(chunks[-1]) == 25:
            chunks.append([])
        chunks[-1].append(voucher)

    def write(chunk: list[Voucher]) -> int:
        if until is not None and now() >= until:
            raise LeaseEnded(f"the fulfilment lease ran out before {len(chunk)} codes were written")
        with Voucher.batch_write() as batch:
            for voucher in chunk:
                batch.save(voucher)
        return len(chunk)

    if len(chunks) <= 1:
        return sum(write(c) for c in chunks)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return sum(pool.map(write, chunks))


def deactivate(conference_id: str, codes: Sequence[str], *, workers: int = 8) -> int:
    """Set ``is_active`` false on every existing code, keeping ``times_used``. Returns how many changed.

    One conditional update per code: a redemption racing the refund is never overwritten.
    """
    return _set_active(conference_id, codes, False, workers=workers)


def reactivate(conference_id: str, codes: Sequence[str], *, workers: int = 8) -> int:
    """The refund that turned the codes off failed at the bank: they work again. Returns how many changed."""
    return _set_active(conference_id, codes, True, workers=workers)


def _set_active(conference_id: str, codes: Sequence[str], active: bool, *, workers: int) -> int:
    def one(code: str) -> int:
        voucher = Voucher(*Voucher.key(conference_id, code))
        try:
            voucher.update(
                actions=[Voucher.is_active.set(active), Voucher.updated_at.set(now())],
                condition=Voucher.PK.exists() & (Voucher.is_active == (not active)),
                add_version_condition=False,
            )
        except UpdateError as exc:
            if is_condition_failure(exc):
                return 0
            raise
        return 1

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return sum(pool.map(one, codes))


def iter_vouchers(conference_id: str, codes: Sequence[str]) -> Iterator[Voucher]:
    """Vouchers for ``codes`` in the given order, skipping codes not (yet) written."""
    for start in range(0, len(codes), BATCH_GET_SIZE):
        chunk = codes[start : start + BATCH_GET_SIZE]
        found = get_vouchers(conference_id, chunk)
        yield from (found[c] for c in chunk if c in found)


def redeemed_count(vouchers: Iterable[Voucher]) -> int:
    return sum(1 for v in vouchers if v.times_used > 0)


def window_contains(voucher: Voucher, at: datetime) -> bool:
    """Both ends inclusive."""
    return (voucher.valid_from is None or voucher.valid_from <= at) and (
        voucher.valid_until is None or at <= voucher.valid_until
    )


def redemption_condition(at: datetime, units: int, max_uses: int) -> Any:
    """The voucher may give ``units`` uses now: active, in its window (inclusive), and
    ``times_used + units <= max_uses`` (``max_uses`` as read, and unchanged since)."""
    return (
        (Voucher.is_active == True)  # noqa: E712 - a DynamoDB condition, not a Python comparison
        & (Voucher.max_uses == max_uses)
        & (Voucher.times_used <= max_uses - units)
        & (Voucher.valid_from.does_not_exist() | (Voucher.valid_from <= at))
        & (Voucher.valid_until.does_not_exist() | (Voucher.valid_until >= at))
    )


def redeem_in(tx: Any, conference_id: str, code: str, units: int, max_uses: int, at: datetime) -> None:
    """Add to ``tx`` taking ``units`` uses of the voucher, guarded by :func:`redemption_condition`
    (``max_uses`` as read); the voucher must exist."""
    tx.update(
        Voucher(*Voucher.key(conference_id, code)),
        actions=[Voucher.times_used.add(units), Voucher.updated_at.set(at)],
        condition=Voucher.PK.exists() & redemption_condition(at, units, max_uses),
        add_version_condition=False,
    )


def give_back_in(tx: Any, conference_id: str, code: str, units: int) -> None:
    """Add to ``tx`` giving ``units`` uses back to the voucher, never below 0 (the guard fails instead)."""
    tx.update(
        Voucher(*Voucher.key(conference_id, code)),
        actions=[Voucher.times_used.add(-units)],
        condition=Voucher.times_used >= units,
        add_version_condition=False,
    )
