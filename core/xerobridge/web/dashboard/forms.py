"""Settings forms generated from a plugin's pydantic settings model.

Each field of the model becomes an input by its type: `Literal` and enums a select of their
choices, `bool` a checkbox, numbers a number input with the model's bounds, tables
(`dict[str, str]`) editable key and value rows, lists a comma-separated text, the core's
`Schedule` a mode with its minutes or hour, and `SecretStr` a password input that is never
filled in: a blank secret keeps the stored value, and only its "remove" box clears it.

The form speaks the same text the CLI's `--set` does, so what a form sends is saved by the
same `sources.add` / `sources.update_settings`, and a value typed in one shows in the other.
"""

from __future__ import annotations

import enum
import os
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Union, get_args, get_origin

from annotated_types import Ge, Gt, Le, Lt
from pydantic import AnyUrl, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from starlette.datastructures import FormData

from xerobridge.config import sources
from xerobridge.contract.settings import Schedule, SourceSettings, to_text

#: Blank rows a table field offers for new entries (without JavaScript a form cannot grow).
BLANK_ROWS = 3
#: Fields a source page shows in a form of their own (the streams table switches them).
STREAM_FIELDS = frozenset({"disabled_streams"})


@dataclass
class FormField:
    """One input of a settings form, ready for the template."""

    name: str
    label: str
    kind: str  # text | url | number | checkbox | select | secret | table | list | schedule
    help: str
    value: str = ""
    required: bool = False
    choices: tuple[str, ...] = ()
    minimum: str = ""
    maximum: str = ""
    rows: list[tuple[str, str]] = field(default_factory=list)
    parts: dict[str, str] = field(default_factory=dict)
    secret_set: bool = False
    env: str = ""
    error: str = ""
    #: What each choice of a select is shown as (the organisation's accounts, tax rates).
    labels: dict[str, str] = field(default_factory=dict)


def current_texts(model: type[SourceSettings], stored: Mapping[str, str]) -> dict[str, str]:
    """What each field holds as text: the stored value, else the model's default."""
    texts: dict[str, str] = {}
    for name, info in model.model_fields.items():
        if name in stored:
            texts[name] = stored[name]
        elif not info.is_required():
            texts[name] = to_text(info.get_default(call_default_factory=True))
        else:
            texts[name] = ""
    return texts


def fields(
    model: type[SourceSettings],
    texts: Mapping[str, str],
    *,
    errors: Mapping[str, str] | None = None,
    secrets_set: Iterable[str] = (),
    source: str = "",
    skip: frozenset[str] = STREAM_FIELDS,
    listed: Mapping[str, list[tuple[str, str]]] | None = None,
) -> list[FormField]:
    """The form's inputs, showing `texts` (secrets never), with each field's error; a text
    field in `listed` (the organisation's accounts, tax types, currencies) is a select of
    those, labelled, with "" for a field that may be left empty."""
    errors = errors or {}
    secrets_set = set(secrets_set)
    found: list[FormField] = []
    for name, info in model.model_fields.items():
        if name in skip:
            continue
        kind, choices = _kind(info.annotation)
        text = texts.get(name, "")
        f = FormField(
            name=name,
            label=name.replace("_", " ").capitalize(),
            kind=kind,
            help=info.description or "",
            value="" if kind == "secret" else text,
            required=info.is_required(),
            choices=choices,
            secret_set=name in secrets_set,
            error=errors.get(name, ""),
        )
        if source and os.environ.get(sources.env_name(source, name)) is not None:
            f.env = sources.env_name(source, name)
        offered = (listed or {}).get(name)
        if offered and kind == "text":
            f.kind = "select"
            empty = () if info.is_required() else (("", "(none)"),)
            f.choices = tuple(value for value, _label in (*empty, *offered))
            f.labels = dict((*empty, *offered))
        if kind == "number":
            f.minimum, f.maximum = _bounds(info)
        elif kind == "table":
            f.rows = [*_table_rows(text), *([("", "")] * BLANK_ROWS)]
        elif kind == "schedule":
            f.parts = _schedule_parts(text)
        elif kind == "checkbox":
            f.value = "true" if text.strip().lower() in ("true", "1", "yes", "on") else "false"
        found.append(f)
    return found


def read(
    model: type[SourceSettings], form: FormData, *, skip: frozenset[str] = STREAM_FIELDS
) -> tuple[dict[str, str], dict[str, str]]:
    """The texts a submitted form holds per field, and the problems found reading it.

    A field the form does not carry is left out, and so is a blank secret (the stored value
    stays) unless its "remove" box is ticked.
    """
    texts: dict[str, str] = {}
    problems: dict[str, str] = {}
    for name, info in model.model_fields.items():
        if name in skip:
            continue
        kind, _choices = _kind(info.annotation)
        if not any(key == name or key.startswith(f"{name}.") for key in form):
            continue  # not in this form: the field keeps what it holds
        if kind == "checkbox":
            # A hidden "false" precedes the box, so an unticked box still says so.
            values = form.getlist(name)
            texts[name] = str(values[-1]) if values else "false"
        elif kind == "secret":
            typed = str(form.get(name, ""))
            if typed:
                texts[name] = typed
            elif form.get(f"{name}.clear"):
                texts[name] = ""
        elif kind == "table":
            text, problem = _read_table(form, name)
            texts[name] = text
            if problem:
                problems[name] = problem
        elif kind == "schedule":
            texts[name] = _read_schedule(form, name)
        else:
            texts[name] = str(form.get(name, "")).strip()
    return texts, problems


def errors_of(model: type[SourceSettings], values: Mapping[str, str]) -> dict[str, str]:
    """Each field's first problem if the values were saved, by field name (none: valid)."""
    try:
        model.model_validate(dict(values))
    except ValidationError as exc:
        return _by_field(model, exc)
    except ValueError as exc:  # a whole-model check that names its field in its message
        return _by_message(model, str(exc))
    return {}


def changed(
    model: type[SourceSettings], typed: Mapping[str, str], current: Mapping[str, str]
) -> dict[str, str]:
    """The typed values that differ from what the fields hold now (only these are saved)."""
    secrets = model.secret_fields()
    out: dict[str, str] = {}
    for name, text in typed.items():
        if name in secrets or _normal(text) != _normal(current.get(name, "")):
            out[name] = text
    return out


# -- kinds ----------------------------------------------------------------------------------------


def _kind(annotation: Any) -> tuple[str, tuple[str, ...]]:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        inner = [a for a in get_args(annotation) if a is not type(None)]
        if len(inner) == 1:
            return _kind(inner[0])
        return "text", ()
    if annotation is SecretStr:
        return "secret", ()
    if annotation is bool:
        return "checkbox", ()
    if annotation is Schedule:
        return "schedule", ()
    if origin is Literal:
        return "select", tuple(
            str(a.value if isinstance(a, enum.Enum) else a) for a in get_args(annotation)
        )
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "select", tuple(str(m.value) for m in annotation)
    if annotation in (int, float):
        return "number", ()
    if isinstance(annotation, type) and issubclass(annotation, AnyUrl):
        return "url", ()
    if origin is dict:
        return "table", ()
    if origin in (list, tuple, set, frozenset):
        return "list", ()
    return "text", ()


def _bounds(info: FieldInfo) -> tuple[str, str]:
    low = high = ""
    for rule in info.metadata:
        if isinstance(rule, Ge):
            low = str(rule.ge)
        elif isinstance(rule, Gt) and isinstance(rule.gt, int):
            low = str(rule.gt + 1)
        elif isinstance(rule, Le):
            high = str(rule.le)
        elif isinstance(rule, Lt) and isinstance(rule.lt, int):
            high = str(rule.lt - 1)
    return low, high


# -- tables ---------------------------------------------------------------------------------------


def _table_rows(text: str) -> list[tuple[str, str]]:
    rows = []
    for part in text.split(","):
        if not part.strip():
            continue
        key, _sep, value = part.partition("=")
        rows.append((key.strip(), value.strip()))
    return rows


def _read_table(form: FormData, name: str) -> tuple[str, str]:
    keys = form.getlist(f"{name}.key")
    values = form.getlist(f"{name}.value")
    pairs: list[str] = []
    for number, (raw_key, raw_value) in enumerate(zip(keys, values, strict=False), start=1):
        key, value = str(raw_key).strip(), str(raw_value).strip()
        if not key and not value:
            continue
        if not key:
            return ",".join(pairs), f"row {number} has a value ({value!r}) but no key"
        if any(c in key + value for c in ",="):
            return ",".join(pairs), f"row {number}: keys and values cannot contain ',' or '='"
        pairs.append(f"{key}={value}")
    return ",".join(pairs), ""


# -- schedules ------------------------------------------------------------------------------------


def _schedule_parts(text: str) -> dict[str, str]:
    try:
        schedule = Schedule.model_validate(text)
    except (ValidationError, ValueError):
        # A refused value goes back into the inputs as typed, for the person to correct.
        number = "".join(c for c in text if c.isdigit())
        if text.startswith("daily"):
            return {"mode": "daily", "minutes": "", "hour": number}
        return {"mode": "interval", "minutes": number, "hour": ""}
    return {"mode": schedule.mode, "minutes": str(schedule.minutes), "hour": str(schedule.hour)}


def _read_schedule(form: FormData, name: str) -> str:
    mode = str(form.get(f"{name}.mode", "")).strip()
    minutes = str(form.get(f"{name}.minutes", "")).strip()
    hour = str(form.get(f"{name}.hour", "")).strip()
    if mode == "immediate":
        return "immediate"
    if mode == "daily":
        return f"daily at {hour or '?'}"
    if mode == "interval":
        return f"every {minutes or '?'} minutes"
    return str(form.get(name, mode)).strip()


# -- errors ---------------------------------------------------------------------------------------


def _by_field(model: type[SourceSettings], exc: ValidationError) -> dict[str, str]:
    out: dict[str, str] = {}
    for err in exc.errors(include_url=False):
        reason = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        loc = err.get("loc") or ()
        if not loc:
            for name, text in _by_message(model, reason).items():
                out.setdefault(name, text)
            continue
        name = str(loc[0])
        if err.get("type") == "missing":
            reason = "required: fill this in"
        out.setdefault(name, reason)
    return out


def _by_message(model: type[SourceSettings], message: str) -> dict[str, str]:
    name, sep, rest = message.partition(":")
    if sep and name.strip() in model.model_fields:
        return {name.strip(): rest.strip()}
    return {"": message}


def _normal(text: str) -> str:
    return ",".join(p.strip() for p in text.split(",")).strip()
