"""Builds API Gateway HTTP API (payload v2.0) events, the shape the real gateway sends.

The local runner and the tests both use this, and a unit test holds its output to the
samples in ``events/``. JWT claims go where the JWT authorizer puts them, with arrays
flattened to ``"[a b]"`` strings as API Gateway does.
"""

import base64
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl


def flatten_claims(claims: dict[str, Any]) -> dict[str, str]:
    """API Gateway hands every claim over as a string; arrays become ``"[a b]"``."""
    flat: dict[str, str] = {}
    for key, value in claims.items():
        if isinstance(value, list | tuple):
            flat[key] = "[" + " ".join(str(v) for v in value) + "]"
        elif isinstance(value, bool):
            flat[key] = "true" if value else "false"
        else:
            flat[key] = str(value)
    return flat


def http_api_event(
    method: str,
    path: str,
    *,
    route_key: str,
    path_parameters: dict[str, str] | None = None,
    query: str = "",
    headers: dict[str, str] | None = None,
    body: bytes | str | None = None,
    claims: dict[str, Any] | None = None,
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    """One HTTP API v2.0 proxy event."""
    now = time.time()
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    query_params: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        query_params[key] = f"{query_params[key]},{value}" if key in query_params else value
    raw_body: str | None = None
    is_base64 = False
    if body:
        if isinstance(body, bytes):
            try:
                raw_body = body.decode()
            except UnicodeDecodeError:
                raw_body, is_base64 = base64.b64encode(body).decode(), True
        else:
            raw_body = body
    request_context: dict[str, Any] = {
        "accountId": "123456789012",
        "apiId": "local",
        "domainName": "localhost",
        "domainPrefix": "localhost",
        "http": {
            "method": method.upper(),
            "path": path,
            "protocol": "HTTP/1.1",
            "sourceIp": source_ip,
            "userAgent": lowered.get("user-agent", ""),
        },
        "requestId": uuid.uuid4().hex,
        "routeKey": route_key,
        "stage": "$default",
        "time": datetime.fromtimestamp(now, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(now * 1000),
    }
    if claims is not None:
        request_context["authorizer"] = {"jwt": {"claims": flatten_claims(claims), "scopes": None}}
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": lowered,
        "requestContext": request_context,
        "isBase64Encoded": is_base64,
    }
    if query_params:
        event["queryStringParameters"] = query_params
    if path_parameters:
        event["pathParameters"] = path_parameters
    if raw_body is not None:
        event["body"] = raw_body
    return event
