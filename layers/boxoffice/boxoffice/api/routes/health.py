"""``GET /v1/health`` and ``GET /v1/openapi.json`` (both public)."""

from typing import Literal

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router

from boxoffice.api.contract import answers
from boxoffice.shapes import Shape

router = Router()


class Health(Shape):
    status: Literal["ok"]


@router.get(
    "/v1/health",
    summary="Liveness",
    tags=["health"],
    responses=answers(200, public=True, description="The API is up"),
)
def health() -> Health:
    return Health(status="ok")


@router.get(
    "/v1/openapi.json",
    summary="This API's OpenAPI 3 document",
    tags=["health"],
    responses=answers(
        200,
        public=True,
        description="The OpenAPI 3 document of every route",
        content={
            "application/json": {"schema": {"type": "object", "required": ["openapi", "info", "paths"]}}
        },
    ),
)
def openapi() -> Response[str]:
    from boxoffice.api.openapi import openapi_json  # every router's models: only this route pays for them

    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=openapi_json())
