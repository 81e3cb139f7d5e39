"""Stripe event routes for staff: list recorded events, replay one (the webhook is ``routes.webhook``)."""

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from boxoffice import stripe_events
from boxoffice.api.context import current_caller
from boxoffice.api.contract import BEARER, answers
from boxoffice.api.params import ConferenceId
from boxoffice.stripe_events import StripeEventPage, StripeEventView

router = Router()

EventId = Annotated[str, Path(pattern=r"^evt_[A-Za-z0-9]{1,250}$")]
Status = Annotated[stripe_events.Status, Query()]
Limit = Annotated[int, Query(ge=1, le=200)]


@router.get(
    "/v1/conferences/<cid>/stripe-events",
    summary="Recorded Stripe events by status, oldest first (staff)",
    tags=["stripe events"],
    security=BEARER,
    responses=answers(200, 403, 404),
)
def list_stripe_events(
    cid: ConferenceId,
    status: Status = "failed",
    limit: Limit = 50,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> StripeEventPage:
    current_caller(router).require_staff(cid)
    return stripe_events.list_events(cid, status, limit=limit, cursor=cursor)


@router.post(
    "/v1/conferences/<cid>/stripe-events/<event_id>/replay",
    summary="Queue a failed event for processing again (staff)",
    tags=["stripe events"],
    security=BEARER,
    responses=answers(202, 403, 404, 409, 503, description="Queued for processing"),
    status_code=202,
)
def replay_stripe_event(cid: ConferenceId, event_id: EventId) -> StripeEventView:
    current_caller(router).require_staff(cid)
    return stripe_events.replay(cid, event_id)
