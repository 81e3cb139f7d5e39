"""The one JSON parser for what clients and Stripe send: RFC 8259 JSON and nothing looser.

Python's ``json.loads`` accepts ``NaN`` and ``Infinity``, keeps the last of duplicate keys,
lets ``1e999`` become infinity, decodes lone surrogates (``"\\ud800"``) that can never be
stored, and raises ``RecursionError`` or a bare ``ValueError`` (not ``JSONDecodeError``) on
deep nesting and on integers longer than its digit limit. Each of those would be a 500 or a
silently different reading of the body. Here every one is a ``json.JSONDecodeError`` with a
short reason that never echoes the input, which the API renders as 400 ``bad_request``.
"""

import json
import math
from typing import Any

MAX_DEPTH = 32
"""Deepest nesting of arrays and objects accepted; no request of this API nests beyond 4."""

MAX_NUMBER_CHARS = 100
"""Longest number literal accepted; amounts fit in 12 digits, so longer ones are never meant."""


class _Refused(ValueError):
    """A reason to refuse the document, raised from inside the parser's hooks."""


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _Refused("an object repeats a key")
    return result


def _integer(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise _Refused(f"a number is longer than {MAX_NUMBER_CHARS} characters")
    return int(text)


def _number(text: str) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        raise _Refused(f"a number is longer than {MAX_NUMBER_CHARS} characters")
    value = float(text)
    if not math.isfinite(value):
        raise _Refused("a number is too large to be finite")
    return value


def _constant(name: str) -> Any:
    raise _Refused(f"{name} is not JSON")


_DECODER = json.JSONDecoder(
    object_pairs_hook=_pairs, parse_int=_integer, parse_float=_number, parse_constant=_constant
)


def _check_tree(value: Any) -> None:
    """Depth and text checks the parser cannot make: nesting, and strings UTF-8 can encode."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = [*node.keys(), *node.values()]
        elif isinstance(node, list):
            children = node
        else:
            children = [node]
            depth -= 1
        if depth > MAX_DEPTH:
            raise _Refused(f"the document nests deeper than {MAX_DEPTH} levels")
        for child in children:
            if isinstance(child, str):
                try:
                    child.encode("utf-8")
                except UnicodeEncodeError:
                    raise _Refused("a string holds a lone surrogate, which is not Unicode text") from None
            elif isinstance(child, dict | list):
                stack.append((child, depth + 1))


def loads(text: str | bytes) -> Any:
    """``text`` parsed as strict JSON, or ``json.JSONDecodeError`` saying why not."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise json.JSONDecodeError("the document is not UTF-8", "", 0) from None
    try:
        value = _DECODER.decode(text)
        _check_tree(value)
    except json.JSONDecodeError:
        raise
    except _Refused as exc:
        raise json.JSONDecodeError(str(exc), text, 0) from None
    except RecursionError:
        raise json.JSONDecodeError(f"the document nests deeper than {MAX_DEPTH} levels", text, 0) from None
    except ValueError as exc:  # e.g. int() past sys.get_int_max_str_digits(), if lowered
        raise json.JSONDecodeError(f"the document cannot be read ({type(exc).__name__})", text, 0) from None
    return value
