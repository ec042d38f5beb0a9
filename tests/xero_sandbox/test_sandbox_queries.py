"""Reads: paging, If-Modified-Since, where filters, id filters."""

from __future__ import annotations

from typing import Any

from xerobridge.clock import FakeClock
from xerobridge.sandboxes.xero import SandboxState

from sandbox_helpers import API, Api, invoice, run


async def _get(api: Api, path: str, headers: dict[str, str] | None = None, **params: Any) -> Any:
    async with api.client() as client:
        return await client.get(f"{API}/{path}", params=params, headers=headers or {})


def test_paging_with_pagination_metadata(api: Api, sandbox: SandboxState) -> None:
    sandbox.seed("Contacts", [{"Name": f"C{i:04d}", "ContactNumber": f"N{i}"} for i in range(250)])
    first = run(_get(api, "Contacts", page=1)).json()
    assert first["pagination"] == {"page": 1, "pageSize": 100, "pageCount": 3, "itemCount": 250}
    assert len(first["Contacts"]) == 100
    last = run(_get(api, "Contacts", page=3)).json()
    assert len(last["Contacts"]) == 50
    big = run(_get(api, "Contacts", page=1, pageSize=5000)).json()
    assert big["pagination"]["pageSize"] == 1000 and len(big["Contacts"]) == 250
    unpaged = run(_get(api, "Contacts")).json()
    assert "pagination" not in unpaged and len(unpaged["Contacts"]) == 250


def test_unpaged_invoice_list_has_no_lines_paged_has(api: Api, sandbox: SandboxState) -> None:
    sandbox.seed("Invoices", [invoice()])
    assert run(_get(api, "Invoices")).json()["Invoices"][0]["LineItems"] == []
    assert len(run(_get(api, "Invoices", page=1)).json()["Invoices"][0]["LineItems"]) == 1


def test_if_modified_since(api: Api, sandbox: SandboxState, clock: FakeClock) -> None:
    sandbox.seed("Contacts", [{"Name": "Before"}])
    clock.advance(60)
    cutoff = clock.now()
    sandbox.seed("Contacts", [{"Name": "After"}])
    headers = {"If-Modified-Since": cutoff.isoformat()}
    names = [c["Name"] for c in run(_get(api, "Contacts", headers=headers)).json()["Contacts"]]
    assert names == ["After"]
    clock.advance(60)
    before = sandbox.records("Contacts")[0]
    sandbox.seed("Contacts", [{"ContactID": before["ContactID"], "Name": "Before v2"}], upsert=True)
    offset = {"If-Modified-Since": clock.now().astimezone().strftime("%Y-%m-%dT%H:%M:%S%z")}
    names = [c["Name"] for c in run(_get(api, "Contacts", headers=offset)).json()["Contacts"]]
    assert names == ["Before v2"]


def test_where_equality_filters(api: Api, sandbox: SandboxState) -> None:
    sandbox.seed(
        "Contacts", [{"Name": "A", "ContactNumber": "X-1"}, {"Name": "B", "ContactNumber": "X-2"}]
    )
    sandbox.seed("Items", [{"Code": "SKU-1"}, {"Code": "SKU-2"}])
    sandbox.seed(
        "Invoices",
        [invoice("A", InvoiceNumber="INV-A", Reference="R-1"), invoice("B", Reference="R-2")],
    )
    cases = [
        ("Contacts", 'ContactNumber=="X-2"', "Name", ["B"]),
        ("Items", 'Code=="SKU-1"', "Code", ["SKU-1"]),
        ("Invoices", 'Reference=="R-2"', "Reference", ["R-2"]),
        ("Invoices", 'InvoiceNumber=="INV-A"', "InvoiceNumber", ["INV-A"]),
        ("Invoices", 'Type=="ACCREC" AND Contact.Name=="A"', "InvoiceNumber", ["INV-A"]),
        ("Contacts", 'Name.ToLower()=="a" OR Name=="B"', "Name", ["A", "B"]),
        ("Contacts", 'Name=="a"', "Name", []),  # equality is case-sensitive, as in Xero
    ]
    for plural, where, field, expected in cases:
        body = run(_get(api, plural, where=where)).json()
        assert [r[field] for r in body[plural]] == expected, where


def test_where_on_guid_and_bad_where(api: Api, sandbox: SandboxState) -> None:
    contact = sandbox.seed("Contacts", [{"Name": "G"}])[0]
    sandbox.seed("Invoices", [invoice("G"), invoice("Other")])
    where = f'Contact.ContactID==Guid("{contact["ContactID"].upper()}")'
    assert len(run(_get(api, "Invoices", where=where)).json()["Invoices"]) == 1
    bad = run(_get(api, "Contacts", where='Name=="unterminated'))
    assert bad.status_code == 400 and bad.json()["Type"] == "QueryParseException"
    unknown = run(_get(api, "Contacts", where='Nonsense=="x"'))
    assert unknown.status_code == 400


def test_id_number_and_contact_filters(api: Api, sandbox: SandboxState) -> None:
    invoices = sandbox.seed("Invoices", [invoice("A"), invoice("B"), invoice("C")])
    ids = ",".join(i["InvoiceID"] for i in invoices[:2])
    assert len(run(_get(api, "Invoices", IDs=ids)).json()["Invoices"]) == 2
    numbers = run(_get(api, "Invoices", InvoiceNumbers="INV-0003,INV-0009")).json()["Invoices"]
    assert [i["InvoiceNumber"] for i in numbers] == ["INV-0003"]
    contact_id = invoices[1]["Contact"]["ContactID"]
    by_contact = run(_get(api, "Invoices", ContactIDs=contact_id)).json()["Invoices"]
    assert [i["InvoiceID"] for i in by_contact] == [invoices[1]["InvoiceID"]]
    contacts = sandbox.records("Contacts")
    only = run(_get(api, "Contacts", IDs=contacts[0]["ContactID"])).json()["Contacts"]
    assert len(only) == 1


def test_get_one_by_id_and_by_number(api: Api, sandbox: SandboxState) -> None:
    contact = sandbox.seed("Contacts", [{"Name": "N", "ContactNumber": "MAG-42"}])[0]
    by_number = run(_get(api, "Contacts/MAG-42")).json()["Contacts"]
    assert by_number[0]["ContactID"] == contact["ContactID"]
    by_id = run(_get(api, f"Contacts/{contact['ContactID']}")).json()["Contacts"]
    assert by_id[0]["Name"] == "N"


def test_archived_contacts_hidden_unless_asked(api: Api, sandbox: SandboxState) -> None:
    sandbox.seed("Contacts", [{"Name": "Live"}, {"Name": "Old", "ContactStatus": "ARCHIVED"}])
    assert [c["Name"] for c in run(_get(api, "Contacts")).json()["Contacts"]] == ["Live"]
    everyone = run(_get(api, "Contacts", includeArchived="true")).json()["Contacts"]
    assert len(everyone) == 2


def test_order_and_reference_data(api: Api, sandbox: SandboxState) -> None:
    sandbox.seed("Contacts", [{"Name": "b"}, {"Name": "A"}, {"Name": "c"}])
    names = [c["Name"] for c in run(_get(api, "Contacts", order="Name DESC")).json()["Contacts"]]
    assert names == ["c", "b", "A"]
    accounts = run(_get(api, "Accounts")).json()["Accounts"]
    codes = {a["Code"] for a in accounts}
    assert {"090", "200", "260", "310", "630", "860"} <= codes
    rates = {t["TaxType"] for t in run(_get(api, "TaxRates")).json()["TaxRates"]}
    assert {"OUTPUT", "INPUT", "NONE", "EXEMPTOUTPUT"} <= rates
    rounding = run(_get(api, "Accounts", where='SystemAccount=="ROUNDING"')).json()["Accounts"]
    assert [a["Code"] for a in rounding] == ["860"]
    organisation = run(_get(api, "Organisation")).json()["Organisations"][0]
    assert organisation["ShortCode"].startswith("!")
    assert organisation["BaseCurrency"] == "AUD" and organisation["Timezone"]
