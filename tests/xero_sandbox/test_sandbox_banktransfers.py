"""Bank transfers in the sandbox: made in batches, read with filters, deleted, never changed;
their two bank transactions; Idempotency-Key, faults and limits as on every route; answers
valid against the official spec."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from xerobridge.clock import FakeClock
from xerobridge.sandboxes.xero import FaultKind, SandboxState
from xerobridge.sandboxes.xero.validation import default_validator

from sandbox_helpers import API, Api, run

PATH = f"{API}/BankTransfers"


def transfer(amount: Any = 125.5, reference: str = "PAYOUT-1", **fields: Any) -> dict[str, Any]:
    """A transfer from the savings account (a clearing account) to the business account."""
    return {
        "FromBankAccount": {"Code": "091"},
        "ToBankAccount": {"Code": "090"},
        "Amount": amount,
        "Date": "2026-01-10",
        "Reference": reference,
        **fields,
    }


async def _call(api: Api, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async with api.client() as client:
        return await client.request(method, path, **kwargs)


def call(api: Api, method: str, path: str = PATH, **kwargs: Any) -> httpx.Response:
    return run(_call(api, method, path, **kwargs))


def conforms(method: str, path: str, response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    below = path[len(API) :]
    assert default_validator().response_problems(method, below, response.json()) == []


def test_a_transfer_is_made_with_its_two_bank_transactions(api: Api, sandbox: SandboxState) -> None:
    made = call(api, "PUT", json={"BankTransfers": [transfer()]})
    conforms("PUT", PATH, made)
    (answer,) = made.json()["BankTransfers"]
    assert answer["Amount"] == 125.5 and answer["Reference"] == "PAYOUT-1"
    assert answer["Status"] == "AUTHORISED" and answer["CurrencyRate"] == 1.0
    assert answer["Date"].startswith("/Date(1768003200000")  # 2026-01-10
    assert (answer["FromBankAccount"]["Code"], answer["ToBankAccount"]["Code"]) == ("091", "090")
    assert "StatusAttributeString" not in answer and "UpdatedDateUTC" not in answer

    one = call(api, "GET", f"{PATH}/{answer['BankTransferID']}")
    conforms("GET", f"{PATH}/{answer['BankTransferID']}", one)
    assert one.json()["BankTransfers"] == [answer]

    sides = {t["BankTransactionID"]: t for t in sandbox.records("BankTransactions")}
    paid, received = sides[answer["FromBankTransactionID"]], sides[answer["ToBankTransactionID"]]
    assert (paid["Type"], paid["BankAccount"]["Code"], paid["Total"]) == (
        "SPEND-TRANSFER",
        "091",
        125.5,
    )
    assert (received["Type"], received["BankAccount"]["Code"]) == ("RECEIVE-TRANSFER", "090")
    assert paid["Reference"] == received["Reference"] == "PAYOUT-1"
    conforms("GET", f"{API}/BankTransactions", call(api, "GET", f"{API}/BankTransactions"))


def test_the_date_defaults_to_today_in_the_organisations_zone(
    app: Starlette, sandbox: SandboxState, clock: FakeClock
) -> None:
    # 14:00 UTC on 1 January is already 2 January in Sydney (the AU organisation's zone).
    clock.advance((datetime(2026, 1, 1, 14, tzinfo=UTC) - clock.now()).total_seconds())
    api = Api(app, sandbox.issue_tokens()["access_token"], sandbox.default_tenant_id)
    body = transfer()
    del body["Date"]
    made = call(api, "PUT", json={"BankTransfers": [body]})
    assert made.json()["BankTransfers"][0]["Date"].startswith("/Date(1767312000000")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ToBankAccount": {"Code": "200"}}, "The ToBankAccount must be a bank account"),
        ({"FromBankAccount": {"Code": "999"}}, "The FromBankAccount could not be found"),
        ({"ToBankAccount": {"Code": "091"}}, "must be different bank accounts"),
        ({"Amount": 0}, "must be greater than zero"),
        ({"Amount": -5}, "must be greater than zero"),
        ({"Amount": 10.005}, "no more than 2 decimal places"),
        ({"Date": "2026-02-30"}, "Date is not a valid date"),
    ],
)
def test_xeros_rules_refuse_a_bad_transfer(
    api: Api, sandbox: SandboxState, change: dict[str, Any], message: str
) -> None:
    refused = call(api, "PUT", json={"BankTransfers": [transfer(**change)]})
    assert refused.status_code == 400
    (element,) = refused.json()["Elements"]
    assert message in element["ValidationErrors"][0]["Message"]
    # The spec's Element lists ids only, yet Xero echoes the submitted element in it.
    assert default_validator().schema_problems("Error", {**refused.json(), "Elements": []}) == []
    echoed = {k: v for k, v in element.items() if k != "StatusAttributeString"}
    assert default_validator().schema_problems("BankTransfer", echoed) == []
    assert sandbox.counts()["BankTransfers"] == 0 and sandbox.counts()["BankTransactions"] == 0


def test_accounts_in_two_currencies_need_a_currency_rate(api: Api, sandbox: SandboxState) -> None:
    sandbox.seed("Accounts", [{"Code": "095", "Name": "USD Wallet", "Type": "BANK",
                               "CurrencyCode": "USD", "TaxType": "BASEXCLUDED"}])  # fmt: skip
    usd = {"ToBankAccount": {"Code": "095"}}
    refused = call(api, "PUT", json={"BankTransfers": [transfer(100, **usd)]})
    assert "A CurrencyRate must be given to transfer from AUD to USD" in refused.text
    made = call(api, "PUT", json={"BankTransfers": [transfer(100, CurrencyRate=0.65, **usd)]})
    answer = made.json()["BankTransfers"][0]
    assert answer["CurrencyRate"] == 0.65
    received = sandbox.record("BankTransactions", answer["ToBankTransactionID"])
    assert (received["Total"], received["CurrencyCode"]) == (65.0, "USD")


def test_a_batch_with_a_bad_transfer_is_refused_whole_yet_makes_the_good_ones(
    api: Api, sandbox: SandboxState
) -> None:
    """No summarizeErrors on this route: the 400 lists the refused element alone, and the good
    ones are made without their ids being returned (as Xero does when it summarises)."""
    batch = [transfer(reference="P-1"), transfer(-1, "P-2"), transfer(7, "P-3")]
    refused = call(api, "PUT", json={"BankTransfers": batch})
    assert refused.status_code == 400
    assert [e["Reference"] for e in refused.json()["Elements"]] == ["P-2"]
    assert sorted(t["Reference"] for t in sandbox.records("BankTransfers")) == ["P-1", "P-3"]


def test_summarize_errors_is_not_a_parameter_of_this_route(api: Api, sandbox: SandboxState) -> None:
    call(api, "PUT", params={"summarizeErrors": "false"}, json={"BankTransfers": [transfer()]})
    assert "summarizeErrors" in str(sandbox.violations[0])
    sandbox.violations.clear()  # sent on purpose


def test_reads_filter_by_where_if_modified_since_and_include_deleted(
    api: Api, sandbox: SandboxState, clock: FakeClock
) -> None:
    first = sandbox.seed("BankTransfers", [transfer(10, "P-1"), transfer(20, "P-2")])
    clock.advance(60)
    since = clock.now()
    sandbox.seed("BankTransfers", [transfer(30, "P-3", Date="2026-02-01")])

    def references(**kwargs: Any) -> list[str]:
        answer = call(api, "GET", **kwargs)
        conforms("GET", PATH, answer)
        return sorted(t["Reference"] for t in answer.json()["BankTransfers"])

    assert references() == ["P-1", "P-2", "P-3"]
    assert references(params={"where": 'Reference=="P-2"'}) == ["P-2"]
    assert references(params={"where": "Amount>15"}) == ["P-2", "P-3"]
    assert references(params={"where": "Date>=DateTime(2026,02,01)"}) == ["P-3"]
    assert references(params={"where": 'FromBankAccount.Code=="091"'}) == ["P-1", "P-2", "P-3"]
    assert references(headers={"If-Modified-Since": format_datetime(since, usegmt=True)}) == ["P-3"]

    clock.advance(60)
    deleted = call(api, "POST", f"{PATH}/{first[0]['BankTransferID']}", json={"Status": "DELETED"})
    conforms("POST", f"{PATH}/{first[0]['BankTransferID']}", deleted)
    assert deleted.json()["BankTransfers"][0]["Status"] == "DELETED"
    assert references() == ["P-2", "P-3"]
    assert references(params={"includeDeleted": "true"}) == ["P-1", "P-2", "P-3"]
    later = format_datetime(clock.now(), usegmt=True)
    assert references(params={"includeDeleted": "true"}, headers={"If-Modified-Since": later}) == [
        "P-1"
    ]
    # Its two bank transactions are deleted with it.
    for side in ("FromBankTransactionID", "ToBankTransactionID"):
        assert sandbox.record("BankTransactions", first[0][side])["Status"] == "DELETED"


def test_a_transfer_is_deleted_never_changed(api: Api, sandbox: SandboxState) -> None:
    made, reconciled = sandbox.seed(
        "BankTransfers", [transfer(reference="P-1"), transfer(reference="P-2", ToIsReconciled=True)]
    )
    as_update = call(api, "PUT", json={"BankTransfers": [{**transfer(99), "BankTransferID":
                                                           made["BankTransferID"]}]})  # fmt: skip
    assert "A bank transfer cannot be updated" in as_update.text
    changed = call(api, "POST", f"{PATH}/{made['BankTransferID']}", json={"Status": "AUTHORISED"})
    assert "can only be deleted" in changed.text
    many = {"BankTransfers": [{"BankTransferID": made["BankTransferID"], "Status": "DELETED"},
                              {"BankTransferID": reconciled["BankTransferID"],
                               "Status": "DELETED"}]}  # fmt: skip
    answer = call(api, "POST", json=many)
    assert answer.status_code == 400
    (element,) = answer.json()["Elements"]
    assert (
        "A reconciled bank transfer cannot be deleted" in element["ValidationErrors"][0]["Message"]
    )
    assert sandbox.record("BankTransfers", made["BankTransferID"])["Status"] == "DELETED"
    again = call(api, "POST", f"{PATH}/{made['BankTransferID']}", json={"Status": "DELETED"})
    assert "already been deleted" in again.text
    shown = call(api, "GET", f"{PATH}/{made['BankTransferID']}")
    assert shown.json()["BankTransfers"][0]["Status"] == "DELETED"
    assert sandbox.record("BankTransfers", made["BankTransferID"])["Amount"] == 125.5


def test_an_idempotency_key_replays_a_lost_answer_without_a_second_transfer(
    api: Api, sandbox: SandboxState
) -> None:
    sandbox.faults.add(FaultKind.LOST_RESPONSE, times=1, path_contains="BankTransfers")
    body = {"BankTransfers": [transfer()]}
    with pytest.raises(httpx.TransportError):
        call(api, "PUT", json=body, headers={"Idempotency-Key": "payout-1"})
    assert sandbox.counts()["BankTransfers"] == 1
    replay = call(api, "PUT", json=body, headers={"Idempotency-Key": "payout-1"})
    assert (
        replay.status_code == 200 and replay.json()["BankTransfers"][0]["Reference"] == "PAYOUT-1"
    )
    assert sandbox.counts()["BankTransfers"] == 1
    assert [e.replayed for e in sandbox.log.entries] == [False, True]
    # Xero keeps no Reference unique: without the key, the same body makes a second transfer.
    call(api, "PUT", json=body)
    assert sandbox.counts()["BankTransfers"] == 2


def test_rate_limits_and_server_faults_apply_as_on_every_route(
    api: Api, sandbox: SandboxState
) -> None:
    sandbox.faults.add(FaultKind.RATE_MINUTE, times=1, path_contains="BankTransfers")
    sandbox.faults.add(FaultKind.ERROR_503, times=1, path_contains="BankTransfers")
    limited = call(api, "GET")
    assert limited.status_code == 429 and limited.headers["X-Rate-Limit-Problem"] == "minute"
    assert call(api, "PUT", json={"BankTransfers": [transfer()]}).status_code == 503
    assert sandbox.counts()["BankTransfers"] == 0
    assert call(api, "PUT", json={"BankTransfers": [transfer()]}).status_code == 200
