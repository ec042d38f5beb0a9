"""Password hashing for dashboard logins: scrypt with a random salt, parameters kept in the hash."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

#: scrypt cost (16 MiB, tens of milliseconds): slow for a guesser, bearable for a login.
N, R, P = 2**14, 8, 1
MIN_LENGTH = 10


def hash_password(password: str) -> str:
    """`scrypt$n$r$p$salt$hash`, with a fresh 16-byte salt."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=N, r=R, p=P, maxmem=64 * 2**20)
    return "$".join(("scrypt", str(N), str(R), str(P), _b64(salt), _b64(digest)))


def verify_password(password: str, stored: str) -> bool:
    """Whether `password` matches the stored hash (constant time on the digest)."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=64 * 2**20,
            dklen=len(expected),
        )
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def weakness(password: str) -> str:
    """Why a new password is refused, or "" when it is acceptable."""
    if len(password) < MIN_LENGTH:
        return f"the password must be at least {MIN_LENGTH} characters long"
    if password.strip() != password:
        return "the password must not start or end with a space"
    return ""


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()
