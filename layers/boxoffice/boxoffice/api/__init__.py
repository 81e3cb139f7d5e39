"""HTTP conventions shared by every function's resolver (docs/api.md "Conventions").

``make_resolver`` builds a Powertools ``APIGatewayHttpResolver`` with validation, the error
shape and the routers a function serves. ``lambda_handler`` wraps it with the checks that
must happen before routing (sizes, method, content type, strict JSON) and JSON logs with
correlation ids. Every request body is read by ``boxoffice.strict_json``, here and in the
resolver, so hostile JSON is a 400 wherever it is sent.
"""

import base64
import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from boxoffice import strict_json
from boxoffice.api.errors import raw_error, register_error_handlers
from boxoffice.errors import BadRequest, BoxofficeError, PayloadTooLarge
from boxoffice.observability import logger

MAX_BODY_BYTES = 64 * 1024
"""Largest request body accepted. API Gateway allows 10 MB; nothing here needs more than this."""

MAX_REQUEST_HEAD_BYTES = 10240
"""API Gateway's quota on the request line and header values together (HTTP API, not raisable)."""

BODYLESS_METHODS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})
"""Methods whose requests this API never reads a body from; one sent with them is refused."""


def make_resolver(*routers: Router, validate: bool = True) -> APIGatewayHttpResolver:
    """A resolver with the error shape and ``routers`` included, validating requests by default.

    ``validate=False`` is for routers whose routes check their own input and take no pydantic
    model (the Stripe webhook): validation loads pydantic, most of such a function's cold start.
    """
    app = APIGatewayHttpResolver(
        enable_validation=validate,
        response_validation_error_http_code=500 if validate else None,
        json_body_deserializer=strict_json.loads,
    )
    register_error_handlers(app)
    for router in routers:
        app.include_router(router)
    return app


def _body_size(event: dict[str, Any]) -> int:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return len(body) * 3 // 4
    return len(body.encode()) if isinstance(body, str) else len(body)


def _head_size(event: dict[str, Any]) -> int:
    """Bytes of the request line and header values, as API Gateway counts them for its quota."""
    context = event.get("requestContext") or {}
    http = context.get("http") or {}
    line = f"{http.get('method', '')} {event.get('rawPath', '')}?{event.get('rawQueryString', '')} HTTP/1.1"
    headers = event.get("headers") or {}
    return len(line.encode()) + sum(len(f"{k}: {v}".encode()) for k, v in headers.items())


def _media_type(content_type: str) -> tuple[str, str]:
    """The lower-cased media type and charset (UTF-8 when unnamed) of a Content-Type value."""
    media_type, *parameters = content_type.split(";")
    charset = "utf-8"
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    return media_type.strip().lower(), charset


def _precheck(event: dict[str, Any], max_body_bytes: int, *, parse_body: bool) -> None:
    """Refuse (raise) what must not reach routing; return when the request may go on.

    Oversize heads and bodies are 413; a body on a method that takes none, a body that is not
    ``application/json`` in UTF-8, not base64 of UTF-8, or (when ``parse_body``) not strict JSON
    is 400. Nothing has been read or stored yet, so each refusal changes nothing.
    """
    if _head_size(event) > MAX_REQUEST_HEAD_BYTES:
        raise PayloadTooLarge(f"the request line and headers exceed {MAX_REQUEST_HEAD_BYTES} bytes")
    if _body_size(event) > max_body_bytes:
        raise PayloadTooLarge(f"the request body is larger than {max_body_bytes} bytes")
    if not event.get("body"):
        return
    method = ((event.get("requestContext") or {}).get("http") or {}).get("method", "").upper()
    if method in BODYLESS_METHODS:
        raise BadRequest(f"a {method} request takes no body")
    headers = event.get("headers") or {}
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "application/json")
    media_type, charset = _media_type(content_type)
    if media_type not in ("application/json", "") or charset not in ("utf-8", "utf8"):
        raise BadRequest("send the request body as application/json in UTF-8")
    # Powertools matches the media type case-sensitively; from here on it reads the plain form.
    event["headers"] = {
        **{k: v for k, v in headers.items() if k.lower() != "content-type"},
        "content-type": "application/json",
    }
    if event.get("isBase64Encoded"):
        try:
            event["body"] = base64.b64decode(event["body"], validate=True).decode()
            event["isBase64Encoded"] = False
        except ValueError as exc:
            raise BadRequest("the request body is not valid base64-encoded UTF-8") from exc
    if parse_body:
        try:
            strict_json.loads(event["body"])
        except json.JSONDecodeError as exc:
            raise BadRequest(f"the request body is not valid JSON: {exc.msg}") from exc


def lambda_handler(
    app: APIGatewayHttpResolver, *, max_body_bytes: int = MAX_BODY_BYTES, parse_body: bool = True
) -> Callable[[dict[str, Any], LambdaContext], dict[str, Any]]:
    """The Lambda entry point for ``app``: prechecks, correlation ids, then routing.

    ``parse_body=False`` leaves the body unread until the route has checked it, as the Stripe
    webhook must: it verifies the signature over the raw bytes first, then parses.
    """

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        try:
            _precheck(event, max_body_bytes, parse_body=parse_body)
        except BoxofficeError as exc:
            result = raw_error(exc)
        else:
            result = app.resolve(event, context)
        logger.info(
            "request handled",
            extra={"route": event.get("routeKey"), "status": result.get("statusCode")},
        )
        return result

    return handler
