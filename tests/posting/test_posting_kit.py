"""The posting kit holds Xero's rules for every plugin: each rule tested on its own."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xerobridge.sdk import NeedsPerson, OrgFacts, Permanent, SourceSettings, posting
from xerobridge.testkit.context import make_context, make_mirror

lines, keys, text = posting.lines, posting.keys, posting.text


# -- text and keys ---------------------------------------------------------------------------------


def test_text_is_printable_collapsed_and_cut_to_the_field() -> None:
    assert text.clean("  Ann\x00\x07  \n Lee\t ", 255) == "Ann Lee"
    assert text.field("x" * 300, "Contact.Name") == "x" * 255
    assert text.plain("<p>Fixed <b>the</b> printer &amp; scanner</p>") == (
        "Fixed the printer & scanner"
    )


def test_exact_keys_refuse_what_does_not_fit() -> None:
    assert keys.exact("SHOP-C", "42", 50, "customer 42") == "SHOP-C-42"
    with pytest.raises(Permanent, match=r"customer 9: .* longer than Xero's 50 .* shorter key"):
        keys.exact("P" * 45, "123456", 50, "customer 9")


def test_hashed_keys_stay_stable_and_apart() -> None:
    short = keys.hashed("SHOP-G", "ann@x.org", 50)
    long_a = keys.hashed("SHOP-G", "a" * 60 + "@x.org", 50)
    long_b = keys.hashed("SHOP-G", "b" * 60 + "@x.org", 50)
    assert short == "SHOP-G-ann@x.org"
    assert long_a != long_b and len(long_a) <= 50 and long_a.startswith("SHOP-G-#")
    assert long_a == keys.hashed("SHOP-G", "a" * 60 + "@x.org", 50)


@settings(derandomize=True, max_examples=200)
@given(st.lists(st.text(min_size=1, max_size=60).filter(str.strip), unique=True, max_size=30))
def test_codes_fit_and_never_collide(values: list[str]) -> None:
    codes = [keys.code("SHOP", v) for v in values]
    assert all(len(c) <= 30 for c in codes)
    assert len(set(codes)) == len(codes)


# -- lines and totals ------------------------------------------------------------------------------


def line(quantity: str, unit: str, percent: str = "20", discount: str = "0") -> lines.Line:
    return lines.Line(
        "Mug",
        Decimal(quantity),
        Decimal(unit),
        "200",
        "OUTPUT2",
        Decimal(percent),
        Decimal(discount),
    )


def test_xero_rounds_each_line_and_its_tax() -> None:
    three = [line("1", "0.333"), line("1", "0.333"), line("1", "0.333")]
    # Each line 0.33 + tax 0.07: Xero's total is 1.20, where one rounding of 0.999 x 1.2 is 1.20.
    assert lines.total(three, "Exclusive") == Decimal("1.20")
    assert lines.total(three, "Inclusive") == Decimal("0.99")
    assert line("3", "10", discount="2.50").amount == Decimal("27.50")


def test_finish_adds_a_rounding_line_for_cents_only() -> None:
    asked: list[str] = []

    def rounding() -> str:
        asked.append("rounding")
        return "860"

    three = [line("1", "0.333"), line("1", "0.333"), line("1", "0.333")]
    exact = lines.finish(
        three, Decimal("1.20"), "Exclusive", rounding_account=rounding, record="r", source="S"
    )
    assert len(exact) == 3 and asked == []  # no rounding line, so no account asked for
    rounded = lines.finish(
        three, Decimal("1.21"), "Exclusive", rounding_account=rounding, record="r", source="S"
    )
    assert rounded[-1] == {
        "Description": "Rounding",
        "Quantity": 1.0,
        "UnitAmount": 0.01,
        "AccountCode": "860",
        "TaxType": "NONE",
    }
    with pytest.raises(Permanent, match=r"order 7: Xero would total 1.20 but S's total is 2.00"):
        lines.finish(
            three, Decimal("2.00"), "Exclusive", rounding_account=rounding, record="order 7",
            source="S",
        )  # fmt: skip


def test_document_total_reads_a_body_as_xero_would() -> None:
    body = {"LineAmountTypes": "Exclusive", "LineItems": [line("2", "9.99").body()]}
    assert lines.document_total(body, {"OUTPUT2": Decimal(20)}) == Decimal("23.98")


def test_tax_percents_are_checked_against_the_organisations_rates() -> None:
    mirror = make_mirror(
        tax_rates=[
            {"TaxType": "OUTPUT2", "EffectiveRate": "20", "Status": "ACTIVE"},
            {"TaxType": "OLD", "EffectiveRate": "17.5", "Status": "DELETED"},
        ]
    )
    rates = lines.tax_rates(mirror)
    assert rates == {"OUTPUT2": Decimal(20)}
    assert lines.tax_type_for(Decimal("20.0"), {"20": "OUTPUT2"}, "NONE") == "OUTPUT2"
    assert lines.tax_type_for(Decimal(5), {"20": "OUTPUT2"}, "NONE") == "NONE"
    ok = lines.checked_percent("OUTPUT2", Decimal(20), rates, record="r", where="w", source="S")
    assert ok == Decimal(20)
    with pytest.raises(Permanent, match=r"line 1 \(5%\) is taxed at 5% in S but maps to TaxType"):
        lines.checked_percent(
            "OUTPUT2", Decimal(5), rates, record="r", where="line 1 (5%)", source="S"
        )
    with pytest.raises(Permanent, match="TaxType 'OLD', which the Xero organisation does not"):
        lines.checked_percent("OLD", Decimal("17.5"), rates, record="r", where="w", source="S")
    assert lines.tax_rates(make_mirror()) is None  # nothing read yet: nothing refused


# -- accounts --------------------------------------------------------------------------------------


def test_a_missing_account_asks_a_person_only_when_used() -> None:
    mirror = make_mirror(
        accounts=[
            {"AccountID": "a1", "Name": "Sales", "Code": "200", "Type": "REVENUE"},
            {"AccountID": "a2", "Name": "Bank", "Code": "", "Type": "BANK"},
            {"AccountID": "a3", "Name": "Fees", "Code": "404", "Type": "EXPENSE"},
        ]
    )
    # A source's book names its own setup command for the accounts its spec can create.
    ctx = make_context(SourceSettings(), mirror=mirror, account_settings=["clearing"])
    book = posting.accounts.AccountBook.of(ctx)
    assert book.code("sales_account", "Sales") == "200"
    assert book.payable("bank_account", "Bank") == {"AccountID": "a2"}
    with pytest.raises(NeedsPerson, match="create it with `xerobridge setup-accounts shop`"):
        book.code("clearing", "Clearing")
    with pytest.raises(NeedsPerson, match=r"create it in Xero .* or change the setting"):
        book.code("rounding_account", "Pennies")
    with pytest.raises(NeedsPerson, match=r"'Fees' .* is a EXPENSE account"):
        book.payable("fee_account", "Fees")
    with pytest.raises(NeedsPerson, match="transfers money only between bank accounts"):
        book.payable("clearing", "Sales", bank_only=True)
    with pytest.raises(NeedsPerson, match="has no code in Xero"):
        book.code("bank_account", "Bank")


# -- currencies and dates --------------------------------------------------------------------------


def test_a_currency_the_organisation_lacks_fails_its_record() -> None:
    org = OrgFacts(base_currency="GBP", currencies=frozenset({"GBP", "EUR"}))
    posting.currencies.check(org, "EUR", record="order 1")
    posting.currencies.check(OrgFacts(), "JPY", record="order 1")  # base unknown: unchecked
    with pytest.raises(Permanent, match=r"order 2 is in USD, which is not enabled .* or drop it"):
        posting.currencies.check(org, "USD", record="order 2", fix="drop it")
    with pytest.raises(Permanent, match="order 3: currency 'EURO' is not a currency code"):
        posting.currencies.currency("euro", record="order 3")


def test_documents_are_dated_in_the_organisations_time_zone() -> None:
    auckland = OrgFacts(timezone="NEWZEALANDSTANDARDTIME")
    # 09:30 on 2 March in Auckland is 20:30 on 1 March in UTC.
    assert (
        posting.dates.document_date(auckland, "2026-03-01 20:30:00", record="r", source="S")
        == "2026-03-02"
    )
    london = OrgFacts(timezone="GMTSTANDARDTIME")
    assert posting.dates.document_date(london, "2026-03-01T20:30:00Z", record="r", source="S") == (
        "2026-03-01"
    )
    assert posting.dates.document_date(auckland, "2026-03-01", record="r", source="S") == (
        "2026-03-01"
    )
    moment = posting.dates.moment("2026-03-01 20:30:00", record="r", source="S")
    assert moment == datetime(2026, 3, 1, 20, 30, tzinfo=UTC)
    with pytest.raises(Permanent, match="r: date 'soon' is not a date and time S writes"):
        posting.dates.document_date(auckland, "soon", record="r", source="S")


# -- contacts --------------------------------------------------------------------------------------


def contact(contact_id: str, name: str, email: str, number: str = "") -> dict[str, str]:
    return {"ContactID": contact_id, "Name": name, "EmailAddress": email, "ContactNumber": number}


def resolve(
    contacts: list[dict[str, str]], mode: posting.contacts.MatchMode, number: str = "SHOP-C-5"
):  # type: ignore[no-untyped-def]
    return posting.contacts.match(
        make_mirror(contacts=contacts), own_number=number, email="ann@x.org", name="Ann Lee",
        mode=mode,
    )  # fmt: skip


def test_the_contact_ladder() -> None:
    by_email = [contact("c1", "Someone", "ANN@x.org"), contact("c2", "Ann Lee", "other@x.org")]
    assert resolve(by_email, "email_then_name").xero_id == "c1"
    by_name = [contact("c2", "ann lee", "other@x.org")]
    assert resolve(by_name, "email_then_name").xero_id == "c2"
    assert resolve(by_name, "email").action == "create"
    assert resolve(by_email, "none").action == "create"
    two = [contact("c3", "Ann Lee", "ann@x.org"), contact("c2", "Ann Lee", "ann@x.org")]
    choice = resolve(two, "email_then_name")
    assert choice.action == "choose" and [c.xero_id for c in choice.candidates] == ["c2", "c3"]
    assert "2 Xero contacts have the same email 'ann@x.org'" in choice.reason
    assert resolve([], "email_then_name").action == "create"
    ours = [contact("c9", "X", "", "SHOP-C-5"), contact("c8", "Ann Lee", "", "SHOP-C-6")]
    assert resolve(ours, "none").xero_id == "c9"  # our own number links whatever the mode
    assert resolve(ours[1:], "email_then_name").action == "create"  # another record's contact


def test_names_are_unique_in_xero() -> None:
    mirror = make_mirror(contacts=[contact("c1", "Ann Lee", "", "SHOP-C-1")])
    taken = posting.contacts.name_taken
    assert taken(mirror, "ann lee", own_id=None, own_number="SHOP-C-2")
    assert not taken(mirror, "Ann Lee", own_id="c1", own_number="SHOP-C-1")
    assert posting.contacts.person_name("Ann", "Lee", suffix="7") == "Ann Lee (7)"
    assert len(posting.contacts.person_name("A" * 300, "", suffix="12345")) == 255


# -- documents -------------------------------------------------------------------------------------

documents = posting.documents


def test_a_contact_leaves_out_what_is_empty_but_always_sends_addresses_and_phones() -> None:
    postal = documents.Address(["", "1 High St", "x" * 600], "Leeds", None, "LS1", "GB")
    doc = documents.contact("SHOP-C-1", "Ann Lee", first="Ann", last=" ", email="ann@example.com",
                            postal=postal, phone="0113")  # fmt: skip
    assert (doc.kind, doc.natural_key, doc.key_field) == ("Contact", "SHOP-C-1", "ContactNumber")
    assert "LastName" not in doc.body and "TaxNumber" not in doc.body
    (address,) = doc.body["Addresses"]
    assert address["AddressType"] == "POBOX" and address["AddressLine1"] == "1 High St"
    assert len(address["AddressLine2"]) == 500 and "Region" not in address
    assert doc.body["Phones"] == [{"PhoneType": "DEFAULT", "PhoneNumber": "0113"}]
    bare = documents.contact("SHOP-C-2", "Bo")
    assert bare.body["Addresses"] == [] and bare.body["Phones"] == []  # removed at the source


def test_an_item_is_sold_untracked_with_a_plain_description() -> None:
    doc = documents.item("SHOP-ABC", "Mug", account="200", description="<p>A <b>mug</b></p>",
                         tax_type="OUTPUT2", price=Decimal("3.33335"))  # fmt: skip
    assert doc.body["Description"] == "A mug" and doc.body["IsTrackedAsInventory"] is False
    assert doc.body["SalesDetails"] == {"AccountCode": "200", "TaxType": "OUTPUT2",
                                        "UnitPrice": 3.3334}  # fmt: skip
    unnamed = documents.item("SHOP-X", "", account="200")
    assert unnamed.body["Name"] == unnamed.body["Description"] == "SHOP-X"
    assert unnamed.body["SalesDetails"] == {"AccountCode": "200"}


def test_payments_and_allocations_are_to_the_cent_and_keyed_as_xero_finds_them() -> None:
    invoice, bank, day = {"Invoice": {"InvoiceID": "i1"}}, {"Code": "090"}, "2026-12-04"
    paid = documents.payment("SHOP-PAY-1", invoice, bank, day, Decimal("10.005"),
                             currency_rate=Decimal("1.1"))  # fmt: skip
    assert paid.body == {"Invoice": {"InvoiceID": "i1"}, "Account": {"Code": "090"},
                         "Date": "2026-12-04", "Amount": 10.01, "Reference": "SHOP-PAY-1",
                         "CurrencyRate": 1.1}  # fmt: skip
    reversed_ = documents.payment("SHOP-PAY-1", {}, {"Code": "090"}, "2026-12-04", Decimal(1),
                                  deleted=True)  # fmt: skip
    assert reversed_.body["Status"] == "DELETED"
    allocation = documents.allocation(
        "SHOP-CM-1", "CreditNoteNumber", note_id="c1", invoice_id="i1", day=day, amount=Decimal(5)
    )
    assert (allocation.kind, allocation.role, allocation.natural_key) == (
        "Allocation",
        "allocation",
        "SHOP-CM-1",
    )
    assert allocation.body["CreditNoteNumber"] == "SHOP-CM-1"


def test_a_credit_note_line_takes_its_discount_into_the_unit_amount() -> None:
    (line,) = lines.without_discounts([lines.Line("Mug", Decimal(3), Decimal("3.33"), "200",
                                                  "OUTPUT2", discount=Decimal("1"))])  # fmt: skip
    assert (line.unit, line.discount) == (Decimal("2.9967"), Decimal(0))
    untouched = lines.Line("Pen", Decimal(1), Decimal(2), "200", "OUTPUT2")
    assert lines.without_discounts([untouched]) == [untouched]
