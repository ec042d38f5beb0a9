"""Encryption of secrets at rest (tokens, source credentials) with Fernet.

The key comes from `XEROBRIDGE_SECRET_KEY` or from a key file in the data directory, created
on first use with mode 0600. Losing the key loses the secrets, never the rest of the data.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from xerobridge.contract.errors import UserError
from xerobridge.store import home as config

KEY_FILE = "secret.key"


def _key_path() -> Path:
    return config.home() / KEY_FILE


def load_key() -> bytes:
    """The Fernet key: from the environment, else the key file (created if missing)."""
    env = os.environ.get("XEROBRIDGE_SECRET_KEY", "").strip()
    if env:
        return env.encode()
    path = _key_path()
    if not path.exists():
        key = Fernet.generate_key()
        # O_EXCL: two processes starting together must not each write a different key.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as fh:
                fh.write(key)
    return path.read_bytes().strip()


@cache
def _fernet(key: bytes) -> Fernet:
    try:
        return Fernet(key)
    except ValueError:
        raise UserError(
            "XEROBRIDGE_SECRET_KEY is not a valid Fernet key (32 url-safe base64 bytes); "
            "unset it to use the key file, or set it to Fernet.generate_key()"
        ) from None


def encrypt(plain: str) -> str:
    """The secret as a Fernet token (text)."""
    if not plain:
        return ""
    return _fernet(load_key()).encrypt(plain.encode()).decode()


def decrypt(token: str) -> str:
    """The secret back from its token, or a UserError if the key does not fit."""
    if not token:
        return ""
    try:
        return _fernet(load_key()).decrypt(token.encode()).decode()
    except InvalidToken:
        raise UserError(
            "a stored secret cannot be decrypted with this secret key; restore the key file "
            f"{_key_path()} or XEROBRIDGE_SECRET_KEY that was used to save it, "
            "or set the secret again"
        ) from None
