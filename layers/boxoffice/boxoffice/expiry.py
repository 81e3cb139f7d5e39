"""The scheduled sweep, run every few minutes for every active conference.

Today it recovers Stripe events: it republishes records left unprocessed and reconciles against
Stripe's event list. Order and purchase expiry join it with their issues. One conference failing
does not stop the others; once all were tried the sweep raises, so the function's error alarm
fires and Lambda retries it (every step is idempotent).
"""

from pydantic import BaseModel

from boxoffice import store, stripe_events
from boxoffice.observability import logger


class SweepFailed(Exception):
    """Some conferences could not be swept; the others were."""


class SweepReport(BaseModel):
    conferences: int
    events_admitted: int
    events_republished: int
    failures: list[str]


def sweep() -> SweepReport:
    admitted = republished = 0
    failures: list[str] = []
    conference_ids = store.list_active_conference_ids()
    for conference_id in conference_ids:
        try:
            republished += stripe_events.republish_stale(conference_id)
            result = stripe_events.reconcile(conference_id)
            admitted += result.admitted if result else 0
        except Exception:
            logger.exception("sweep failed for a conference", extra={"conference_id": conference_id})
            failures.append(conference_id)
    if failures:
        raise SweepFailed(f"sweep failed for {', '.join(failures)}")
    return SweepReport(
        conferences=len(conference_ids),
        events_admitted=admitted,
        events_republished=republished,
        failures=failures,
    )
