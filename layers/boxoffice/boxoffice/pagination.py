"""Opaque list cursors (docs/api.md "Lists and cursors": pass ``next`` back as ``?cursor=``).

A cursor is DynamoDB's last evaluated key, base64url-encoded. Decoding checks that it is a key
DynamoDB itself would accept as the start of this very query, so a forged or foreign cursor is a
422, never a query on someone else's partition and never a ValidationException (a 500). moto
accepts much that DynamoDB refuses (other attribute names, a sort key outside the query's
``begins_with``); the integration lane holds this module to DynamoDB Local.
"""

import base64
import json
from typing import Any

from boxoffice import strict_json
from boxoffice.errors import ValidationFailed


def encode_cursor(key: dict[str, Any] | None) -> str | None:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode() if key else None


KEY_SCHEMAS: dict[str, tuple[str, ...]] = {
    "PK": ("PK", "SK"),
    "GSI1PK": ("GSI1PK", "GSI1SK", "PK", "SK"),
    "GSI2PK": ("GSI2PK", "GSI2SK", "PK", "SK"),
}
"""The start key DynamoDB wants, by the partition attribute queried: an index query's key is the
index's keys plus the table's, and no other attribute."""

MAX_PARTITION_KEY_BYTES = 2048
MAX_SORT_KEY_BYTES = 1024
"""DynamoDB's limits on a key attribute's UTF-8 size; no genuine cursor exceeds them."""


def _invalid(reason: str) -> ValidationFailed:
    return ValidationFailed(
        "invalid cursor",
        details=[
            {
                "loc": ["query", "cursor"],
                "msg": f"not a cursor of this list ({reason})",
                "type": "value_error",
            }
        ],
    )


def decode_cursor(
    cursor: str | None,
    expected: dict[str, str],
    *,
    attributes: int | None = None,
    sort_prefix: str | None = None,
) -> dict[str, Any] | None:
    """The page key, or ValidationFailed unless it is a well-formed start key of this query.

    ``expected`` names the queried partition attribute (``PK``, ``GSI1PK`` or ``GSI2PK``) and its
    value; the key must have exactly that index's attributes (``attributes``, if given, must agree),
    each a non-empty string within DynamoDB's key size. ``sort_prefix`` is the query's
    ``begins_with`` on the sort key, which DynamoDB requires the start key to satisfy too.
    """
    if not cursor:
        return None
    partition = next((name for name in expected if name in KEY_SCHEMAS), None)
    if partition is None:
        raise ValueError(f"expected must name one of {sorted(KEY_SCHEMAS)}")
    schema = KEY_SCHEMAS[partition]
    if attributes is not None and attributes != len(schema):
        raise ValueError(f"a {partition} query's cursor has {len(schema)} attributes, not {attributes}")
    try:
        key = strict_json.loads(base64.urlsafe_b64decode(cursor.encode("utf-8")))
    except ValueError as exc:  # binascii.Error and json.JSONDecodeError are both ValueErrors
        raise _invalid("unreadable") from exc
    if not isinstance(key, dict) or set(key) != set(schema):
        raise _invalid("another shape")
    for name, value in key.items():
        if not isinstance(value, dict) or set(value) != {"S"} or not isinstance(value["S"], str):
            raise _invalid("a key attribute is not a string")
        limit = MAX_PARTITION_KEY_BYTES if name.endswith("PK") else MAX_SORT_KEY_BYTES
        if not 0 < len(value["S"].encode("utf-8")) <= limit:
            raise _invalid("a key attribute has an impossible size")
    if any(key[name]["S"] != value for name, value in expected.items()):
        raise _invalid("another list")
    sort_key = schema[1]
    if sort_prefix is not None and not key[sort_key]["S"].startswith(sort_prefix):
        raise _invalid("outside this list")
    return key
