"""What each route declares in the OpenAPI document: its statuses, the error shape, its security.

Routes pass ``responses=answers(...)`` and ``security=BEARER`` to their decorators, so the
document (``boxoffice.api.openapi``) lists every status a route can answer, each error with
the error schema of docs/api.md "Errors", and the JWT bearer scheme on every route that needs
a token. Nothing here runs per request. Errors refer to the ``ErrorBody`` schema by reference: its model
lives with the document, so a route module (the webhook's) can declare its answers without
loading pydantic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse, OpenAPIResponseContentModel

if TYPE_CHECKING:
    from pydantic import BaseModel

ErrorCode = Literal[
    "bad_request",
    "unauthenticated",
    "forbidden",
    "not_found",
    "invalid_state",
    "idempotency_conflict",
    "sold_out",
    "payload_too_large",
    "validation_error",
    "payment_provider_error",
    "unavailable",
    "internal_error",
]
"""Every ``error.code`` the API answers with (docs/api.md "Errors")."""


ERROR_BODY_REF = "#/components/schemas/ErrorBody"
"""The one error schema (``boxoffice.api.openapi.ErrorBody``) every error answer refers to."""

GATEWAY_STATUSES = ("401", "413")
"""Statuses API Gateway answers on its own, in its own shape, besides ours."""

BEARER_SCHEME = "bearerAuth"
BEARER: list[dict[str, list[str]]] = [{BEARER_SCHEME: []}]
"""The security requirement of every route that needs a signed-in caller."""

ERROR_DESCRIPTIONS: dict[int, tuple[str, ErrorCode]] = {
    400: ("Malformed request: bad JSON, a body where none is taken, a bad header", "bad_request"),
    401: ("Missing, expired or invalid bearer token", "unauthenticated"),
    403: ("The caller's role may not do this", "forbidden"),
    404: ("No such record (also another tenant's records) or route", "not_found"),
    409: (
        "The record's state forbids the action, or the Idempotency-Key was used differently",
        "invalid_state",
    ),
    413: ("The request line, headers or body are too large", "payload_too_large"),
    422: ("Field problems, listed in error.details", "validation_error"),
    500: ("A bug on our side; never caused by what the client sent", "internal_error"),
    502: ("Stripe failed; safe to retry", "payment_provider_error"),
    503: ("A dependency failed; nothing changed, safe to retry", "unavailable"),
}

ALWAYS = (400, 413, 500)
"""Statuses any route can answer: before routing (sizes, bodies) and for bugs."""

SIGNED_IN = (401, 422)
"""Statuses of every route that needs a token and validates its path."""


def _error(status: int) -> OpenAPIResponse:
    description, code = ERROR_DESCRIPTIONS[status]
    return {
        "description": description,
        "content": {
            "application/json": {
                "schema": {"$ref": ERROR_BODY_REF},
                "examples": {code: {"value": {"error": {"code": code, "message": description}}}},
            }
        },
    }


def answers(
    ok: int,
    *errors: int,
    description: str = "Success",
    also_ok: tuple[int, ...] = (),
    public: bool = False,
    model: type[BaseModel] | None = None,
    example: dict[str, Any] | None = None,
    content: dict[str, Any] | None = None,
) -> dict[int, OpenAPIResponse]:
    """The ``responses=`` of a route: ``ok`` (and ``also_ok``), then its errors.

    The success body is ``model`` (with ``example``) when given, else the route's return type;
    ``content`` replaces it outright (e.g. JSON and CSV). Errors always include 400, 413 and
    500; a route that is not ``public`` also answers 401 and 422 (each validates its path).
    """
    success: OpenAPIResponse = {"description": description}
    if content is not None:
        success["content"] = content
    elif model is not None:
        media: OpenAPIResponseContentModel = {"model": model}
        if example is not None:
            media["examples"] = {"example": {"value": example}}
        success["content"] = {"application/json": media}
    out: dict[int, OpenAPIResponse] = {status: success for status in (ok, *also_ok)}
    statuses = set(errors) | set(ALWAYS) | (set() if public else set(SIGNED_IN))
    for status in sorted(statuses):
        out[status] = _error(status)
    return out
