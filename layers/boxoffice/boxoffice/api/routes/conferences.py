"""Conference setup routes: settings (admin), catalog entries (staff), catalog (signed in)."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body
from pydantic import BaseModel

from boxoffice import conferences
from boxoffice.api import examples
from boxoffice.api.context import current_caller
from boxoffice.api.contract import BEARER, answers
from boxoffice.api.params import ConferenceId, EntryId
from boxoffice.conferences import (
    AddOnInput,
    AddOnView,
    CatalogView,
    ConferenceInput,
    ConferenceView,
    SponsorInput,
    SponsorView,
    TicketTypeInput,
    TicketTypeView,
)

router = Router()


TAGS = ["conference setup"]


def _saved[V: BaseModel](saved: conferences.Saved[V]) -> Response[V]:
    """201 when the PUT created the record, 200 when it replaced it: the status varies, so a Response."""
    return Response(
        status_code=201 if saved.created else 200,
        content_type=content_types.APPLICATION_JSON,
        body=saved.item,
    )


@router.put(
    "/v1/conferences/<cid>",
    summary="Create or update a conference (admin)",
    tags=TAGS,
    security=BEARER,
    responses=answers(200, 403, 409, description="Created (201) or replaced (200)", also_ok=(201,)),
)
def put_conference(
    cid: ConferenceId,
    body: Annotated[
        ConferenceInput, Body(openapi_examples=examples.body_examples(conference=examples.CONFERENCE_INPUT))
    ],
) -> Response[ConferenceView]:
    current_caller(router).require_admin()
    return _saved(conferences.put_conference(cid, body))


@router.put(
    "/v1/conferences/<cid>/ticket-types/<entry_id>",
    summary="Create or update a ticket type (staff)",
    tags=TAGS,
    security=BEARER,
    responses=answers(200, 403, 404, 409, description="Created (201) or replaced (200)", also_ok=(201,)),
)
def put_ticket_type(
    cid: ConferenceId, entry_id: EntryId, body: Annotated[TicketTypeInput, Body()]
) -> Response[TicketTypeView]:
    current_caller(router).require_staff(cid)
    return _saved(conferences.put_ticket_type(cid, entry_id, body))


@router.put(
    "/v1/conferences/<cid>/addons/<entry_id>",
    summary="Create or update an add-on (staff)",
    tags=TAGS,
    security=BEARER,
    responses=answers(200, 403, 404, 409, description="Created (201) or replaced (200)", also_ok=(201,)),
)
def put_addon(
    cid: ConferenceId, entry_id: EntryId, body: Annotated[AddOnInput, Body()]
) -> Response[AddOnView]:
    current_caller(router).require_staff(cid)
    return _saved(conferences.put_addon(cid, entry_id, body))


@router.put(
    "/v1/conferences/<cid>/sponsors/<entry_id>",
    summary="Create or update a sponsor (staff)",
    tags=TAGS,
    security=BEARER,
    responses=answers(200, 403, 404, 409, description="Created (201) or replaced (200)", also_ok=(201,)),
)
def put_sponsor(
    cid: ConferenceId, entry_id: EntryId, body: Annotated[SponsorInput, Body()]
) -> Response[SponsorView]:
    current_caller(router).require_staff(cid)
    return _saved(conferences.put_sponsor(cid, entry_id, body))


@router.get(
    "/v1/conferences/<cid>/catalog",
    summary="What can be bought (signed in)",
    tags=TAGS,
    security=BEARER,
    responses=answers(200, 404),
)
def get_catalog(cid: ConferenceId) -> CatalogView:
    caller = current_caller(router)
    return conferences.catalog(cid, include_hidden=caller.is_staff(cid))
