"""Natural keys within Xero's length limits: `{prefix}-{value}`, or a stable hash when too long.

A natural key is how the core finds a document again after a lost answer, so it must be the
same for the same record on every run and different for different records.
"""

from __future__ import annotations

import base64
import hashlib

from xerobridge.contract.errors import Permanent

#: Base32 characters of a hash in a shortened key: 50 bits.
HASH_LENGTH = 10
#: Marks a shortened key; values holding it are always shortened, so that a kept key never
#: equals a shortened one.
HASH_MARK = "~"


def short_hash(text: str) -> str:
    """A stable 10-character base32 digest of `text`."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return base64.b32encode(digest).decode("ascii")[:HASH_LENGTH]


def exact(prefix: str, value: str, limit: int, what: str) -> str:
    """`{prefix}-{value}`, or Permanent when it exceeds `limit` (a shorter prefix is the fix)."""
    key = f"{prefix}-{value}"
    if len(key) > limit:
        raise Permanent(
            f"{what}: {key!r} is longer than Xero's {limit} characters; use a shorter key prefix"
        )
    return key


def hashed(prefix: str, value: str, limit: int) -> str:
    """`{prefix}-{value}`, or `{prefix}-#{hash}` when too long (the hash form holds no value
    character, so it never equals the plain form of another value)."""
    key = f"{prefix}-{value}"
    return key if len(key) <= limit else f"{prefix}-#{short_hash(value)}"


def code(prefix: str, value: str, limit: int = 30) -> str:
    """A readable code such as an Item Code: `{prefix}-{value}`, or `{prefix}-{head}~{hash}`.

    The hash covers the whole value, so different long values get different codes.
    """
    if not value or not value.strip():
        raise Permanent("an empty code cannot name a Xero object; give the record a code")
    full = f"{prefix}-{value}"
    if len(full) <= limit and HASH_MARK not in value:
        return full
    room = limit - len(prefix) - 2 - HASH_LENGTH
    if room < 1:
        raise Permanent(f"key prefix {prefix!r} is too long for Xero's {limit}-character codes")
    head = value[:room].replace(HASH_MARK, "-")
    return f"{prefix}-{head}{HASH_MARK}{short_hash(value)}"
