"""Opaque list cursors (API.md: pass ``next`` back as ``?cursor=``).

A cursor is DynamoDB's last evaluated key, base64url-encoded. Decoding checks that it belongs to
the list being read, so a cursor from another conference or list is a 422, never a query on
someone else's partition.
"""

import base64
import json
from typing import Any

from boxoffice.errors import ValidationFailed


def encode_cursor(key: dict[str, Any] | None) -> str | None:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode() if key else None


def decode_cursor(cursor: str | None, expected: dict[str, str]) -> dict[str, Any] | None:
    """The page key, or ValidationFailed unless every ``expected`` attribute has the given value."""
    if not cursor:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(key, dict) or any(key[name]["S"] != value for name, value in expected.items()):
            raise ValueError("cursor of another list")
    except (ValueError, KeyError, TypeError) as exc:
        raise ValidationFailed(
            "invalid cursor",
            details=[{"loc": ["query", "cursor"], "msg": "not a cursor of this list", "type": "value_error"}],
        ) from exc
    return key
