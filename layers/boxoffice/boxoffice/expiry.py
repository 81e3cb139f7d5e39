"""The scheduled sweep, run every few minutes for every active conference.

It recovers Stripe events (republishes records left unprocessed, reconciles against Stripe's
event list), settles bulk purchases whose checkout session expired by asking Stripe which way
each went, cancels pending orders whose hold ended (expiring their sessions first), finishes
refunds a crash left pending, and expires store credit past its date. One
conference failing does not stop the others; once all were tried the sweep raises, so the function's error alarm
fires and Lambda retries it (every step is idempotent).
"""

from pydantic import BaseModel

from boxoffice import bulk_purchases, credits, orders, refunds, store, stripe_events
from boxoffice.observability import logger


class SweepFailed(Exception):
    """Some conferences could not be swept; the others were."""


class SweepReport(BaseModel):
    conferences: int
    events_admitted: int
    events_republished: int
    purchases_settled: int
    orders_cancelled: int
    failures: list[str]


def sweep() -> SweepReport:
    admitted = republished = purchases_settled = orders_cancelled = 0
    failures: list[str] = []
    conference_ids = store.list_active_conference_ids()
    for conference_id in conference_ids:
        try:
            republished += stripe_events.republish_stale(conference_id)
            result = stripe_events.reconcile(conference_id)
            admitted += result.admitted if result else 0
            purchases_settled += bulk_purchases.sweep_expired(conference_id)
            orders_cancelled += orders.sweep_expired_holds(conference_id)
            refunds.finish_stale_pending(conference_id)
            credits.expire_credits(conference_id)
        except Exception:
            logger.exception("sweep failed for a conference", extra={"conference_id": conference_id})
            failures.append(conference_id)
    if failures:
        raise SweepFailed(f"sweep failed for {', '.join(failures)}")
    return SweepReport(
        conferences=len(conference_ids),
        events_admitted=admitted,
        events_republished=republished,
        purchases_settled=purchases_settled,
        orders_cancelled=orders_cancelled,
        failures=failures,
    )
