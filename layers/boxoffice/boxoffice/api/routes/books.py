"""The books: the audit of a conference's records against each other and Stripe (staff, read-only).

Served by the refunds function: it already holds the permission to read the conference's Stripe
secret, which the audit needs to list Stripe's refunds, sessions and events.
"""

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from boxoffice import books
from boxoffice.api.context import current_caller
from boxoffice.api.contract import BEARER, answers
from boxoffice.api.routes.conferences import ConferenceId
from boxoffice.books import Audit

router = Router()

Limit = Annotated[int, Query(ge=1, le=books.MAX_LIMIT)]


@router.get(
    "/v1/conferences/<cid>/audit",
    summary="Check the books: the invariants of docs/domain.md against our records and Stripe, paged (staff)",
    tags=["books"],
    security=BEARER,
    responses=answers(200, 403, 404, 502),
)
def audit(
    cid: ConferenceId,
    limit: Limit = 50,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> Audit:
    current_caller(router).require_staff(cid)
    return books.audit_conference(cid, limit=limit, cursor=cursor)
