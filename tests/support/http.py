"""Calling a function's real handler with API Gateway HTTP API v2.0 events."""

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from local.apigw import http_api_event
from local.lambda_runtime import LambdaContext
from local.template import load

ADMIN = {"sub": "user-admin", "email": "admin@example.com", "cognito:groups": ["admin"]}
STAFF = {"sub": "user-staff", "email": "staff@example.com", "cognito:groups": ["staff:demo"]}
OTHER_STAFF = {"sub": "user-staff-2", "email": "staff2@example.com", "cognito:groups": ["staff:other"]}
SPONSOR = {"sub": "user-sponsor", "email": "acme@example.com", "cognito:groups": ["sponsor:demo:acme"]}
ATTENDEE = {"sub": "user-attendee", "email": "attendee@example.com"}
OTHER_ATTENDEE = {"sub": "user-attendee-2", "email": "attendee2@example.com"}

ORDERS = "/v1/conferences/demo/orders"
"""The demo conference's orders collection."""
ATTENDEE_URLS = {
    "success_url": "https://attendee.example/ok",
    "cancel_url": "https://attendee.example/cancel",
}
"""Where Checkout sends an attendee back after paying for an order, or giving up."""
SPONSOR_URLS = {"success_url": "https://sponsor.example/ok", "cancel_url": "https://sponsor.example/cancel"}
"""Where Checkout sends a sponsor back after paying for a bulk purchase, or giving up."""

DEMO_CONFERENCE = {
    "name": "Demo Conf",
    "currency": "usd",
    "is_active": True,
    "stripe": {"secret_key": "sk_test_demo1234567890", "webhook_secret": "whsec_demo1234567890"},
}


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text)


def cursor_of(value: Any) -> str:
    """A pagination cursor as the API encodes one: ``value`` (JSON, or text as is), URL-safe base64."""
    import base64

    text = value if isinstance(value, str) else json.dumps(value)
    return base64.urlsafe_b64encode(text.encode()).decode()


def api_event(
    method: str,
    path: str,
    *,
    body: Any = None,
    raw_body: str | None = None,
    claims: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    query: str = "",
) -> dict[str, Any]:
    """The event API Gateway sends for ``method path``, routed by template.yaml."""
    found = load().route_for(method, path)
    route_key, params = (found[0].route_key, found[1]) if found else ("$default", {})
    text = raw_body if raw_body is not None else (json.dumps(body) if body is not None else None)
    all_headers = {"content-type": "application/json", **(headers or {})}
    return http_api_event(
        method,
        path,
        route_key=route_key,
        path_parameters=params,
        query=query,
        headers=all_headers,
        body=text,
        claims=claims,
    )


def reply_of(result: dict[str, Any]) -> Reply:
    """A handler's API Gateway response as a Reply."""
    return Reply(
        result["statusCode"],
        {k.lower(): v for k, v in (result.get("headers") or {}).items()},
        result.get("body") or "",
    )


def call(
    handler: Callable[[dict[str, Any], Any], dict[str, Any]],
    method: str,
    path: str,
    *,
    body: Any = None,
    raw_body: str | None = None,
    claims: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    query: str = "",
) -> Reply:
    """Invoke ``handler`` as API Gateway would for ``method path``, routed by template.yaml."""
    event = api_event(method, path, body=body, raw_body=raw_body, claims=claims, headers=headers, query=query)
    return reply_of(handler(event, LambdaContext()))


def assert_error(reply: Reply, status: int, code: str) -> None:
    """``reply`` is the API's error shape: ``status``, JSON, only ``error`` with ``code`` and a message."""
    assert reply.status == status, reply.text
    headers = {k.lower(): v for k, v in reply.headers.items()}
    assert headers["content-type"].startswith("application/json")
    body = reply.json
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
