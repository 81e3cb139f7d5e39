"""Who is calling, from the JWT claims API Gateway verified, and what they may do.

API Gateway's JWT authorizer flattens array claims, so ``cognito:groups`` arrives either as
a list or as a string such as ``"[admin staff:demo]"``. Both forms are accepted.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from boxoffice.errors import Forbidden, Unauthenticated


def parse_groups(raw: Any) -> frozenset[str]:
    """Groups from a list, a flattened ``"[a b]"`` string, or a comma/space separated string."""
    if raw is None:
        return frozenset()
    if isinstance(raw, list | tuple):
        return frozenset(str(g).strip() for g in raw if str(g).strip())
    if isinstance(raw, str):
        text = raw.strip()
        if text.startswith("[") and text.endswith("]"):
            text = text[1:-1]
        return frozenset(part.strip().strip('"') for part in text.replace(",", " ").split() if part.strip())
    return frozenset()


@dataclass(frozen=True)
class Caller:
    """A signed-in user. Any signed-in user is an attendee; groups add staff and sponsor roles."""

    user_id: str
    email: str | None = None
    groups: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.groups

    def is_staff(self, conference_id: str) -> bool:
        """Admins are staff everywhere; ``staff:{cid}`` is staff of one conference."""
        return self.is_admin or f"staff:{conference_id}" in self.groups

    def sponsor_ids(self, conference_id: str) -> frozenset[str]:
        """Sponsors this caller speaks for in ``conference_id`` (``sponsor:{cid}:{sponsor_id}``)."""
        prefix = f"sponsor:{conference_id}:"
        return frozenset(
            g[len(prefix) :] for g in self.groups if g.startswith(prefix) and len(g) > len(prefix)
        )

    def require_admin(self) -> None:
        if not self.is_admin:
            raise Forbidden("this action needs the admin role")

    def require_staff(self, conference_id: str) -> None:
        if not self.is_staff(conference_id):
            raise Forbidden("this action needs the staff role for this conference")


def caller_from_claims(claims: Mapping[str, Any] | None) -> Caller:
    """Build the caller from verified claims, or raise Unauthenticated when there are none."""
    if not claims or not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise Unauthenticated("sign in: this route needs a bearer token")
    email = claims.get("email")
    return Caller(
        user_id=claims["sub"],
        email=email if isinstance(email, str) else None,
        groups=parse_groups(claims.get("cognito:groups")),
    )
