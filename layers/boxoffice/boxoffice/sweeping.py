"""The sweep settles many items per step (expired checkouts, holds past their end, refunds a crash
left pending): each on its own, so one that fails (a session Stripe no longer knows after a move to
another account, a conflict out of retries, Stripe down for one call) never stops the others. What
failed is logged and raised once every item was tried, so the sweep's alarm fires and the next run
tries those again (every step is idempotent)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from boxoffice.observability import logger


class SweepIncomplete(Exception):
    """Some items could not be settled this run; every other one was."""


def settle_each[T](
    items: Iterable[T], settle: Callable[[T], int], *, what: str, key: Callable[[T], str]
) -> int:
    """``settle`` every item, each alone; returns the sum of what they report. Raises
    :class:`SweepIncomplete` naming the ones that raised, after the rest were settled."""
    settled, failed = 0, []
    for item in items:
        try:
            settled += settle(item)
        except Exception:
            failed.append(key(item))
            logger.exception(f"{what} not settled", extra={"item": failed[-1]})
    if failed:
        raise SweepIncomplete(f"{what} not settled: {', '.join(failed)}")
    return settled
