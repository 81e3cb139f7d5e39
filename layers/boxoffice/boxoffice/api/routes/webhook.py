"""``POST /v1/webhooks/stripe/<cid>``: Stripe's deliveries, the webhook function's one route.

Nothing here loads pydantic, and the webhook function's resolver validates nothing
(``make_resolver(validate=False)``): the body is checked by its signature and then read by
``strict_json`` (``stripe_intake``), and the path by the pattern below, with the answer a
validated route would give. So a cold webhook function imports the resolver, this route and
intake; the store, boto3 and the Stripe SDK load with the first delivery.
"""

import re

from aws_lambda_powertools.event_handler.api_gateway import Router

from boxoffice import stripe_intake
from boxoffice.api.contract import answers
from boxoffice.errors import ValidationFailed
from boxoffice.patterns import CONFERENCE_ID_PATTERN

webhook_router = Router()

WEBHOOK_MAX_BODY_BYTES = 256 * 1024
"""Stripe's events are far smaller; the cap keeps a stored event well under DynamoDB's 400 KB item."""

RECEIVED_SCHEMA = {
    "type": "object",
    "title": "Received",
    "required": ["received"],
    "properties": {"received": {"type": "boolean", "title": "Received"}},
}
_CONFERENCE_ID = re.compile(CONFERENCE_ID_PATTERN)


def _check_conference_id(cid: str) -> None:
    """A 422 like a validated route's when ``cid`` is not a conference slug."""
    if not _CONFERENCE_ID.match(cid):
        raise ValidationFailed(
            "the request has invalid fields",
            [
                {
                    "loc": ["path", "cid"],
                    "msg": f"String should match pattern '{CONFERENCE_ID_PATTERN}'",
                    "type": "string_pattern_mismatch",
                }
            ],
        )


@webhook_router.post(
    "/v1/webhooks/stripe/<cid>",
    summary="Stripe webhook endpoint of a conference (signed by Stripe, no JWT)",
    tags=["stripe events"],
    responses=answers(
        200,
        404,
        422,
        503,
        public=True,
        description="Recorded (also duplicates and ignored types)",
        content={"application/json": {"schema": RECEIVED_SCHEMA}},
    ),
)
def stripe_webhook(cid: str) -> dict[str, bool]:
    _check_conference_id(cid)
    event = webhook_router.current_event
    stripe_intake.receive_webhook(cid, event.body or "", event.headers.get("stripe-signature"))
    return {"received": True}
