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


MAX_KEY_PART = 1024
"""DynamoDB's largest sort key; no part of a genuine cursor is longer."""


def decode_cursor(
    cursor: str | None, expected: dict[str, str], *, attributes: int | None = None
) -> dict[str, Any] | None:
    """The page key, or ValidationFailed unless it is a well-formed key of this list.

    Every ``expected`` attribute must have the given value, every attribute must be a bounded
    string, and there must be ``attributes`` of them (the list's key shape: 2 for a table query,
    4 for an index query), so a forged cursor is a 422, never a DynamoDB error.
    """
    if not cursor:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(key, dict) or any(key[name]["S"] != value for name, value in expected.items()):
            raise ValueError("cursor of another list")
        if attributes is not None and len(key) != attributes:
            raise ValueError("cursor of another shape")
        for value in key.values():
            if (
                set(value) != {"S"}
                or not isinstance(value["S"], str)
                or not 0 < len(value["S"]) <= MAX_KEY_PART
            ):
                raise ValueError("cursor with a bad attribute")
    except (ValueError, KeyError, TypeError) as exc:
        raise ValidationFailed(
            "invalid cursor",
            details=[{"loc": ["query", "cursor"], "msg": "not a cursor of this list", "type": "value_error"}],
        ) from exc
    return key
