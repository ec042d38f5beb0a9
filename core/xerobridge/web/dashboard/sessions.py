"""Dashboard sessions: a cookie encrypted and signed with a key derived from the secret key.

A session holds who is logged in (with the login's epoch: a password change or a log out moves
the epoch on and so ends every session of that login, copies of the cookie included), when
they logged in (sessions expire `LIFETIME` after that) and were last seen (`IDLE` without a
request ends them), the CSRF token every form carries, and the one-shot messages shown on the
next page.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from xerobridge.store import encryption
from xerobridge.store import home as config

COOKIE = "xerobridge_session"
LIFETIME = timedelta(hours=12)
#: A session without a request for this long is over.
IDLE = timedelta(minutes=30)
#: How stale `seen_at` may get before the cookie is written again (not on every request).
_SEEN_EVERY = 60.0


@dataclass
class Session:
    """One browser's session; `dirty` when the cookie must be written again."""

    username: str = ""
    epoch: int = 0
    login_at: float = 0.0
    seen_at: float = 0.0
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    flashes: list[tuple[str, str]] = field(default_factory=list)
    dirty: bool = False
    #: The id of the store's record of this session (`session_registry`).
    sid: str = ""

    @property
    def logged_in(self) -> bool:
        """Whether a person logged in with this session."""
        return bool(self.username)

    def log_in(self, username: str, epoch: int, now: datetime, sid: str = "") -> None:
        """Start a logged-in session; the CSRF token is renewed so a planted one is useless."""
        self.username, self.epoch, self.login_at = username, epoch, now.timestamp()
        self.sid = sid
        self.seen_at = self.login_at
        self.csrf = secrets.token_urlsafe(24)
        self.dirty = True

    def seen(self, now: datetime) -> None:
        """A request of this session: it is not idle (the cookie is renewed now and then)."""
        if self.logged_in and now.timestamp() - self.seen_at > _SEEN_EVERY:
            self.seen_at = now.timestamp()
            self.dirty = True

    def log_out(self) -> None:
        """Forget the login (the cookie then holds an anonymous session)."""
        self.username, self.epoch, self.login_at, self.sid = "", 0, 0.0, ""
        self.csrf = secrets.token_urlsafe(24)
        self.dirty = True

    def flash(self, message: str, level: str = "info") -> None:
        """A message for the next page shown (level: info, error)."""
        self.flashes.append((level, message))
        self.dirty = True

    def take_flashes(self) -> list[tuple[str, str]]:
        """The waiting messages, removed from the session."""
        taken, self.flashes = self.flashes, []
        if taken:
            self.dirty = True
        return taken


def encode(session: Session) -> str:
    """The cookie value of a session."""
    payload = {
        "u": session.username,
        "e": session.epoch,
        "t": session.login_at,
        "s": session.seen_at,
        "c": session.csrf,
        "f": session.flashes,
        "i": session.sid,
    }
    return _fernet().encrypt(json.dumps(payload, separators=(",", ":")).encode()).decode()


def decode(raw: str, now: datetime) -> Session:
    """The session in a cookie; a fresh anonymous one for a missing, forged or expired cookie."""
    if not raw:
        return Session(dirty=True)
    try:
        data = json.loads(_fernet().decrypt(raw.encode()))
        session = Session(
            username=str(data["u"]),
            epoch=int(data["e"]),
            login_at=float(data["t"]),
            seen_at=float(data.get("s", data["t"])),
            csrf=str(data["c"]),
            flashes=[(str(level), str(text)) for level, text in data["f"]],
            sid=str(data.get("i", "")),
        )
    except (InvalidToken, ValueError, KeyError, TypeError):
        return Session(dirty=True)
    if session.logged_in and now.timestamp() - session.login_at > LIFETIME.total_seconds():
        session.log_out()
        session.flash("Your session expired; log in again.")
    elif session.logged_in and now.timestamp() - session.seen_at > IDLE.total_seconds():
        session.log_out()
        minutes = int(IDLE.total_seconds() // 60)
        session.flash(f"Your session ended after {minutes} minutes without use; log in again.")
    session.seen(now)
    return session


def cookie_header(session: Session) -> str:
    """The Set-Cookie header value for a session."""
    secure = "; Secure" if config.public_url().startswith("https://") else ""
    max_age = int(LIFETIME.total_seconds())
    return f"{COOKIE}={encode(session)}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"


@cache
def _fernet_for(key: bytes) -> Fernet:
    # A key of its own, derived from the secret key: a session cookie can never be replayed
    # as a stored secret's ciphertext, or the other way round.
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"xerobridge dashboard session"
    ).derive(key)
    return Fernet(base64.urlsafe_b64encode(derived))


def _fernet() -> Fernet:
    return _fernet_for(encryption.load_key())
