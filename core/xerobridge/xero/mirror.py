"""A local copy of the organisation's reference data, so that mapping costs no API calls.

Contacts, Items, Accounts, TaxRates and TrackingCategories are read in full once, then only
what changed (If-Modified-Since, where Xero supports it; the cursor is Xero's own
UpdatedDateUTC, so our clock's skew does not matter). Look-ups fold case the way Xero's own
uniqueness rules do: "ACME Ltd" and "acme ltd" are one name to Xero.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select

from xerobridge.clock import Clock
from xerobridge.store.db import Store
from xerobridge.store.models import MirrorCursor, MirrorRecord
from xerobridge.xero.client import XeroClient
from xerobridge.xero.objects import MIRRORED, xero_object

_STALE_AFTER = timedelta(hours=6)
_MS_DATE = re.compile(r"/Date\((-?\d+)([+-]\d{4})?\)/")


def fold(text: str | None) -> str:
    """A name or email as Xero compares them: case-insensitive, outer spaces ignored."""
    return (text or "").strip().casefold()


def parse_xero_datetime(value: Any) -> datetime | None:
    """Xero's `/Date(ms+0000)/` or an ISO timestamp, as an aware UTC datetime."""
    if not isinstance(value, str):
        return None
    if m := _MS_DATE.match(value):
        return datetime.fromtimestamp(int(m.group(1)) / 1000, tz=UTC)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _keys(kind: str, record: Mapping[str, Any]) -> dict[str, str]:
    if kind == "Contact":
        return {
            "number": record.get("ContactNumber") or "",
            "name_key": fold(record.get("Name")),
            "email_key": fold(record.get("EmailAddress")),
            "status": record.get("ContactStatus") or "",
        }
    if kind == "Item":
        return {"number": record.get("Code") or "", "name_key": fold(record.get("Name"))}
    if kind == "Account":
        return {
            "number": record.get("Code") or "",
            "name_key": fold(record.get("Name")),
            "status": record.get("Status") or "",
        }
    if kind == "TaxRate":
        return {
            "number": record.get("TaxType") or "",
            "name_key": fold(record.get("Name")),
            "status": record.get("Status") or "",
        }
    return {"name_key": fold(record.get("Name")), "status": record.get("Status") or ""}


class Mirror:
    """Keeps the mirror of every connection fresh and answers look-ups from it."""

    def __init__(self, store: Store, client: XeroClient, *, clock: Clock | None = None) -> None:
        self.store = store
        self.client = client
        self.clock = clock or store.clock

    async def refresh(self, connection_id: int, kinds: Iterable[str] = MIRRORED) -> dict[str, int]:
        """Read what changed since the last refresh; returns how many records each kind got."""
        counts: dict[str, int] = {}
        for kind in kinds:
            with self.store.transaction() as s:
                cursor = s.get(MirrorCursor, (connection_id, kind))
            now = self.clock.now()
            since = cursor.modified_since if cursor else None
            if not xero_object(kind).incremental:
                fresh = cursor and cursor.refreshed_at and now - cursor.refreshed_at < _STALE_AFTER
                if fresh:
                    counts[kind] = 0
                    continue
                since = None
            params = {"includeArchived": "true"} if kind in ("Contact", "TrackingCategory") else {}
            batch: list[dict[str, Any]] = []
            newest = since
            counts[kind] = 0
            async for record in self.client.records(
                connection_id, kind, if_modified_since=since, params=params
            ):
                batch.append(record)
                updated = parse_xero_datetime(record.get("UpdatedDateUTC"))
                if updated and (newest is None or updated > newest):
                    newest = updated
                if len(batch) == 500:
                    counts[kind] += self.remember(connection_id, kind, batch)
                    batch = []
            counts[kind] += self.remember(connection_id, kind, batch)
            self._save_cursor(connection_id, kind, newest, now)
        return counts

    def _save_cursor(
        self, connection_id: int, kind: str, newest: datetime | None, now: datetime
    ) -> None:
        """Upsert the kind's cursor: workers refreshing together must not collide on the row,
        and a slower one must not move it back."""
        insert = (sqlite.insert if self.store.is_sqlite else postgresql.insert)(MirrorCursor)
        stmt = insert.values(
            connection_id=connection_id, kind=kind, modified_since=newest, refreshed_at=now
        )
        newer = sa.or_(
            col(MirrorCursor.modified_since).is_(None),
            col(MirrorCursor.modified_since) < stmt.excluded.modified_since,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["connection_id", "kind"],
            set_={
                "modified_since": sa.case(
                    (newer, stmt.excluded.modified_since), else_=MirrorCursor.modified_since
                ),
                "refreshed_at": stmt.excluded.refreshed_at,
            },
        )
        with self.store.transaction() as s:
            s.execute(stmt)

    async def refresh_if_stale(self, connection_id: int, older_than: timedelta) -> bool:
        """Refresh the connection's mirror if a kind was never read or not for `older_than`;
        whether it did. Workers call it before pushing, so that mapping sees what people
        changed in Xero meanwhile, at a few calls per interval and only while there is work."""
        now = self.clock.now()
        with self.store.transaction() as s:
            rows = s.exec(
                select(MirrorCursor).where(
                    MirrorCursor.connection_id == connection_id,
                    col(MirrorCursor.kind).in_(MIRRORED),
                )
            ).all()
        seen = {row.kind: row.refreshed_at for row in rows}
        if all(seen.get(kind) and now - seen[kind] < older_than for kind in MIRRORED):  # type: ignore[operator]
            return False
        await self.refresh(connection_id)
        return True

    def remember(self, connection_id: int, kind: str, records: Iterable[Mapping[str, Any]]) -> int:
        """Store records as Xero gave them (a read, or the answer to one of our writes)."""
        records = list(records)
        for attempt in range(3):
            try:
                return self._remember(connection_id, kind, records)
            except sa.exc.IntegrityError:
                # Another process stored one of these records first (two workers refreshing
                # at once); read again, and this time update its row.
                if attempt == 2:
                    raise
        return 0

    def _remember(self, connection_id: int, kind: str, records: list[Mapping[str, Any]]) -> int:
        id_field = xero_object(kind).id_field
        count = 0
        now = self.clock.now()
        with self.store.transaction() as s:
            for record in records:
                xero_id = record.get(id_field)
                if not xero_id:
                    continue
                row = s.exec(
                    select(MirrorRecord).where(
                        MirrorRecord.connection_id == connection_id,
                        MirrorRecord.kind == kind,
                        MirrorRecord.xero_id == xero_id,
                    )
                ).first() or MirrorRecord(connection_id=connection_id, kind=kind, xero_id=xero_id)
                for key, value in _keys(kind, record).items():
                    setattr(row, key, value)
                row.data = dict(record)
                row.updated_at = now
                s.add(row)
                count += 1
        return count

    def view(self, connection_id: int) -> MirrorView:
        """Look-ups for one organisation (what hooks get as `ctx.xero`)."""
        return MirrorView(self.store, connection_id)


class MirrorView:
    """Read-only look-ups in one organisation's mirror; no API calls.

    Accounts, tax rates and tracking categories change rarely and are asked for on every
    document, so their answers are kept for a minute; contacts and items are always read
    fresh, because the sync itself creates them.
    """

    CACHED = frozenset({"Account", "TaxRate", "TrackingCategory"})
    TTL = 60.0

    def __init__(self, store: Store, connection_id: int) -> None:
        self.store = store
        self.connection_id = connection_id
        self._cache: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[float, list[Any]]] = {}

    def _find(self, kind: str, **where: str) -> list[dict[str, Any]]:
        if kind not in self.CACHED:
            return self._read(kind, **where)
        key = (kind, tuple(sorted(where.items())))
        hit = self._cache.get(key)
        now = time.monotonic()
        if hit is not None and now - hit[0] < self.TTL:
            return hit[1]
        found = self._read(kind, **where)
        self._cache[key] = (now, found)
        return found

    def _read(self, kind: str, **where: str) -> list[dict[str, Any]]:
        query = select(MirrorRecord).where(
            MirrorRecord.connection_id == self.connection_id, MirrorRecord.kind == kind
        )
        for column, value in where.items():
            query = query.where(getattr(MirrorRecord, column) == value)
        with self.store.transaction() as s:
            rows = s.exec(query.order_by(col(MirrorRecord.id))).all()
        return [dict(r.data or {}) for r in rows]

    def contacts(self) -> list[Mapping[str, Any]]:
        """Every mirrored contact, archived ones included."""
        return list(self._find("Contact"))

    def items(self) -> list[Mapping[str, Any]]:
        """Every mirrored item."""
        return list(self._find("Item"))

    def accounts(self) -> list[Mapping[str, Any]]:
        """The chart of accounts."""
        return list(self._find("Account"))

    def tax_rates(self) -> list[Mapping[str, Any]]:
        """The organisation's tax rates."""
        return list(self._find("TaxRate"))

    def tracking_categories(self) -> list[Mapping[str, Any]]:
        """Tracking categories with their options."""
        return list(self._find("TrackingCategory"))

    def currencies(self) -> frozenset[str]:
        """The organisation's enabled currency codes (empty until Currencies were read)."""
        return frozenset(str(r.get("Code") or "").upper() for r in self._read("Currency"))

    def contact_by_number(self, number: str) -> Mapping[str, Any] | None:
        """The contact carrying this ContactNumber (unique in Xero)."""
        found = self._find("Contact", number=number)
        return found[0] if found else None

    def contacts_by_email(self, email: str) -> list[Mapping[str, Any]]:
        """Active contacts with this email address, case-insensitively."""
        return [c for c in self._find("Contact", email_key=fold(email)) if _active(c)]

    def contacts_by_name(self, name: str) -> list[Mapping[str, Any]]:
        """Active contacts with this name, case-insensitively (at most one, by Xero's rule)."""
        return [c for c in self._find("Contact", name_key=fold(name)) if _active(c)]

    def item_by_code(self, code: str) -> Mapping[str, Any] | None:
        """The item with this Code."""
        found = self._find("Item", number=code)
        return found[0] if found else None

    def account_by_code(self, code: str) -> Mapping[str, Any] | None:
        """The account with this Code."""
        found = self._find("Account", number=code)
        return found[0] if found else None

    def account_by_name(self, name: str) -> Mapping[str, Any] | None:
        """The active account with this name, case-insensitively."""
        found = [a for a in self._find("Account", name_key=fold(name)) if _active(a)]
        return found[0] if found else None


def _active(record: Mapping[str, Any]) -> bool:
    return (record.get("ContactStatus") or record.get("Status") or "ACTIVE") == "ACTIVE"
