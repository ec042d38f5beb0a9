"""The organisation's own lists behind a source's settings: the accounts of the type each
account setting needs (`SourceSpec.xero_accounts`), its tax types and its currencies (settings
marked with `xero_list`), read from the local copy of the organisation, never from Xero.

The dashboard offers them as selects; `settings set` refuses a tax type or currency the
organisation lacks, naming those it has. An account not in Xero yet is allowed, since
`xerobridge setup-accounts` creates the accounts the settings name. With nothing mirrored yet
(no connection, or never synced), a setting stays free text.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from xerobridge.contract.errors import UserError
from xerobridge.contract.settings import xero_list_of
from xerobridge.contract.types import SourceSpec
from xerobridge.store.db import Store
from xerobridge.store.models import Source
from xerobridge.xero.mirror import MirrorView

#: (value, label) pairs a setting may take.
Choices = list[tuple[str, str]]


def choices(store: Store, source: Source, spec: SourceSpec) -> dict[str, Choices]:
    """For each setting naming something of the organisation, what it may be, with labels."""
    if source.connection_id is None:
        return {}
    return _listed(MirrorView(store, source.connection_id), spec)


def _listed(view: MirrorView, spec: SourceSpec) -> dict[str, Choices]:
    found: dict[str, Choices] = {}
    for need in spec.xero_accounts:
        found[need.setting] = [
            (str(a["Name"]), f"{a['Name']} ({a.get('Code') or 'no code'})")
            for a in accounts_of_type(view, need.account_type)
        ]
    for name, info in spec.settings.model_fields.items():
        kind = xero_list_of(info)
        if kind == "tax_type":
            found[name] = [
                (str(r["TaxType"]), f"{r['TaxType']}: {r.get('Name')} ({_rate(r)}%)")
                for r in view.tax_rates()
                if r.get("TaxType") and str(r.get("Status") or "ACTIVE") == "ACTIVE"
            ]
        elif kind == "currency":
            found[name] = [(code, code) for code in sorted(view.currencies())]
    return {name: listed for name, listed in found.items() if listed}


def accounts_of_type(view: MirrorView, account_type: str) -> list[Mapping[str, object]]:
    """The organisation's active accounts of a type, by name, as the mirror holds them."""
    return sorted(
        (a for a in view.accounts()
         if a.get("Type") == account_type and a.get("Name")
         and str(a.get("Status") or "ACTIVE") == "ACTIVE"),
        key=lambda a: str(a.get("Name")),
    )  # fmt: skip


def check(store: Store, source: Source, spec: SourceSpec, values: Mapping[str, str]) -> list[str]:
    """Refuse (UserError) a tax type or currency the organisation lacks; the notes for
    accounts not in Xero yet, which `setup-accounts` can create."""
    if source.connection_id is None:
        return []
    view = MirrorView(store, source.connection_id)
    known = _listed(view, spec)
    needs = {need.setting: need for need in spec.xero_accounts}
    notes: list[str] = []
    for name, value in values.items():
        listed = known.get(name)
        if listed is None or not value.strip():
            continue
        if name in needs:
            # An account setting names the account by its name or its code.
            accounts = accounts_of_type(view, needs[name].account_type)
            named = {str(a.get(f) or "").lower() for a in accounts for f in ("Name", "Code")}
            if value.strip().lower() not in named:
                notes.append(
                    f"{name}: account {value!r} is not in Xero yet; `xerobridge setup-accounts "
                    f"{source.name}` creates it (or choose one of: "
                    f"{', '.join(v for v, _label in listed)})"
                )
            continue
        if value.strip() not in {v for v, _label in listed}:
            raise UserError(
                f"{name}: {value!r} is not one of the organisation's: "
                + ", ".join(label for _v, label in listed)
            )
    return notes


def _rate(rate: Mapping[str, object]) -> str:
    value = Decimal(str(rate.get("EffectiveRate") or rate.get("DisplayTaxRate") or 0))
    return format(value.normalize(), "f")
