"""Configured sources: adding, listing and removing them, and reading and writing their settings.

Setting values are stored as text, as a person types them; secret fields are stored encrypted.
The effective value of a field is, from weakest to strongest: the model's default, the stored
source value, the stored per-record value (for fields a plugin allows), and the environment
variable `XEROBRIDGE_<SOURCE>_<FIELD>`.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from xerobridge.config import connections
from xerobridge.contract.errors import UserError
from xerobridge.contract.plugins import Plugins
from xerobridge.contract.settings import SourceSettings, to_text, validate_settings
from xerobridge.contract.types import CursorKind, Direction, SourceSpec
from xerobridge.store import cursors, encryption
from xerobridge.store.db import Store
from xerobridge.store.models import (
    ActionLog,
    Claim,
    Connection,
    Cursor,
    Job,
    Link,
    ScheduleSlot,
    Setting,
    Source,
)
from xerobridge.store.states import JobKind, JobState

_SOURCE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
_PREFIX = re.compile(r"^[A-Z0-9]{1,8}$")
#: First words of the core's own XEROBRIDGE_* variables; a source so named would collide.
_RESERVED = frozenset({"database", "secret", "home", "disable", "test", "require", "shared"})

log = logging.getLogger(__name__)


def env_name(source: str, field: str) -> str:
    """The environment variable that overrides a source's setting."""
    return f"XEROBRIDGE_{source.upper().replace('-', '_')}_{field.upper()}"


def get(session: Session, name: str) -> Source:
    """The source called `name`, or a UserError listing those that exist."""
    source = session.exec(select(Source).where(Source.name == name)).first()
    if source is None:
        names = ", ".join(session.exec(select(Source.name).order_by(Source.name)).all())
        hint = f"configured: {names}" if names else "none is configured yet"
        raise UserError(f"no source named {name!r} ({hint}); add one with `xerobridge sources add`")
    return source


def add(
    store: Store,
    plugins: Plugins,
    plugin: str,
    name: str,
    *,
    connection: str | None = None,
    values: Mapping[str, str] | None = None,
    key_prefix: str | None = None,
    ask_connection: bool = False,
) -> Source:
    """Configure a new source of a plugin, validating its settings before anything is saved.

    Without a connection named it waits unbound, or with `ask_connection` (the CLI) it syncs
    with the only one, and is refused saying what to do when there are several or none.
    """
    spec = plugins.spec(plugin)
    if not _SOURCE_NAME.match(name):
        raise UserError(
            f"source name {name!r} must start with a letter and use a-z, 0-9 and - (max 40)"
        )
    if name.split("-", maxsplit=1)[0] in _RESERVED:
        raise UserError(
            f"source name {name!r} would clash with xerobridge's own environment variables; "
            "pick another --name"
        )
    prefix = (key_prefix or _default_prefix(name)).upper()
    if not _PREFIX.match(prefix):
        raise UserError(f"key prefix {prefix!r} must be 1 to 8 letters A-Z or digits")
    values = dict(values or {})
    validate_settings(spec.settings, values, source=name)
    _check_streams(spec, validate_settings(spec.settings, values, source=name))
    with store.transaction() as s:
        if s.exec(select(Source).where(Source.name == name)).first():
            raise UserError(f"a source named {name!r} exists already; pick another --name")
        taken = set(s.exec(select(Source.key_prefix)).all())
        if key_prefix is None:
            # A prefix made from the name takes a digit when another source has it already
            # (demo-magento and demo-marketplace would both be DEMOMA).
            free = [prefix, *(f"{prefix[:5]}{n}" for n in range(2, 10))]
            prefix = next((p for p in free if p not in taken), prefix)
        if prefix in taken:
            raise UserError(
                f"key prefix {prefix!r} is used by another source; choose one with --prefix"
            )
        conn_id = _connection_for(s, connection, ask=ask_connection)
        source = Source(
            name=name,
            plugin=plugin,
            connection_id=conn_id,
            key_prefix=prefix,
            created_at=store.clock.now(),
        )
        s.add(source)
        s.flush()
        _write_values(s, store, source, spec.settings, values, scope="")
    return source


def _connection_for(session: Session, name: str | None, *, ask: bool) -> int | None:
    """The connection a new source syncs with: the one named; with `ask` (the CLI), the only
    one there is, or a refusal saying what to do when there are several or none."""
    if name is not None:
        return connections.get(session, name).id
    if not ask:
        return None
    known = connections.list_all(session)
    if len(known) == 1:
        return known[0].id
    if not known:
        raise UserError(
            "no Xero connection yet: connect one first (`xerobridge connect --help`), "
            "then add the source"
        )
    names = ", ".join(c.name for c in known)
    raise UserError(
        f"there are {len(known)} Xero connections ({names}): say which this source syncs "
        "with, with --connection NAME"
    )


def connect(store: Store, name: str, connection: str) -> Source:
    """Bind a source to a Xero connection (its links stay: they name that organisation's ids)."""
    with store.transaction() as s:
        source = get(s, name)
        conn = connections.get(s, connection)
        if source.connection_id not in (None, conn.id) and _has_links(s, source):
            raise UserError(
                f"source {name} has records linked in another Xero organisation; binding it to "
                f"{connection} would mix the two: remove the source and add it again instead"
            )
        source.connection_id = conn.id
        s.add(source)
        return source


def _has_links(session: Session, source: Source) -> bool:
    return (
        session.exec(select(Link.id).where(Link.source_id == source.id).limit(1)).first()
        is not None
    )


def remove(store: Store, name: str) -> None:
    """Delete a source with its settings, cursors, jobs, links and notifications."""
    with store.transaction() as s:
        source = get(s, name)
        for table in (Setting, Cursor, Job, Link, Claim, ActionLog, ScheduleSlot):
            s.execute(sa.delete(table).where(col(table.source_id) == source.id))
        s.delete(source)


def reinitialize(store: Store, name: str) -> dict[str, int]:
    """Forget what a source knows of its Xero organisation, keeping its settings: its links,
    cursors and jobs go, so that bound to another organisation it starts afresh (nothing in
    the source system is touched). Returns how many of each were forgotten."""
    forgotten: dict[str, int] = {}
    with store.transaction() as s:
        source = get(s, name)
        for table, what in ((Link, "links"), (Claim, "claims"), (Cursor, "cursors"), (Job, "jobs"),
                            (ScheduleSlot, "schedule slots")):  # fmt: skip
            done = s.execute(sa.delete(table).where(col(table.source_id) == source.id))
            forgotten[what] = int(done.rowcount or 0)  # type: ignore[attr-defined]
    return forgotten


def set_enabled(store: Store, name: str, enabled: bool) -> Source:
    """Switch a source on or off; a disabled source is not read or synced."""
    with store.transaction() as s:
        source = get(s, name)
        source.enabled = enabled
        s.add(source)
    return source


def list_all(session: Session) -> list[Source]:
    """Every configured source, by name."""
    return list(session.exec(select(Source).order_by(col(Source.name))).all())


def status(session: Session, source: Source, spec: SourceSpec) -> str:
    """`disabled`; `pending` until each stream it reads has been read once, history included;
    then `connected`. Dependency-only streams (read only when a record needs one) never are."""
    if not source.enabled:
        return "disabled"
    try:
        settings = load_settings(session, source, spec)
    except UserError:
        return "error"  # settings that do not validate: the settings page says which
    streams = [
        stream.name
        for stream in spec.streams
        # A stream from Xero always keeps a cursor: the core reads it.
        if (stream.direction is Direction.FROM_XERO or stream.cursor is not CursorKind.NONE)
        and settings.stream_enabled(stream.name)
    ]
    assert source.id is not None
    if read_problem(session, source.id):
        return "error"
    return cursors.reading_state(session, source.id, streams)


def read_problem(session: Session, source_id: int) -> str:
    """Why the source cannot be read now (unreachable, credentials refused), or "": the last
    error of a read of it that waits to be tried again or for its setup to be fixed."""
    found = session.exec(
        select(Job.last_error)
        .where(
            Job.source_id == source_id,
            Job.kind == JobKind.FETCH,
            col(Job.state).in_((JobState.QUEUED, JobState.HELD)),
            Job.last_error != "",
        )
        .order_by(col(Job.updated_at).desc())
    ).first()
    return str(found or "")


def as_dict(session: Session, source: Source, plugins: Plugins) -> dict[str, Any]:
    """One source as `xerobridge sources list --json` and `/api/sources` show it."""
    try:
        state = status(session, source, plugins.spec(source.plugin))
    except UserError:
        state = "plugin missing"
    return {
        "name": source.name,
        "plugin": source.plugin,
        "key_prefix": source.key_prefix,
        "connection_id": source.connection_id,
        "connection": _connection_name(session, source),
        "enabled": source.enabled,
        "status": state,
        "reason": _why(session, source, plugins) if state == "error" else "",
    }


def _why(session: Session, source: Source, plugins: Plugins) -> str:
    """Why a source is in error: its settings, or a read that cannot be made."""
    try:
        load_settings(session, source, plugins.spec(source.plugin))
    except UserError as exc:
        return str(exc)
    return read_problem(session, source.id) if source.id is not None else ""


def _connection_name(session: Session, source: Source) -> str:
    if source.connection_id is None:
        return ""
    conn = session.get(Connection, source.connection_id)
    return conn.name if conn is not None else ""


def stored_values(session: Session, source: Source, *, scope: str = "") -> dict[str, str]:
    """The values saved for a source (or one record of it), secrets decrypted."""
    rows = session.exec(
        select(Setting).where(Setting.source_id == source.id, Setting.scope == scope)
    ).all()
    return {r.name: encryption.decrypt(r.value) if r.secret else r.value for r in rows}


def load_settings(
    session: Session,
    source: Source,
    spec: SourceSpec,
    *,
    record: tuple[str, str] | None = None,
) -> SourceSettings:
    """The effective settings of a source, or of one record where the plugin allows overrides."""
    values: dict[str, Any] = stored_values(session, source)
    retired = sorted(set(values) - set(spec.settings.model_fields))
    if retired:
        # A plugin upgrade that drops a setting must not stop the source its rows belong to.
        log.info("source %s: ignoring settings its plugin no longer has: %s", source.name, retired)
        values = {k: v for k, v in values.items() if k not in retired}
    if record is not None and spec.settings.per_record_fields:
        scoped = stored_values(session, source, scope=_scope(record))
        values.update({k: v for k, v in scoped.items() if k in spec.settings.per_record_fields})
    for field in spec.settings.model_fields:
        env = os.environ.get(env_name(source.name, field))
        if env is not None:
            values[field] = env
    return validate_settings(spec.settings, values, source=source.name)


def scoped_values(
    session: Session, source: Source, spec: SourceSpec
) -> dict[tuple[str, str], SourceSettings]:
    """The effective settings of every record that has per-record values, by (stream, key)."""
    if not spec.settings.per_record_fields:
        return {}
    rows = session.exec(
        select(Setting).where(Setting.source_id == source.id, Setting.scope != "")
    ).all()
    records = {_record_of(row.scope) for row in rows}
    return {
        record: load_settings(session, source, spec, record=record)
        for record in records
        if record is not None
    }


def _record_of(scope: str) -> tuple[str, str] | None:
    stream, sep, key = scope.partition(":")
    return (stream, key) if sep else None


def update_settings(
    store: Store,
    spec: SourceSpec,
    source_name: str,
    changes: Mapping[str, str],
    *,
    record: tuple[str, str] | None = None,
) -> SourceSettings:
    """Validate the merged settings and save the changed values; nothing is saved on error."""
    with store.transaction() as s:
        source = get(s, source_name)
        scope = ""
        if record is not None:
            spec.stream(record[0])  # a typo in the stream would save a value nothing reads
            scope = _scope(record)
            allowed = spec.settings.per_record_fields
            wrong = sorted(set(changes) - allowed)
            if wrong:
                fields = ", ".join(sorted(allowed)) or "none"
                raise UserError(
                    f"setting {wrong[0]!r} cannot be set per record; per-record settings: {fields}"
                )
        merged = stored_values(s, source)
        if scope:
            merged.update(stored_values(s, source, scope=scope))
        merged.update(changes)
        settings = validate_settings(spec.settings, merged, source=source_name)
        _check_streams(spec, settings)
        _write_values(s, store, source, spec.settings, dict(changes), scope=scope)
        return settings


def _write_values(
    s: Session,
    store: Store,
    source: Source,
    model: type[SourceSettings],
    values: Mapping[str, Any],
    *,
    scope: str,
) -> None:
    secrets = model.secret_fields()
    now = store.clock.now()
    source_id = source.id
    assert source_id is not None, "a stored source has an id"
    for name, raw in values.items():
        text = to_text(raw)
        secret = name in secrets
        row = s.exec(
            select(Setting).where(
                Setting.source_id == source_id, Setting.scope == scope, Setting.name == name
            )
        ).first()
        row = row or Setting(source_id=source_id, scope=scope, name=name)
        row.value = encryption.encrypt(text) if secret else text
        row.secret = secret
        row.updated_at = now
        s.add(row)


def _check_streams(spec: SourceSpec, settings: SourceSettings) -> None:
    names = {s.name for s in spec.streams}
    for stream in settings.disabled_streams:
        if stream not in names:
            raise UserError(
                f"setting disabled_streams names {stream!r}, which {spec.name} does not have; "
                f"streams: {', '.join(sorted(names))}"
            )


def _scope(record: tuple[str, str]) -> str:
    return f"{record[0]}:{record[1]}"


def _default_prefix(name: str) -> str:
    letters = re.sub(r"[^a-z0-9]", "", name.lower())
    return letters[:6].upper() or "SRC"
