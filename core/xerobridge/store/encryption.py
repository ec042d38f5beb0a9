"""Encryption of secrets at rest (tokens, source credentials) with Fernet.

The key comes from `XEROBRIDGE_SECRET_KEY` or from a key file in the data directory, created
on first use with mode 0600. Losing the key loses the secrets, never the rest of the data.

Secrets decrypt with any key in use during a rotation (`store.rekey`): while the key file's
successor (`secret.key.new`) exists, secrets are encrypted with it and decrypt with either;
`XEROBRIDGE_OLD_SECRET_KEY` lets a key kept in the environment be replaced the same way.
"""

from __future__ import annotations

import contextlib
import os
from functools import cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from xerobridge.contract.errors import UserError
from xerobridge.store import home as config

KEY_FILE = "secret.key"
#: The key file's successor while the store is re-encrypted under it.
NEXT_KEY_FILE = "secret.key.new"
KEY_ENV = "XEROBRIDGE_SECRET_KEY"
#: The key replaced in the environment, until every secret is re-encrypted.
OLD_KEY_ENV = "XEROBRIDGE_OLD_SECRET_KEY"


def key_file_path() -> Path:
    return config.home() / KEY_FILE


def next_key_path() -> Path:
    """Where the key file's successor is kept while a rotation runs."""
    return config.home() / NEXT_KEY_FILE


def key_from_environment() -> bool:
    """Whether the secret key is kept in the environment rather than in the key file."""
    return bool(os.environ.get(KEY_ENV, "").strip())


def load_key() -> bytes:
    """The Fernet key: from the environment, else the key file (created if missing)."""
    env = os.environ.get(KEY_ENV, "").strip()
    if env:
        return env.encode()
    path = key_file_path()
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


def _keys() -> tuple[bytes, ...]:
    """The keys that decrypt, the one that encrypts first."""
    keys = [load_key()]
    if key_from_environment():
        old = os.environ.get(OLD_KEY_ENV, "").strip()
        if old:
            keys.append(old.encode())
    else:
        with contextlib.suppress(FileNotFoundError):
            keys.insert(0, next_key_path().read_bytes().strip())
    return tuple(keys)


@cache
def _multi(keys: tuple[bytes, ...]) -> MultiFernet:
    return MultiFernet([_fernet(key) for key in keys])


def encrypt(plain: str) -> str:
    """The secret as a Fernet token (text)."""
    if not plain:
        return ""
    return _multi(_keys()).encrypt(plain.encode()).decode()


def decrypt(token: str) -> str:
    """The secret back from its token, or a UserError if the key does not fit."""
    if not token:
        return ""
    try:
        return _multi(_keys()).decrypt(token.encode()).decode()
    except InvalidToken:
        raise UserError(
            "a stored secret cannot be decrypted with this secret key; restore the key file "
            f"{key_file_path()} or XEROBRIDGE_SECRET_KEY that was used to save it, "
            "or set the secret again"
        ) from None
