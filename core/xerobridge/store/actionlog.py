"""The action log: notifications for a person, what each source's `notify` setting shows of them,
and acknowledging them.

Entries have a level: `error` (a record failed for good), `action` (a person must do something:
choose a mapping, reconnect) and `info` (a task that went well). A source whose `notify` setting
is `errors` shows its errors and actions only; `all` shows every entry. Entries of no source (a
connection's) are shown whatever the setting.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult
from sqlmodel import Session, col, select

from xerobridge.contract.settings import NotifyLevel
from xerobridge.store.models import ActionLog

#: The levels a source set to `notify=errors` shows.
NEEDS_ATTENTION = ("error", "action")


@dataclass(frozen=True)
class ActionFilter:
    """Which entries to list.

    `show` is a notify level for every source at once; when None, each source's own setting
    (from `levels`, source id to level; a source not in it shows everything) decides.
    """

    source_id: int | None = None
    show: NotifyLevel | None = None
    levels: Mapping[int, NotifyLevel] | None = None
    unacknowledged_only: bool = False
    limit: int = 100
    offset: int = 0


def _where(flt: ActionFilter) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = []
    if flt.source_id is not None:
        conditions.append(col(ActionLog.source_id) == flt.source_id)
    if flt.unacknowledged_only:
        conditions.append(col(ActionLog.acknowledged).is_(False))
    attention = col(ActionLog.level).in_(NEEDS_ATTENTION)
    if flt.show is NotifyLevel.ERRORS:
        conditions.append(attention)
    elif flt.show is None and flt.levels:
        quiet = [sid for sid, level in flt.levels.items() if level is NotifyLevel.ERRORS]
        if quiet:
            conditions.append(
                sa.or_(
                    attention,
                    col(ActionLog.source_id).is_(None),
                    col(ActionLog.source_id).not_in(quiet),
                )
            )
    return conditions


def entries(session: Session, flt: ActionFilter) -> list[ActionLog]:
    """Entries matching the filter, newest first."""
    stmt = select(ActionLog).where(*_where(flt))
    stmt = stmt.order_by(col(ActionLog.at).desc(), col(ActionLog.id).desc())
    return list(session.exec(stmt.offset(flt.offset).limit(flt.limit)).all())


def acknowledge(session: Session, entry_ids: Iterable[int]) -> int:
    """Mark the given entries as seen; returns how many were not seen before."""
    ids = list(entry_ids)
    if not ids:
        return 0
    result = session.execute(
        sa.update(ActionLog)
        .where(col(ActionLog.id).in_(ids), col(ActionLog.acknowledged).is_(False))
        .values(acknowledged=True)
    )
    return cast(CursorResult[Any], result).rowcount or 0


def acknowledge_all(session: Session, flt: ActionFilter) -> int:
    """Mark every unseen entry the filter shows as seen (paging aside); returns how many."""
    result = session.execute(
        sa.update(ActionLog)
        .where(*_where(flt), col(ActionLog.acknowledged).is_(False))
        .values(acknowledged=True)
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], result).rowcount or 0


def unacknowledged(session: Session) -> int:
    """How many entries nobody has acknowledged yet."""
    return session.exec(
        select(sa.func.count()).select_from(ActionLog).where(col(ActionLog.acknowledged).is_(False))
    ).one()
