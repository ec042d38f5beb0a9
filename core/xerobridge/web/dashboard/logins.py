"""Who may use the dashboard and the API: the admin's password and the scripts' bearer tokens."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from functools import cache

from sqlmodel import select

from xerobridge.contract.errors import UserError
from xerobridge.store.db import Store
from xerobridge.store.models import ApiToken, Login
from xerobridge.web.dashboard.passwords import hash_password, verify_password, weakness

ADMIN = "admin"
#: Prefix of every token we issue, so that a leaked one is recognisable in a secret scanner.
TOKEN_PREFIX = "xbt_"


@dataclass(frozen=True)
class Identity:
    """Who a request acts as: a login (with the epoch its session was signed in) or a token."""

    username: str
    epoch: int = 0
    token: str = ""  # the API token's name when the request came with one


def set_password(store: Store, password: str, *, username: str = ADMIN) -> Login:
    """Set (or change) a login's password; every session signed before it ends."""
    reason = weakness(password)
    if reason:
        raise UserError(reason)
    hashed = hash_password(password)
    with store.transaction() as s:
        login = s.exec(select(Login).where(Login.username == username)).first()
        if login is None:
            login = Login(username=username)
        else:
            login.epoch += 1
        login.password_hash = hashed
        login.updated_at = store.clock.now()
        s.add(login)
        s.flush()
        return login


def end_sessions(store: Store, username: str) -> None:
    """End every session of a login, wherever its cookie is (the epoch they carry moves on)."""
    with store.transaction() as s:
        login = s.exec(select(Login).where(Login.username == username)).first()
        if login is not None:
            login.epoch += 1
            s.add(login)


def has_login(store: Store) -> bool:
    """Whether any dashboard password has been set yet."""
    with store.transaction() as s:
        return s.exec(select(Login.id).limit(1)).first() is not None


def authenticate(store: Store, username: str, password: str) -> Identity | None:
    """The identity for a right username and password, else None."""
    with store.transaction() as s:
        login = s.exec(select(Login).where(Login.username == username)).first()
    if login is None:
        # Spend the same time as a real check, so that timing does not tell names apart.
        verify_password(password, _dummy_hash())
        return None
    if not verify_password(password, login.password_hash):
        return None
    return Identity(username=login.username, epoch=login.epoch)


def current_epoch(store: Store, username: str) -> int | None:
    """The login's epoch, or None when the login no longer exists."""
    with store.transaction() as s:
        return s.exec(select(Login.epoch).where(Login.username == username)).first()


#: The longest name a bearer token may have.
TOKEN_NAME_LIMIT = 100


def create_token(store: Store, name: str) -> str:
    """A new bearer token named `name`; the token itself is shown once and only hashed here."""
    name = name.strip()
    if not name:
        raise UserError("give the token a name, e.g. the script that will use it")
    if len(name) > TOKEN_NAME_LIMIT:
        raise UserError(
            f"a token's name is at most {TOKEN_NAME_LIMIT} characters (this one has "
            f"{len(name)}): name it for the script that will use it"
        )
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with store.transaction() as s:
        if s.exec(select(ApiToken.id).where(ApiToken.name == name)).first() is not None:
            raise UserError(f"a token named {name!r} exists; revoke it first or pick another name")
        s.add(ApiToken(name=name, token_hash=_digest(token), created_at=store.clock.now()))
    return token


def revoke_token(store: Store, name: str) -> None:
    """Forget the token named `name`."""
    with store.transaction() as s:
        row = s.exec(select(ApiToken).where(ApiToken.name == name)).first()
        if row is None:
            raise UserError(f"no token named {name!r}; `xerobridge admin tokens` lists them")
        s.delete(row)


def list_tokens(store: Store) -> list[ApiToken]:
    """Every token's name and dates (never the token)."""
    with store.transaction() as s:
        return list(s.exec(select(ApiToken).order_by(ApiToken.name)))


def check_token(store: Store, token: str) -> Identity | None:
    """The identity of a presented bearer token, else None."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    with store.transaction() as s:
        row = s.exec(select(ApiToken).where(ApiToken.token_hash == _digest(token))).first()
        if row is None:
            return None
        row.last_used_at = store.clock.now()
        s.add(row)
        return Identity(username=f"token:{row.name}", token=row.name)


def _digest(token: str) -> str:
    # Tokens are 256 random bits, so a fast hash suffices: there is nothing to guess.
    return hashlib.sha256(token.encode()).hexdigest()


@cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))
