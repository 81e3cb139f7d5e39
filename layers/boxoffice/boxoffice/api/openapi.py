"""The whole API's OpenAPI 3 document, generated from every router's own models.

Each function serves only its own routes, so the document is built from a resolver that
includes all routers (``ALL_ROUTERS``): it describes the union of every function's routes.
Routes declare their statuses and security (``boxoffice.api.contract``); this module adds the
bearer scheme and replaces the error schemas Powertools adds on its own (its 422 and 500
bodies) with docs/api.md "Errors", which is what the resolver's error handlers really send. 401 and 413
may also come from API Gateway itself, in its ``{"message"}`` shape (found by the fuzz lane).
It is built on first request and kept for the container's life.
"""

import json
from functools import cache
from typing import Any

from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

from boxoffice.api import make_resolver
from boxoffice.api.contract import BEARER_SCHEME, GATEWAY_STATUSES, GatewayMessage
from boxoffice.api.routes import ALL_ROUTERS

POWERTOOLS_ERROR_SCHEMAS = ("HTTPValidationError", "ValidationError", "ResponseValidationError")
"""Schemas Powertools adds for its own error bodies; ours never send them."""


def _uses(node: Any, ref: str) -> bool:
    if isinstance(node, dict):
        return node.get("$ref") == ref or any(_uses(v, ref) for v in node.values())
    if isinstance(node, list):
        return any(_uses(v, ref) for v in node)
    return False


@cache
def openapi_document() -> dict[str, Any]:
    """The document as a dict (the route serves it as JSON; tests read it)."""
    app = make_resolver(*ALL_ROUTERS())
    text = app.get_openapi_json_schema(
        title="Boxoffice",
        version="1.0.0",
        summary="Conference voucher sales, orders, refunds and store credit",
        description=(
            'Every non-2xx answer has the shape {"error": {"code", "message", "details"}} '
            "(schema ErrorBody); see docs/api.md. Amounts are integers in minor units."
        ),
        security_schemes={
            BEARER_SCHEME: HTTPBearer(
                bearerFormat="JWT",
                description="A Cognito ID token (locally: HS256, iss boxoffice-local, aud boxoffice)",
            )
        },
    )
    document: dict[str, Any] = json.loads(text)
    error_ref = {"$ref": "#/components/schemas/ErrorBody"}
    either = {"anyOf": [error_ref, {"$ref": "#/components/schemas/GatewayMessage"}]}
    for operations in document["paths"].values():
        for operation in operations.values():
            if not operation.get("parameters") and "requestBody" not in operation:
                operation["responses"].pop("422", None)  # nothing to validate, nothing to refuse
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    media = response.setdefault("content", {}).setdefault("application/json", {})
                    media["schema"] = either if status in GATEWAY_STATUSES else error_ref
    schemas = document["components"]["schemas"]
    schemas["GatewayMessage"] = GatewayMessage.model_json_schema()
    for name in POWERTOOLS_ERROR_SCHEMAS:
        if name in schemas and not _uses(document["paths"], f"#/components/schemas/{name}"):
            del schemas[name]
    return document


@cache
def openapi_json() -> str:
    """The document as the JSON text ``GET /v1/openapi.json`` answers with."""
    return json.dumps(openapi_document(), separators=(",", ":"))
