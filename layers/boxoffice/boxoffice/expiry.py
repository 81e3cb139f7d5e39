"""The scheduled sweep, run every few minutes for every active conference and, for 30 days, every
deactivated one (``store.list_settling_conference_ids``): money in flight settles either way.

It recovers Stripe events (republishes records left unprocessed, reconciles against Stripe's
event list), settles bulk purchases whose checkout session expired by asking Stripe which way
each went, cancels pending orders whose hold ended (expiring their sessions first), finishes
refunds a crash left pending, expires store credit past its date, and last audits the books on
what changed since its previous run (``books.sweep_changes``), flagging each break with
``attention`` and a metric. A failing conference or step does not stop the others; once all were
tried the sweep raises, so the function's error alarm fires and Lambda retries it (every step is
idempotent).
"""

from collections.abc import Callable

from boxoffice import books, bulk_purchases, credits, orders, refunds, store, stripe_events
from boxoffice.observability import logger
from boxoffice.shapes import Shape


class SweepFailed(Exception):
    """Some conferences could not be swept; the others were."""


class SweepReport(Shape):
    conferences: int
    events_admitted: int
    events_republished: int
    purchases_settled: int
    orders_cancelled: int
    books_breaks: int = 0
    failures: list[str]


def _admitted(conference_id: str) -> int:
    result = stripe_events.reconcile(conference_id)
    return result.admitted if result else 0


STEPS: dict[str, Callable[[str], int]] = {
    "republished": stripe_events.republish_stale,
    "admitted": _admitted,
    "settled": bulk_purchases.sweep_expired,
    "cancelled": orders.sweep_expired_holds,
    "announced": orders.announce_unannounced,
    "refunds_finished": refunds.finish_stale_pending,
    "credits_expired": credits.expire_credits,
    "books_breaks": books.sweep_changes,
}
"""Each step of the sweep, by the count it reports. Every step is idempotent."""


def sweep() -> SweepReport:
    """Every step for every conference whose money still moves (the active ones, and those deactivated
    within the settling window); a step that fails is reported and the rest still run."""
    counts = dict.fromkeys(STEPS, 0)
    failures: list[str] = []
    conference_ids = store.list_settling_conference_ids()
    for conference_id in conference_ids:
        for name, step in STEPS.items():
            try:
                counts[name] += step(conference_id)
            except Exception:
                logger.exception("sweep step failed", extra={"conference_id": conference_id, "step": name})
                failures.append(f"{conference_id}:{name}")
    if failures:
        raise SweepFailed(f"sweep failed for {', '.join(failures)}")
    return SweepReport(
        conferences=len(conference_ids),
        events_admitted=counts["admitted"],
        events_republished=counts["republished"],
        purchases_settled=counts["settled"],
        orders_cancelled=counts["cancelled"],
        books_breaks=counts["books_breaks"],
        failures=failures,
    )
