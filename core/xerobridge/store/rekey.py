"""Rotating the secret key: every secret in the store re-encrypted under a new key, in one go.

With the key file, the new key is written beside it first (`secret.key.new`, mode 0600); from
then on secrets are encrypted with the new key and decrypt with either, so a daemon left running
keeps working; the store is re-encrypted in one transaction, checked to open with the new key
alone, and only then does the new key replace the old file. A crash at any point leaves every
secret readable, and running the command again finishes the rotation.

With the key in `XEROBRIDGE_SECRET_KEY`, the person sets the new key there and the old one in
`XEROBRIDGE_OLD_SECRET_KEY`; the rotation re-encrypts under the new key, and the old variable
can then go.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken
from sqlmodel import Session, select

from xerobridge.contract.errors import UserError
from xerobridge.store import encryption
from xerobridge.store.db import Store
from xerobridge.store.models import Connection, Setting, TokenGrant

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rotated:
    """What a rotation did."""

    secrets: int  # how many stored secrets were re-encrypted
    key_file: str  # the key file now holding the new key, or "" when the key is in the environment


def _secrets(session: Session) -> Iterator[tuple[object, str]]:
    """Every encrypted value in the store, as (row, column name), rows locked for the update."""
    for grant in session.exec(select(TokenGrant).with_for_update()).all():
        yield grant, "client_secret"
        yield grant, "token"
    for conn in session.exec(select(Connection).with_for_update()).all():
        yield conn, "webhook_key"
    secret_settings = select(Setting).where(Setting.secret == True).with_for_update()  # noqa: E712
    for setting in session.exec(secret_settings).all():
        yield setting, "value"


def _reencrypt(store: Store) -> int:
    """Decrypt every secret with any key in use and encrypt it with the newest; how many."""
    count = 0
    with store.transaction() as session:
        for row, column in _secrets(session):
            value = getattr(row, column)
            if value:
                setattr(row, column, encryption.encrypt(encryption.decrypt(value)))
                session.add(row)
                count += 1
    return count


def _unreadable_with(store: Store, key: bytes) -> int:
    """How many stored secrets the key alone cannot decrypt."""
    fernet = Fernet(key)
    bad = 0
    with store.transaction() as session:
        for row, column in _secrets(session):
            value = getattr(row, column)
            try:
                if value:
                    fernet.decrypt(value.encode())
            except InvalidToken:
                bad += 1
    return bad


def _next_key() -> bytes:
    """The key file's successor: the one an interrupted rotation wrote, else a new one."""
    path = encryption.next_key_path()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    key = Fernet.generate_key()
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
        fh.flush()
        os.fsync(fh.fileno())
    return key


def rotate(store: Store) -> Rotated:
    """Re-encrypt every secret in the store under a new key (see the module's docstring)."""
    if encryption.key_from_environment():
        if not os.environ.get(encryption.OLD_KEY_ENV, "").strip():
            raise UserError(
                f"the secret key is in {encryption.KEY_ENV}: set {encryption.OLD_KEY_ENV} to the "
                f"key in use and {encryption.KEY_ENV} to a new one (python3 -c 'from "
                "cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'), "
                "then run this again"
            )
        count = _reencrypt(store)
        log.info("re-encrypted %d secrets under the key in %s", count, encryption.KEY_ENV)
        return Rotated(count, "")
    encryption.load_key()  # the key file exists before its successor does
    key = _next_key()
    count = _reencrypt(store)
    # A process that encrypted with the old key just before the successor appeared may have
    # written since: go again until the new key alone opens everything.
    for _ in range(3):
        if not _unreadable_with(store, key):
            break
        count += _reencrypt(store)
    else:
        raise UserError(
            "some secrets are still written with the old key; run this again (the old key is "
            "kept until every secret opens with the new one)"
        )
    os.replace(encryption.next_key_path(), encryption.key_file_path())
    log.info("re-encrypted %d secrets under a new key file", count)
    return Rotated(count, str(encryption.key_file_path()))
