"""Voucher codes: unguessable, and unique per conference by construction.

A bulk code is ``{prefix}{segment}-{secret}``:

- ``segment`` (4 characters) is reserved for one purchase by a conditional write when the purchase
  is created, so two purchases of a conference never share one;
- ``secret`` (10 characters, 48 bits) is a keyed pseudo-random *permutation* of the code's index
  within the purchase: a 4-round Feistel network over 48 bits, with HMAC-SHA256 under a 256-bit
  key from ``secrets`` as its round function. Distinct indexes give distinct outputs, and without
  the key the outputs are unpredictable.

Since the segment and secret have fixed widths, equal codes would need equal prefix, segment and
index: the store guarantees uniqueness, not probability. Because codes are derived, a purchase's
codes can be listed again from its key without an index, and a retried fulfillment writes exactly
the codes the first attempt wrote.
"""

import hashlib
import hmac
import secrets

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
"""Upper case without the ambiguous 0/O, 1/I/L: 31 symbols."""

SEGMENT_LENGTH = 4
SECRET_LENGTH = 10
SECRET_BITS = 48
_HALF_BITS = SECRET_BITS // 2
_HALF_MASK = (1 << _HALF_BITS) - 1
_ROUNDS = 4

assert len(ALPHABET) ** SECRET_LENGTH >= 1 << SECRET_BITS


def new_key() -> str:
    """A fresh 256-bit permutation key, hex-encoded, from the OS CSPRNG."""
    return secrets.token_hex(32)


def new_segment() -> str:
    """A random segment candidate; the store reserves it or the caller draws again."""
    return "".join(secrets.choice(ALPHABET) for _ in range(SEGMENT_LENGTH))


def _encode(value: int, width: int) -> str:
    digits = []
    for _ in range(width):
        value, digit = divmod(value, len(ALPHABET))
        digits.append(ALPHABET[digit])
    if value:
        raise ValueError("value does not fit the width")
    return "".join(reversed(digits))


def _round(key: bytes, round_no: int, half: int) -> int:
    digest = hmac.new(key, bytes([round_no]) + half.to_bytes(4, "big"), hashlib.sha256).digest()
    return int.from_bytes(digest[:4], "big") & _HALF_MASK


def permute(key_hex: str | bytes, index: int) -> int:
    """The keyed 48-bit permutation of ``index`` (0 ≤ index < 2**48)."""
    if not 0 <= index < 1 << SECRET_BITS:
        raise ValueError("index out of range")
    key = bytes.fromhex(key_hex) if isinstance(key_hex, str) else key_hex
    left, right = index >> _HALF_BITS, index & _HALF_MASK
    for round_no in range(_ROUNDS):
        left, right = right, left ^ _round(key, round_no, right)
    return (left << _HALF_BITS) | right


def code(prefix: str, segment: str, key_hex: str | bytes, index: int) -> str:
    """The ``index``-th code of the purchase that holds ``segment`` and ``key_hex``."""
    return f"{prefix}{segment}-{_encode(permute(key_hex, index), SECRET_LENGTH)}"


def codes(prefix: str, segment: str, key_hex: str, count: int) -> list[str]:
    key = bytes.fromhex(key_hex)
    return [code(prefix, segment, key, i) for i in range(count)]


def default_prefix(sponsor_slug: str | None) -> str:
    """``BULK-{SPONSOR_SLUG}-``, or ``BULK-`` with no sponsor."""
    return f"BULK-{sponsor_slug.upper()}-" if sponsor_slug else "BULK-"


def normalize(raw: str) -> str:
    """How a typed code is matched: surrounding spaces ignored, case-insensitive."""
    return raw.strip().upper()
