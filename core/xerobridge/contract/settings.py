"""What every source can be told: the core's `SourceSettings` that each plugin's model extends.

Values are strings when they come from a person (CLI `--set`, a form, the environment), so every
field parses from text, and a bad value gives one line naming the field, the value and what fits.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from xerobridge.contract.errors import UserError

_INTERVAL = re.compile(r"^(?:every\s+)?(\d+)\s*(?:m|min|mins|minute|minutes)$")
_DAILY = re.compile(r"^(?:daily|once a day|once per day)(?:\s+at)?\s*(\d{1,2})?(?::00)?$")


class Schedule(BaseModel):
    """When a source's changes are read: at once, every N minutes, or daily at an hour (UTC)."""

    model_config = ConfigDict(frozen=True)

    mode: Literal["immediate", "interval", "daily"]
    minutes: int = Field(default=5, ge=1, le=1440)
    hour: int = Field(default=2, ge=0, le=23)

    @model_validator(mode="before")
    @classmethod
    def _parse_text(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        text = " ".join(value.strip().lower().split())
        if text in ("immediate", "immediately", "realtime"):
            return {"mode": "immediate"}
        if m := _INTERVAL.match(text):
            return {"mode": "interval", "minutes": int(m.group(1))}
        if m := _DAILY.match(text):
            return {"mode": "daily", "hour": int(m.group(1) or 2)}
        raise ValueError("expected 'immediate', 'every N minutes' or 'daily at HH'")

    @model_serializer
    def _as_text(self) -> str:
        return str(self)

    def __str__(self) -> str:
        if self.mode == "immediate":
            return "immediate"
        if self.mode == "interval":
            return f"every {self.minutes} minutes"
        return f"daily at {self.hour:02d}:00"

    @property
    def seconds(self) -> int | None:
        """How long between scheduled runs; None for immediate (runs on notification)."""
        if self.mode == "interval":
            return self.minutes * 60
        if self.mode == "daily":
            return 86400
        return None


class NotifyLevel(StrEnum):
    """Which events reach the action log: only errors and actions required, or all tasks."""

    ERRORS = "errors"
    ALL = "all"


class SourceSettings(BaseModel):
    """Settings every source has; a plugin's model subclasses this and adds its own.

    Import it as `xerobridge.sdk.SourceSettings`. Mark secret fields with `SecretStr`: they are
    encrypted at rest and shown redacted.
    List in `per_record_fields` the fields a single record may override (marketplace: auto-sync
    per customer).
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    per_record_fields: ClassVar[frozenset[str]] = frozenset()

    schedule: Schedule = Field(
        default=Schedule(mode="interval", minutes=5),
        description="When to read changes: 'immediate', 'every N minutes' or 'daily at HH'.",
    )
    reconcile: Schedule = Field(
        default=Schedule(mode="daily", hour=3),
        description=(
            "When to look for records the source deleted without trace (streams that delete "
            "that way only): 'every N minutes' or 'daily at HH'."
        ),
    )
    notify: NotifyLevel = Field(
        default=NotifyLevel.ERRORS,
        description="Action log: 'errors' (errors and actions required only) or 'all' tasks.",
    )
    require_approval: bool = Field(
        default=False,
        description="Create sync tasks but hold them until a person approves them.",
    )
    disabled_streams: list[str] = Field(
        default_factory=list,
        description="Streams that are switched off, comma-separated.",
    )
    notify_secret: SecretStr | None = Field(
        default=None,
        description=(
            "Secret the source sends as 'Authorization: Bearer <secret>' to "
            "POST /sources/<source>/notify (at least 16 characters; empty turns it off)."
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _split_text(cls, values: Any) -> Any:
        # A person types lists as "a,b" and tables as "a=1,b=2"; the model wants containers.
        if not isinstance(values, Mapping):
            return values
        values = dict(values)
        for name, info in cls.model_fields.items():
            raw = values.get(name)
            if not isinstance(raw, str):
                continue
            origin = getattr(info.annotation, "__origin__", None)
            parts = [p.strip() for p in raw.split(",") if p.strip()]
            if origin is list:
                values[name] = parts
            elif origin is dict:
                table: dict[str, str] = {}
                for part in parts:
                    key, sep, value = part.partition("=")
                    if not sep:
                        raise ValueError(f"{name}: {part!r} must look like key=value")
                    table[key.strip()] = value.strip()
                values[name] = table
        return values

    @field_validator("notify_secret", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        # `settings set shop notify_secret=` switches notifications off.
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        return None if isinstance(raw, str) and not raw.strip() else value

    @field_validator("notify_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters (try: openssl rand -hex 24)")
        return value

    @classmethod
    def secret_fields(cls) -> frozenset[str]:
        """The fields whose values are encrypted at rest and never shown."""
        return frozenset(
            name
            for name, info in cls.model_fields.items()
            if info.annotation is SecretStr or info.annotation == (SecretStr | None)
        )

    def stream_enabled(self, stream: str) -> bool:
        """Whether the stream is switched on."""
        return stream not in self.disabled_streams

    def redacted(self) -> dict[str, Any]:
        """The values as text, with secrets replaced, for showing to a person."""
        out: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                out[name] = "********" if value.get_secret_value() else ""
            elif name in self.secret_fields() and value is None:
                out[name] = ""
            else:
                out[name] = to_text(value)
        return out


def _tax_map(value: dict[str, str]) -> dict[str, str]:
    for percent in value:
        try:
            number = float(percent)
        except ValueError:
            raise ValueError(f"tax percent {percent!r} is not a number") from None
        if not (0 <= number <= 100):  # nan and inf fail this too
            raise ValueError(f"tax percent {percent!r} must be a number from 0 to 100")
    return value


def _web_url(value: str) -> str:
    text = value.strip()
    if text and not re.match(r"^https?://[^\s/?#]+", text, flags=re.IGNORECASE):
        raise ValueError(f"{text[:60]!r} must be an http:// or https:// address, or empty")
    return text


#: A tax percent (0 to 100) to a Xero TaxType, as settings map a source's rates.
TaxMap = Annotated[dict[str, str], AfterValidator(_tax_map)]
#: An http(s) address, or empty (a link xerobridge puts in Xero or on a page).
WebUrl = Annotated[str, AfterValidator(_web_url)]


#: The kinds of the organisation's own things a setting may name (`xero_list`).
XeroList = Literal["tax_type", "currency"]


def xero_list(kind: XeroList) -> dict[str, Any]:
    """A setting's `json_schema_extra` saying it names one of the organisation's tax types or
    currencies: the dashboard offers the organisation's as a select, and the CLI refuses a
    value the organisation lacks, listing those it has. (Account settings are known from
    `SourceSpec.xero_accounts`.)"""
    return {"xero": kind}


def xero_list_of(info: Any) -> str:
    """The `xero_list` kind a settings field names, or ""."""
    extra = getattr(info, "json_schema_extra", None)
    return str(extra.get("xero") or "") if isinstance(extra, dict) else ""


def to_text(value: Any) -> str:
    """One setting value as a person would type it."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple | set | frozenset):
        return ",".join(to_text(v) for v in value)
    if isinstance(value, dict):
        return ",".join(f"{k}={to_text(v)}" for k, v in value.items())
    if isinstance(value, BaseModel):
        return str(value)
    if value is None:
        return ""
    return str(value)


def validate_settings(
    model: type[SourceSettings], values: Mapping[str, Any], *, source: str
) -> SourceSettings:
    """Build the model from raw values, or raise a UserError naming the field and the value."""
    unknown = sorted(set(values) - set(model.model_fields))
    if unknown:
        known = ", ".join(model.model_fields)
        raise UserError(
            f"source {source!r} has no setting {unknown[0]!r}; its settings are: {known}"
        )
    try:
        return model.model_validate(dict(values))
    except ValidationError as exc:
        raise UserError(
            describe_error(exc, values, source=source, secrets=model.secret_fields())
        ) from None


def describe_error(
    exc: ValidationError,
    values: Mapping[str, Any],
    *,
    source: str,
    secrets: frozenset[str] = frozenset(),
) -> str:
    """One line for the first problem in a ValidationError: which field, which value, what fits.

    The value of a field in `secrets` is never repeated: a refused secret is still a secret.
    """
    err = exc.errors(include_url=False)[0]
    reason = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    loc = err.get("loc")
    if not loc:
        # A whole-model check (a malformed table, say) names the field in its own message.
        return f"source {source!r}: {reason}"
    name = str(loc[0])
    hidden = name in secrets or name in _secret_names(values)
    shown = "********" if hidden else values.get(name, "<missing>")
    if err.get("type") == "missing":
        return f"source {source!r}: setting {name!r} is required; set it with --set {name}=..."
    return f"source {source!r}: setting {name}={shown!r} is not valid: {reason}"


def _secret_names(values: Mapping[str, Any]) -> set[str]:
    return {k for k, v in values.items() if isinstance(v, SecretStr)}
