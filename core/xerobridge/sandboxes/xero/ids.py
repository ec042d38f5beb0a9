"""Identifiers: Xero's GUIDs from a seeded generator (reproducible runs), secrets from the OS."""

from __future__ import annotations

import random
import re
import secrets
import uuid

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def is_guid(value: object) -> bool:
    """Whether a value is a GUID string in Xero's 8-4-4-4-12 form."""
    return isinstance(value, str) and bool(_GUID.match(value))


class IdSource:
    """Record ids from a seeded generator, so the same seed replays the same ids."""

    def __init__(self, seed: int = 0) -> None:
        self._rng = random.Random(seed)

    def guid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def short_code(self) -> str:
        """An organisation ShortCode like Xero's (`!` and five letters and digits)."""
        alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghjkmnpqrstuvwxyz23456789"
        return "!" + "".join(self._rng.choice(alphabet) for _ in range(5))

    def entropy(self) -> str:
        """A webhook payload's entropy: 20 upper-case letters, as in Xero's examples."""
        return "".join(self._rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(20))

    @staticmethod
    def secret(nbytes: int = 32) -> str:
        """Tokens and codes are bearer secrets even in a sandbox that is served on a network."""
        return secrets.token_urlsafe(nbytes)
