"""Which Xero contact a person of a source is: the match ladder, and Xero's unique names.

The ladder stops at the first rung that answers. A contact carrying the record's own
ContactNumber is ours (found again after a crash, archived or not) whatever the mode; contacts
numbered with our prefix for another record are never offered; then by email, then (mode
`email_then_name`) by name. One match links; several ask a person to choose, with candidates;
none creates. Archived contacts are never matched by email or name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from xerobridge.contract.context import XeroMirror
from xerobridge.contract.types import Candidate, Resolution
from xerobridge.posting.text import LIMITS, clean

MatchMode = Literal["email_then_name", "email", "none"]
NAME_LIMIT = LIMITS["Contact.Name"]


def email_key(email: Any) -> str:
    """An email as people are told apart by: trimmed and lower-case."""
    return str(email or "").strip().lower()


def person_name(first: Any, last: Any, *, suffix: str = "") -> str:
    """`First Last` as a contact Name within Xero's limit, `suffix` kept whole: `Name (x)`."""
    name = clean(f"{first or ''} {last or ''}", NAME_LIMIT)
    if not suffix:
        return name
    tail = f" ({suffix})"
    return clean(name[: NAME_LIMIT - len(tail)], NAME_LIMIT) + tail


def _active(contacts: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [c for c in contacts if c.get("ContactStatus", "ACTIVE") == "ACTIVE"]


def match(
    mirror: XeroMirror,
    *,
    own_number: str,
    email: str,
    name: str,
    mode: MatchMode,
) -> Resolution:
    """The Resolution for a person whose contact would carry `own_number` (see the ladder)."""
    own = mirror.contact_by_number(own_number)
    if own is not None:
        return Resolution.link(str(own["ContactID"]))
    if mode == "none":
        return Resolution.create()
    prefix = own_number.split("-", 1)[0] + "-"

    def offered(found: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        return [
            c for c in _active(found) if not str(c.get("ContactNumber") or "").startswith(prefix)
        ]

    key = email_key(email)
    if key:
        found = offered(mirror.contacts_by_email(key))
        if found:
            return pick(found, "same email", key)
    name = clean(name, NAME_LIMIT)
    if mode == "email_then_name" and name:
        found = offered(mirror.contacts_by_name(name))
        if found:
            return pick(found, "same name", name.casefold())
    return Resolution.create()


def pick(found: Sequence[Mapping[str, Any]], reason: str, value: str) -> Resolution:
    """One contact links; several ask a person, each offered with its name and email."""
    if len(found) == 1:
        return Resolution.link(str(found[0]["ContactID"]))
    candidates = tuple(
        Candidate(
            str(c["ContactID"]),
            f"{c.get('Name', '')} <{c.get('EmailAddress', '')}>".strip(),
            reason,
        )
        for c in sorted(found, key=lambda c: str(c["ContactID"]))
    )
    return Resolution.choose(f"{len(found)} Xero contacts have the {reason} {value!r}", candidates)


def name_taken(mirror: XeroMirror, name: str, *, own_id: str | None, own_number: str) -> bool:
    """Whether another Xero contact already has this Name (Xero keeps contact names unique)."""
    return any(
        str(c.get("ContactID")) != own_id and c.get("ContactNumber") != own_number
        for c in mirror.contacts_by_name(name)
    )
