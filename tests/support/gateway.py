"""A request as the local gateway handles it, in-process: the route from template.yaml, the
bearer token checked as the JWT authorizer would (``local.tokens``), then the route's own
function. It does what ``local.runner`` does per request, without a socket, so tests can
send real tokens (expired, for another audience) and still run in the unit lane.
"""

import json
import warnings
from typing import Any

import jwt

from local import tokens
from local.lambda_runtime import LambdaContext
from local.template import load
from tests.support.functions import load_function
from tests.support.http import Reply, api_event, reply_of


def mint_expired(sub: str = "user-expired") -> str:
    """A token that was valid and expired a minute ago."""
    return tokens.mint(sub, ttl_seconds=-60)


def mint_for_audience(audience: str, sub: str = "user-elsewhere") -> str:
    """A token signed with the right key for another audience (another app's token)."""
    claims = {"sub": sub, "iss": tokens.ISSUER, "aud": audience, "exp": 4102444800}
    with warnings.catch_warnings():  # the local default secret is short by design (docs/api.md "Local mode")
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
        return jwt.encode(claims, tokens.secret(), algorithm="HS256")


def through_gateway(
    method: str,
    path: str,
    *,
    token: str | None,
    body: Any = None,
    raw_body: str | None = None,
    query: str = "",
    headers: dict[str, str] | None = None,
) -> Reply:
    """``method path`` with ``Authorization: Bearer token`` (none when ``token`` is None)."""
    found = load().route_for(method, path)
    assert found is not None, f"no route in template.yaml for {method} {path}"
    route, _ = found
    claims = None
    if route.authorized:
        try:
            claims = tokens.verify(f"Bearer {token}" if token is not None else None)
        except tokens.InvalidToken as exc:
            error = {
                "error": {"code": "unauthenticated", "message": f"a valid bearer token is required ({exc})"}
            }
            return Reply(401, {"content-type": "application/json"}, json.dumps(error))
    event = api_event(method, path, body=body, raw_body=raw_body, claims=claims, headers=headers, query=query)
    handler = load_function(load().functions[route.function].code_uri.name).handler
    return reply_of(handler(event, LambdaContext()))
