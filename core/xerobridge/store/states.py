"""The states the store keeps, as enums: what a job is, where it stands, why it waits, and how
a link was made. The columns hold their string values, so every comparison with a stored value
works either way."""

from __future__ import annotations

from enum import StrEnum


class JobKind(StrEnum):
    """What a job does."""

    FETCH = "fetch"  # read a stream (or some records) of a source
    PUSH = "push"  # write one record to Xero
    APPLY = "apply"  # write one change of a Xero record to its source


class JobState(StrEnum):
    """Where a job stands."""

    QUEUED = "queued"
    RUNNING = "running"
    HELD = "held"  # waits, with a `HoldReason`, and spends nothing while it does
    DEAD = "dead"  # failed for good until a person retries it


class HoldReason(StrEnum):
    """Why a held job waits."""

    APPROVAL = "approval"  # a person approves each task (`require_approval`)
    MAPPING = "mapping"  # a person decides which Xero object the record is (`xerobridge map`)
    WAITING = "waiting"  # it needs a record that waits for a person; it wakes when that is done
    SETUP = "setup"  # a person must fix the setup (credentials, an account, a setting) first


class SyncStatus(StrEnum):
    """How a record's sync went, as the sync log keeps it."""

    SUCCESS = "success"
    ERROR = "error"


class LinkMethod(StrEnum):
    """How a source record came to be linked to its Xero object."""

    CREATED = "created"  # xerobridge made the Xero object
    MATCHED = "matched"  # found by the plugin's match (an email, a number)
    CHOSEN = "chosen"  # a person picked it
    CREATE = "create"  # a person asked for a new one
