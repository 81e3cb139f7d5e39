"""Decode Stripe's form encoding: `line_items[0][price_data][unit_amount]=100`, `expand[]=x`.

Bracketed keys become nested dicts; `[]` appends to a list. Numbered segments (`[0]`) stay dict
keys here: only the parameter schema knows whether `metadata[0]` is a map key or an array index,
so `params.Array` turns `{"0": ..., "1": ...}` into a list.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from .errors import invalid_request

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")


def _split(key: str) -> list[str]:
    match = _KEY.match(key)
    if match is None:
        raise invalid_request(f"Invalid parameter name: {key}", param=key)
    return [match.group(1), *_SEGMENT.findall(match.group(2))]


def _param_name(segments: list[str]) -> str:
    return segments[0] + "".join(f"[{s}]" for s in segments[1:])


def decode_pairs(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Build the nested parameter tree from `(key, value)` pairs, in order."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        segments = _split(key)
        if "" in segments[:-1]:
            raise invalid_request(f"Invalid parameter name: {key}", param=key)
        node: Any = root
        for depth, segment in enumerate(segments[:-1]):
            child = node.get(segment)
            if child is None:
                child = [] if segments[depth + 1] == "" else {}
                node[segment] = child
            wants_list = segments[depth + 1] == ""
            if wants_list and not isinstance(child, list):
                raise invalid_request(
                    f"Invalid array: {_param_name(segments[: depth + 1])}",
                    param=_param_name(segments[: depth + 1]),
                )
            if not wants_list and not isinstance(child, dict):
                raise invalid_request(
                    f"Invalid object: {_param_name(segments[: depth + 1])}",
                    param=_param_name(segments[: depth + 1]),
                )
            node = child
        last = segments[-1]
        if isinstance(node, list):
            node.append(value)
        elif isinstance(node.get(last), dict | list):
            raise invalid_request(f"Invalid value for {key}: expected an object", param=key)
        else:
            node[last] = value
    return root


def decode(encoded: str | bytes) -> dict[str, Any]:
    """Decode a query string or an `application/x-www-form-urlencoded` body."""
    if isinstance(encoded, bytes):
        try:
            encoded = encoded.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise invalid_request("The request body is not valid UTF-8.") from exc
    return decode_pairs(parse_qsl(encoded, keep_blank_values=True))
