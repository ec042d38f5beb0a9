"""docs/user-guide.md run as written: every command block, in order, on a fresh
XEROBRIDGE_HOME, against served sandboxes that stand in for the reader's systems (their Xero
organisation, shop, service desk, payments platform and marketplace). What the guide leaves to
the reader (their credentials and addresses, shown as `...`, ABC123 or example.com) is filled in
from what the sandboxes print; lines that need what no test has (a browser's consent, a second
organisation, a deployment's PostgreSQL server, ids of the reader's own records) say why in
SKIPPED. It ends with every source's records in Xero and each failure one of the records the
sandboxes make bad on purpose (the shop's euro store view, the service desk's untyped
worklogs)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from doc_commands import Reader, commands, free_port

pytestmark = pytest.mark.slow

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "user-guide.md"

SKIPPED = {
    "python3 -m venv": "the test runs in an environment with everything installed",
    "pip install": "the test runs in an environment with everything installed",
    "demo --once": "tests/test_demo.py runs the demo",
    "XEROBRIDGE_PUBLIC_URL": "a web app connects by a person's consent in a browser",
    "--redirect-uri": "a web app connects by a person's consent in a browser",
    "<xero id>": "the ids of the reader's own records",
    "5b7e0d0c-...": "the ids of the reader's own records",
    "customers 1002 --create": "the ids of the reader's own records",
    "run-now 42": "the ids of the reader's own jobs",
    "cancel 43": "the ids of the reader's own jobs",
    "other-org": "a second Xero organisation",
    "reinitialize desk": "starts the source afresh on the second Xero organisation",
    "db.internal": "a deployment's own PostgreSQL server",
    "XEROBRIDGE_SECRET_KEY=...": "a deployment's own PostgreSQL server",
    "--workers 4": "a deployment's own PostgreSQL server",
}
#: Lines whose exit the sandboxes' records bad on purpose bring about; the test ends by checking
#: that those are the only records that failed.
EXITS = {
    "sync --source desk": 1,  # worklogs without a type, and no default_worklog_type set
    "sync --source shop": 1,  # the orders of the shop's euro store view
}
#: The systems the reader has, served before the guide's first line.
SYSTEMS = {
    "xero": ("--region", "UK", "--seed", "7"),  # an organisation of its own, not the guide's
    "magento": ("--customers", "6", "--products", "6", "--orders", "8"),
    "servicedesk": (),
    "payments": (
        "--currency",
        "GBP",
        "--customers",
        "2",
        "--invoices",
        "4",
    ),  # a UK business's platform, as its organisation
    "marketplace": (),
}
PORTS = ("8765", "8766")


def fill(systems: dict[str, dict[str, Any]]) -> Any:
    """What a reader types in for themselves, from what their systems print."""
    ports = {port: free_port() for port in PORTS}
    shop, desk = systems["magento"], systems["servicedesk"]
    pay, cb = systems["payments"], systems["marketplace"]
    values = {
        "ABC123": systems["xero"]["client_id"],
        "https://shop.example.com": shop["base_url"],
        "https://msp.example.com:8080": desk["base_url"],
        "https://simpleapiprod.azure-api.net/marketplace": cb["base_url"],
        "client_id=...": f"client_id={pay['client_id']}",
        "client_secret=...": f"client_secret={pay['client_secret']}",
        "username=...": f"username={cb['username']}",
        "password=...": f"password={cb['password']}",
        "subscription_key=...": f"subscription_key={cb['subscription_key']}",
    }

    def filled(reader: Reader, line: str) -> str:
        for fixed, free in ports.items():
            line = line.replace(fixed, free)
        for shown, value in values.items():
            line = line.replace(shown, str(value))
        token = desk["token"] if " servicedesk " in line else shop["token"]
        line = line.replace("token=...", f"token={token}")
        guide_xero = reader.printed.get("xero", {})  # the sandbox the guide itself serves
        line = line.replace("--client-id ...", f"--client-id {guide_xero.get('client_id')}")
        return line.replace("--client-secret ...",
                            f"--client-secret {guide_xero.get('client_secret')}")  # fmt: skip

    return filled


def control(system: dict[str, Any], method: str, path: str, **kwargs: Any) -> Any:
    """A call to a served sandbox's control API; its JSON."""
    answer = httpx.request(method, f"{system['control_url']}{path}", timeout=30, **kwargs)
    assert answer.status_code == 200, answer.text
    return answer.json()


def readers_organisation(systems: dict[str, dict[str, Any]]) -> None:
    """What the reader's Xero organisation holds before xerobridge: a contact (with an email
    address) for each customer their service desk bills, and an item for each kind of work it
    logs."""
    xero, desk = systems["xero"], systems["servicedesk"]
    accounts = control(desk, "GET", "/accounts")
    control(xero, "POST", "/tenants/default/Contacts",
            json={"Contacts": [{"Name": a["name"], "EmailAddress": a["email_id"]}
                               for a in accounts]})  # fmt: skip
    items = [
        {"Code": t["name"].upper().replace(" ", "-"), "Name": t["name"], "IsSold": True,
         "SalesDetails": {"UnitPrice": 90, "AccountCode": "200", "TaxType": "OUTPUT2"}}
        for t in control(desk, "GET", "/worklog_types")
    ]  # fmt: skip
    control(xero, "POST", "/tenants/default/Items", json={"Items": items})


def test_the_user_guide_runs_as_written(
    tmp_path: Path, servers: list[subprocess.Popen[str]]
) -> None:
    reader = Reader(tmp_path, servers, skipped=SKIPPED, exits=EXITS)
    for name, args in SYSTEMS.items():
        reader.run(f"xerobridge sandbox {name} --port 0 {' '.join(args)} &")
    systems = dict(reader.printed)
    reader.printed.clear()
    readers_organisation(systems)
    xero = systems["xero"]
    reader.env.update(
        XERO_CLIENT_SECRET=xero["client_secret"],
        XEROBRIDGE_XERO_API_URL=xero["api_url"],
        XEROBRIDGE_XERO_IDENTITY_URL=xero["identity_url"],
        XEROBRIDGE_WEBHOOK_KEY=xero["webhook_key"],
        # The guide's payments source talks to the platform's own address, which the reader
        # leaves as it is; here it is the sandbox's, given as the guide says settings can be.
        XEROBRIDGE_PAY_BASE_URL=systems["payments"]["base_url"],
    )
    reader.fill = fill(systems)
    reader.run_all(commands(GUIDE.read_text()))
    assert reader.ran >= 30, "the guide's commands ran"

    rows = json.loads(reader.xb("log", "--json", "--limit", "10000"))
    made = {(r["source"], r["stream"]) for r in rows if r["action"] in ("created", "updated")}
    for source, stream in [("shop", "orders"), ("desk", "worklogs"), ("pay", "payments"),
                           ("pay", "payouts"), ("cb", "orders")]:  # fmt: skip
        assert (source, stream) in made, f"no {stream} of {source} reached Xero: {sorted(made)}"
    untyped = set(systems["servicedesk"]["odd"]["untyped_worklogs"])
    unexpected = [
        (r["source"], r["stream"], r["record"], r["message"])
        for r in rows
        if r["status"] == "error"
        and not (r["source"] == "shop" and " is in EUR" in r["message"])
        and not (r["source"] == "desk" and r["record"].rsplit("/", 1)[-1] in untyped)
    ]
    assert unexpected == []
