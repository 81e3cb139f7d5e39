"""Rendering every failure in the error shape of docs/api.md "Errors", with the right status.

The one mapping is the domain's own: each ``boxoffice.errors`` class carries its status and
code, and ``error_response`` renders any of them, in the resolver's exception handlers and (as
``raw_error``) for what the Lambda handler refuses before routing. Powertools' own refusals
(request validation, no such route) are rendered as the domain error they amount to.
A 500 is always a bug: unexpected exceptions are logged with their stack and answered with a
generic message that leaks nothing.
"""

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from boxoffice.errors import BadRequest, BoxofficeError, NotFound, ValidationFailed
from boxoffice.observability import logger


def error_body(code: str, message: str, details: Any = None) -> str:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return json.dumps({"error": error})


def error_response(exc: BoxofficeError) -> Response[str]:
    """``exc`` as the resolver's answer: its status, its code, its message and details."""
    return Response(
        status_code=exc.status,
        content_type=content_types.APPLICATION_JSON,
        body=error_body(exc.code, exc.message, exc.details),
    )


def raw_error(exc: BoxofficeError) -> dict[str, Any]:
    """The same error as an API Gateway v2 proxy result, for answers given before routing."""
    return {
        "statusCode": exc.status,
        "headers": {"Content-Type": content_types.APPLICATION_JSON},
        "body": error_body(exc.code, exc.message, exc.details),
        "isBase64Encoded": False,
    }


def _field_problems(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Pydantic's errors without ``input`` and ``ctx``, which could echo a secret back."""
    return [
        {
            "loc": [str(part) for part in err.get("loc", ())],
            "msg": err.get("msg", ""),
            "type": err.get("type", ""),
        }
        for err in exc.errors()
    ]


def register_error_handlers(app: APIGatewayHttpResolver) -> None:
    """Attach the mapping from exceptions to the statuses and codes of docs/api.md "Errors"."""

    @app.exception_handler(BoxofficeError)
    def _domain(exc: BoxofficeError) -> Response[str]:
        if exc.status >= 500:
            logger.warning("request failed upstream", extra={"error_code": exc.code})
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    def _validation(exc: RequestValidationError) -> Response[str]:
        invalid = next((e for e in exc.errors() if e.get("type") == "json_invalid"), None)
        if invalid is not None:
            # The reason is the parser's own sentence (strict_json's never quote the input).
            reason = (invalid.get("ctx") or {}).get("error")
            suffix = f": {reason}" if isinstance(reason, str) and reason else ""
            return error_response(BadRequest(f"the request body is not valid JSON{suffix}"))
        return error_response(ValidationFailed("the request has invalid fields", _field_problems(exc)))

    @app.not_found
    def _no_route(_: Exception) -> Response[str]:
        return error_response(NotFound("no such route"))

    @app.exception_handler(Exception)
    def _bug(exc: Exception) -> Response[str]:
        logger.exception("unhandled error", extra={"error_type": type(exc).__name__})
        return Response(
            status_code=500,
            content_type=content_types.APPLICATION_JSON,
            body=error_body("internal_error", "something went wrong on our side; it has been logged"),
        )
