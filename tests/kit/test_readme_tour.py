"""README.md's tour, run as written: every command block after "A short tour", in order, on a
fresh XEROBRIDGE_HOME, against the sandboxes it serves, ending with the shop's orders in Xero.

What a reader types in for themselves is filled in as they would: the credentials the
sandboxes print where the README shows `...`, and free ports where it names fixed ones. A line's
exit code is 0 unless its comment says `exits N`. Lines the test cannot run say why in SKIPPED.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest

from doc_commands import Reader, commands, free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]

#: Lines the tour cannot run here, by what they contain, and why.
SKIPPED = {
    ".venv/bin/pip install": "the test runs in an environment with everything installed",
    "db.internal": "a deployment's own PostgreSQL server",
    "XEROBRIDGE_DATABASE_URL": "a deployment's own PostgreSQL server",
}
#: The README's fixed ports, each replaced by a free one.
PORTS = ("8765", "8766", "8767")


def tour_lines(readme: str) -> list[str]:
    """The commands of the tour's blocks, in order."""
    return commands(readme.split("## A short tour", 1)[1].split("\n## ", 1)[0])


def test_the_readme_tour_runs_as_written(
    tmp_path: Path, servers: list[subprocess.Popen[str]]
) -> None:
    lines = tour_lines((ROOT / "README.md").read_text())
    assert any(" sync " in line for line in lines), "the tour syncs"
    ports = {port: free_port() for port in PORTS}

    def filled(reader: Reader, line: str) -> str:
        for fixed, free in ports.items():
            line = line.replace(fixed, free)
        xero, shop = reader.printed.get("xero", {}), reader.printed.get("magento", {})
        line = line.replace("--client-id ...", f"--client-id {xero.get('client_id')}")
        line = line.replace("--client-secret ...", f"--client-secret {xero.get('client_secret')}")
        if "webhook-key" in line:
            reader.env["XEROBRIDGE_WEBHOOK_KEY"] = str(xero["webhook_key"])
        return line.replace("token=...", f"token={shop.get('token')}")

    reader = Reader(tmp_path, servers, skipped=SKIPPED, fill=filled)
    reader.run_all(lines)
    assert reader.ran >= 12, "the tour's commands ran"

    # The shop's orders are in Xero: every one the sync log says it created, each once.
    rows = json.loads(reader.xb("log", "--source", "shop", "--json", "--limit", "1000"))
    created = {r["xero_id"] for r in rows if r["stream"] == "orders" and r["action"] == "created"}
    failed = [r for r in rows if r["status"] == "error"]
    assert created, rows
    assert failed and [r["message"] for r in failed if "EUR" not in r["message"]] == []
    xero = reader.printed["xero"]
    invoices = httpx.get(f"{xero['control_url']}/tenants/{xero['tenant_id']}/Invoices").json()
    records = invoices.get("Invoices", invoices) if isinstance(invoices, dict) else invoices
    in_xero = [i["InvoiceID"] for i in records if i["InvoiceID"] in created]
    assert sorted(in_xero) == sorted(created)
