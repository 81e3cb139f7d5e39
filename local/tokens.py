"""Local mode's stand-in for the Cognito JWT authorizer (docs/api.md "Local mode").

Tokens are HS256, signed with ``BOXOFFICE_LOCAL_JWT_SECRET`` (default ``boxoffice-local-dev``),
with ``iss`` = ``boxoffice-local`` and ``aud`` = ``boxoffice``. Never used in AWS.
"""

import os
import time
import warnings
from typing import Any

import jwt

ISSUER = "boxoffice-local"
AUDIENCE = "boxoffice"
DEFAULT_SECRET = "boxoffice-local-dev"


class InvalidToken(Exception):
    """The bearer token is missing, malformed, expired or signed with another key."""


def secret() -> str:
    return os.environ.get("BOXOFFICE_LOCAL_JWT_SECRET", DEFAULT_SECRET)


def mint(
    sub: str, *, email: str | None = None, groups: list[str] | None = None, ttl_seconds: int = 7 * 86400
) -> str:
    """A signed token for a local user."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": sub,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + ttl_seconds,
    }
    if email:
        claims["email"] = email
    if groups:
        claims["cognito:groups"] = groups
    with warnings.catch_warnings():
        # docs/api.md "Local mode" fixes the default local secret, which is shorter than RFC 7518 recommends.
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
        return jwt.encode(claims, secret(), algorithm="HS256")


def verify(authorization: str | None) -> dict[str, Any]:
    """Claims of a valid ``Bearer`` token, checked as API Gateway's JWT authorizer would."""
    if not authorization or not authorization.startswith("Bearer "):
        raise InvalidToken("missing bearer token")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
            return jwt.decode(
                authorization[len("Bearer ") :].strip(),
                secret(),
                algorithms=["HS256"],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from exc
