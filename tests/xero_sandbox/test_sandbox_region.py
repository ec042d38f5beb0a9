"""The sandbox's regions: a UK organisation (GBP, VAT rates, UK chart) beside the AU default."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from test_sandbox_spec import check_envelope

from xerobridge.clock import FakeClock
from xerobridge.sandboxes.xero import SandboxState, create_app
from xerobridge.sandboxes.xero.command import build_app, describe
from xerobridge.sandboxes.xero.testing import conformance_guard

from sandbox_helpers import API, Api, invoice, run

UK_TAX_TYPES = {
    "OUTPUT2",
    "RROUTPUT",
    "ZERORATEDOUTPUT",
    "EXEMPTOUTPUT",
    "INPUT2",
    "RRINPUT",
    "ZERORATEDINPUT",
    "EXEMPTINPUT",
    "CAPEXINPUT2",
    "CAPEXOUTPUT2",
    "ECZROUTPUT",
    "ECZROUTPUTSERVICES",
    "ECZRINPUT",
    "GSTONIMPORTS",
    "NONE",
}


@pytest.fixture
def uk_app(clock: FakeClock, request: pytest.FixtureRequest) -> Iterator[Starlette]:
    yield from conformance_guard(create_app(clock, region="UK"), request)


@pytest.fixture
def uk_api(uk_app: Starlette) -> Api:
    sandbox: SandboxState = uk_app.state.sandbox
    return Api(uk_app, sandbox.issue_tokens()["access_token"], sandbox.default_tenant_id)


async def _get(api: Api, path: str) -> dict[str, Any]:
    async with api.client() as client:
        response = await client.get(f"{API}/{path}")
        assert response.status_code == 200, response.text
        return response.json()


async def _put_invoices(api: Api, elements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    async with api.client() as client:
        response = await client.put(
            f"{API}/Invoices", params={"summarizeErrors": "false"}, json={"Invoices": elements}
        )
        assert response.status_code == 200, response.text
        return response.json()["Invoices"]


def _messages(element: dict[str, Any]) -> list[str]:
    return [e["Message"] for e in element.get("ValidationErrors", [])]


def _uk_invoice(tax_type: str | None, **fields: Any) -> dict[str, Any]:
    body = invoice("Acme Ltd", Status="AUTHORISED", **fields)
    if tax_type is None:
        del body["LineItems"][0]["TaxType"]
    else:
        body["LineItems"][0]["TaxType"] = tax_type
    return body


def test_uk_organisation_is_gbp_gb_and_conforms(spec: dict[str, Any], uk_api: Api) -> None:
    body = run(_get(uk_api, "Organisation"))
    org = body["Organisations"][0]
    assert org["BaseCurrency"] == "GBP"
    assert org["CountryCode"] == "GB"
    assert org["Timezone"] == "GMTSTANDARDTIME"
    assert org["Version"] == "UK"
    assert org["Name"] == "Sandbox Company (UK)"
    assert org["SalesTaxBasis"] == "ACCRUAL"
    assert check_envelope(spec, body, "Organisations") == []


def test_au_stays_the_default(clock: FakeClock) -> None:
    sandbox: SandboxState = create_app(clock).state.sandbox
    org = sandbox.default_org.organisation_record()
    assert (org["BaseCurrency"], org["CountryCode"], org["Version"]) == ("AUD", "AU", "AU")
    assert org["Timezone"] == "AUSEASTERNSTANDARDTIME"
    assert org["Name"] == "Sandbox Company (AU)"
    assert (org["SalesTaxBasis"], org["FinancialYearEndMonth"]) == ("ACCRUALS", 6)
    rates = {r["TaxType"]: r for r in sandbox.records("TaxRates")}
    assert rates["OUTPUT"]["EffectiveRate"] == 10
    assert rates["OUTPUT"]["TaxComponents"][0]["Name"] == "GST"
    assert "OUTPUT2" not in rates
    accounts = {a["Code"]: a for a in sandbox.records("Accounts")}
    assert accounts["820"]["Name"] == "GST"
    assert accounts["090"]["CurrencyCode"] == "AUD"


def test_uk_tax_rates_are_vat_and_conform(spec: dict[str, Any], uk_api: Api) -> None:
    body = run(_get(uk_api, "TaxRates"))
    assert check_envelope(spec, body, "TaxRates") == []
    rates = {r["TaxType"]: r for r in body["TaxRates"]}
    assert set(rates) == UK_TAX_TYPES
    expected = {
        "OUTPUT2": ("20% (VAT on Income)", 20),
        "RROUTPUT": ("5% (VAT on Income)", 5),
        "ZERORATEDOUTPUT": ("Zero Rated Income", 0),
        "EXEMPTOUTPUT": ("Exempt Income", 0),
        "NONE": ("No VAT", 0),
        "INPUT2": ("20% (VAT on Expenses)", 20),
        "RRINPUT": ("5% (VAT on Expenses)", 5),
        "ZERORATEDINPUT": ("Zero Rated Expenses", 0),
        "EXEMPTINPUT": ("Exempt Expenses", 0),
    }
    for tax_type, (name, rate) in expected.items():
        assert (rates[tax_type]["Name"], rates[tax_type]["EffectiveRate"]) == (name, rate)
        assert rates[tax_type]["DisplayTaxRate"] == rate
        assert rates[tax_type]["TaxComponents"] == [
            {"Name": "VAT", "Rate": rate, "IsCompound": False, "IsNonRecoverable": False}
        ]
    for income in ("OUTPUT2", "RROUTPUT", "ZERORATEDOUTPUT", "EXEMPTOUTPUT"):
        assert rates[income]["CanApplyToRevenue"] is True
        assert rates[income]["CanApplyToExpenses"] is False
    for expense in ("INPUT2", "RRINPUT", "ZERORATEDINPUT", "EXEMPTINPUT"):
        assert rates[expense]["CanApplyToExpenses"] is True
        assert rates[expense]["CanApplyToRevenue"] is False
    assert all(rates["NONE"][f"CanApplyTo{k}"] for k in ("Revenue", "Expenses", "Assets"))


def test_uk_chart_of_accounts_conforms_and_uses_uk_tax_types(
    spec: dict[str, Any], uk_api: Api
) -> None:
    body = run(_get(uk_api, "Accounts"))
    assert check_envelope(spec, body, "Accounts") == []
    accounts = {a["Code"]: a for a in body["Accounts"]}
    assert (accounts["090"]["Type"], accounts["090"]["CurrencyCode"]) == ("BANK", "GBP")
    assert accounts["200"]["Name"] == "Sales" and accounts["200"]["TaxType"] == "OUTPUT2"
    assert accounts["260"]["Name"] == "Other Revenue"
    assert (accounts["310"]["Type"], accounts["310"]["TaxType"]) == ("DIRECTCOSTS", "INPUT2")
    assert accounts["630"]["Type"] == "INVENTORY"
    assert (accounts["820"]["Name"], accounts["820"]["SystemAccount"]) == ("VAT", "GST")
    assert accounts["860"]["SystemAccount"] == "ROUNDING"
    # Every account's default TaxType is one of the org's own rates.
    assert {a["TaxType"] for a in body["Accounts"]} <= UK_TAX_TYPES


def test_output2_computes_20_percent_vat(uk_api: Api) -> None:
    standard, from_account, reduced, inclusive = run(
        _put_invoices(
            uk_api,
            [
                _uk_invoice("OUTPUT2"),
                _uk_invoice(None),  # account 200's default: OUTPUT2
                _uk_invoice("RROUTPUT"),
                _uk_invoice("OUTPUT2", LineAmountTypes="Inclusive"),
            ],
        )
    )
    assert standard["StatusAttributeString"] == "OK", _messages(standard)
    assert standard["CurrencyCode"] == "GBP"
    assert standard["LineItems"][0]["TaxType"] == "OUTPUT2"
    assert Decimal(str(standard["LineItems"][0]["TaxAmount"])) == Decimal("4.00")
    totals = (standard["SubTotal"], standard["TotalTax"], standard["Total"])
    assert tuple(Decimal(str(v)) for v in totals) == (Decimal(20), Decimal(4), Decimal(24))
    assert from_account["LineItems"][0]["TaxType"] == "OUTPUT2"
    assert Decimal(str(from_account["TotalTax"])) == Decimal(4)
    assert Decimal(str(reduced["TotalTax"])) == Decimal(1)
    # 20.00 including VAT at 20%: 3.33 of it is VAT.
    assert Decimal(str(inclusive["TotalTax"])) == Decimal("3.33")
    assert Decimal(str(inclusive["Total"])) == Decimal(20)


def test_au_tax_types_are_refused_in_a_uk_org(uk_api: Api) -> None:
    results = run(_put_invoices(uk_api, [_uk_invoice("OUTPUT"), _uk_invoice("BASEXCLUDED")]))
    assert [r["StatusAttributeString"] for r in results] == ["ERROR", "ERROR"]
    assert "TaxType code 'OUTPUT' does not exist" in _messages(results[0])[0]
    assert "TaxType code 'BASEXCLUDED' does not exist" in _messages(results[1])[0]


def test_uk_tax_types_are_refused_in_an_au_org(api: Api) -> None:
    results = run(_put_invoices(api, [_uk_invoice("OUTPUT2")]))
    assert "TaxType code 'OUTPUT2' does not exist" in _messages(results[0])[0]


def test_add_organisation_with_a_region(clock: FakeClock) -> None:
    sandbox = SandboxState(clock)
    uk = sandbox.add_organisation("Brit Ltd", region="uk")
    assert (uk.region, uk.base_currency, uk.country_code) == ("UK", "GBP", "GB")
    assert uk.tax_rate("OUTPUT2") is not None and uk.tax_rate("OUTPUT") is None
    assert sandbox.default_org.region == "AU"
    # Explicit fields still win over the region's.
    other = sandbox.add_organisation("Brit NZD Ltd", region="UK", base_currency="NZD")
    assert other.base_currency == "NZD" and other.version == "UK"
    with pytest.raises(ValueError, match="region must be one of AU, UK"):
        sandbox.add_organisation("Nowhere", region="US")
    with pytest.raises(ValueError, match="region must be one of"):
        create_app(clock, region="NZ")


def test_control_api_adds_a_uk_organisation(api: Api, sandbox: SandboxState) -> None:
    async def go() -> tuple[httpx.Response, httpx.Response]:
        async with api.bare() as control:
            made = await control.post("/_sandbox/organisations", json={"name": "B", "region": "UK"})
            bad = await control.post("/_sandbox/organisations", json={"name": "C", "region": "X"})
            return made, bad

    made, bad = run(go())
    assert made.json()["region"] == "UK"
    assert sandbox.organisation(made.json()["tenantId"]).base_currency == "GBP"
    assert bad.status_code == 400


def test_json_line_and_app_of_region_uk() -> None:
    app = build_app(
        seed=1, time_scale=1.0, faults="", webhook_url=None, daily_limit=10, region="UK"
    )
    info = describe(app, "127.0.0.1", 8123)
    state: SandboxState = app.state.sandbox
    assert info["region"] == "UK"
    assert state.organisation(info["tenant_id"]).base_currency == "GBP"
    assert state.identity.apps[info["client_id"]].custom_tenant_id == info["tenant_id"]


def test_region_option_of_the_command(monkeypatch: pytest.MonkeyPatch) -> None:
    """`xerobridge sandbox xero --region UK`, up to serving (which is replaced)."""
    from typer.testing import CliRunner

    from xerobridge.cli.main import app as cli
    from xerobridge.sandboxes.xero import command

    served: list[Any] = []

    def fake_serve(app: Any, sock: Any) -> None:
        served.append(app)
        sock.close()

    monkeypatch.setattr(command, "serve", fake_serve)
    result = CliRunner().invoke(cli, ["sandbox", "xero", "--region", "uk"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output.strip().splitlines()[-1])
    assert info["region"] == "UK"
    org = served[0].state.sandbox.organisation(info["tenant_id"]).organisation_record()
    assert (org["BaseCurrency"], org["CountryCode"]) == ("GBP", "GB")

    refused = CliRunner().invoke(cli, ["sandbox", "xero", "--region", "NZ"])
    assert refused.exit_code != 0
    assert "region must be one of AU, UK" in str(refused.exception or refused.output)
