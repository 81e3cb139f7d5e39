"""HTTP conventions shared by every function's resolver (API.md "Conventions").

``make_resolver`` builds a Powertools ``APIGatewayHttpResolver`` with validation, the error
shape and the routers a function serves. ``lambda_handler`` wraps it with the checks that
must happen before routing (body size, content type) and JSON logs with correlation ids.
"""

import base64
import sys
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from boxoffice.api.errors import raw_error, register_error_handlers
from boxoffice.observability import logger

MAX_BODY_BYTES = 64 * 1024
"""Largest request body accepted. API Gateway allows 10 MB; nothing here needs more than this."""


def make_resolver(*routers: Router) -> APIGatewayHttpResolver:
    """A resolver with request validation, the error shape, and ``routers`` included."""
    app = APIGatewayHttpResolver(enable_validation=True, response_validation_error_http_code=500)
    register_error_handlers(app)
    if "boxoffice.api.idempotency" in sys.modules:  # some route honours Idempotency-Key
        from boxoffice.api.idempotency import register_idempotency_errors

        register_idempotency_errors(app)
    for router in routers:
        app.include_router(router)
    return app


def _body_size(event: dict[str, Any]) -> int:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return len(body) * 3 // 4
    return len(body.encode()) if isinstance(body, str) else len(body)


def _precheck(event: dict[str, Any], max_body_bytes: int) -> dict[str, Any] | None:
    """Refuse what must not reach routing: oversize bodies and non-JSON bodies."""
    if _body_size(event) > max_body_bytes:
        return raw_error(413, "payload_too_large", f"the request body is larger than {max_body_bytes} bytes")
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    content_type = headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if event.get("body") and content_type not in ("application/json", ""):
        return raw_error(400, "bad_request", "send the request body as application/json")
    if event.get("body") and event.get("isBase64Encoded"):
        try:
            event["body"] = base64.b64decode(event["body"], validate=True).decode()
            event["isBase64Encoded"] = False
        except ValueError:
            return raw_error(400, "bad_request", "the request body is not valid base64-encoded UTF-8")
    return None


def lambda_handler(
    app: APIGatewayHttpResolver, *, max_body_bytes: int = MAX_BODY_BYTES
) -> Callable[[dict[str, Any], LambdaContext], dict[str, Any]]:
    """The Lambda entry point for ``app``: prechecks, correlation ids, then routing."""

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        result = _precheck(event, max_body_bytes) or app.resolve(event, context)
        logger.info(
            "request handled",
            extra={"route": event.get("routeKey"), "status": result.get("statusCode")},
        )
        return result

    return handler
