"""``where=`` as real Xero reads it: OR/AND of comparisons, parentheses, ``!=``, enums,
``Guid("…")``, ``DateTime(…)`` and string methods – and the client's 40-number look-up in one
call."""

from __future__ import annotations

from typing import Any

import pytest
from support.sandbox_helpers import Api

from pm_xero_plugin.sandbox import Sandbox
from pm_xero_plugin.sandbox.query import QueryError, parse_where
from pm_xero_plugin.xero.client import where_any


def _contacts(api: Api, where: str, **params: str) -> list[str]:
    resp = api.get("/Contacts", where=where, **params)
    assert resp.status_code == 200, resp.text
    return sorted(c["ContactNumber"] for c in resp.json()["Contacts"])


def _make_contacts(api: Api, count: int) -> list[dict[str, Any]]:
    batch = [{"Name": f"Pet Owner {n}", "ContactNumber": f"C{n}"} for n in range(1, count + 1)]
    resp = api.put("/Contacts", {"Contacts": batch})
    assert resp.status_code == 200, resp.text
    contacts: list[dict[str, Any]] = resp.json()["Contacts"]
    return contacts


def _overpayment(api: Api, contact_id: str, reference: str, amount: float = 50) -> dict[str, Any]:
    txn = {
        "Type": "RECEIVE-OVERPAYMENT",
        "Contact": {"ContactID": contact_id},
        "BankAccount": {"Code": "090"},
        "Date": "2024-03-02",
        "Reference": reference,
        "LineAmountTypes": "NoTax",
        "LineItems": [{"Description": "prepaid", "LineAmount": amount}],
    }
    resp = api.put("/BankTransactions", {"BankTransactions": [txn]})
    assert resp.status_code == 200, resp.text
    txn_out: dict[str, Any] = resp.json()["BankTransactions"][0]
    return txn_out


def test_one_request_answers_an_or_of_forty_contact_numbers(api: Api, sandbox: Sandbox) -> None:
    _make_contacts(api, 45)
    wanted = [f"C{n}" for n in range(3, 43)]
    before = sandbox.api_calls(api.tenant)
    found = _contacts(api, where_any("ContactNumber", wanted), includeArchived="true")
    assert found == sorted(wanted)
    assert sandbox.api_calls(api.tenant) == before + 1


def _receive(api: Api, contact_id: str, reference: str) -> dict[str, Any]:
    txn = {
        "Type": "RECEIVE",
        "Contact": {"ContactID": contact_id},
        "BankAccount": {"Code": "090"},
        "Date": "2024-03-02",
        "Reference": reference,
        "LineItems": [{"Description": "cash sale", "UnitAmount": 10, "AccountCode": "200"}],
    }
    resp = api.put("/BankTransactions", {"BankTransactions": [txn]})
    assert resp.status_code == 200, resp.text
    txn_out: dict[str, Any] = resp.json()["BankTransactions"][0]
    return txn_out


def test_or_of_references_anded_with_type_finds_receive_bank_transactions(api: Api) -> None:
    c = api.contact()
    _receive(api, c["ContactID"], "PAY12")
    _receive(api, c["ContactID"], "PAY13")
    _receive(api, c["ContactID"], "PAY14")
    where = f'({where_any("Reference", ["PAY12", "PAY13"])}) AND Type=="RECEIVE"'
    found = api.get("/BankTransactions", where=where).json()["BankTransactions"]
    assert sorted(t["Reference"] for t in found) == ["PAY12", "PAY13"]
    none = api.get("/BankTransactions", where='Reference=="PAY12" AND Type=="SPEND"')
    assert none.json()["BankTransactions"] == []


def test_overpayment_reference_is_dropped_as_xero_does_so_no_reference_search_finds_it(
    api: Api,
) -> None:
    """Xero supports Reference only on SPEND and RECEIVE bank transactions."""
    c = api.contact()
    bt = _overpayment(api, c["ContactID"], "PAY12")
    assert "Reference" not in bt
    (op,) = api.get("/Overpayments").json()["Overpayments"]
    assert op["OverpaymentID"] == bt["OverpaymentID"]
    assert "Reference" not in op
    assert api.get("/Overpayments", where='Reference=="PAY12"').json()["Overpayments"] == []
    assert api.get("/Overpayments", References="PAY12").json()["Overpayments"] == []
    txn = api.get("/BankTransactions", where='Reference=="PAY12"').json()["BankTransactions"]
    assert txn == []
    # What stays is what the add-on's fallback uses: the contact, the line and the amount.
    assert op["Contact"]["ContactID"] == c["ContactID"]
    assert op["LineItems"][0]["Description"] == "prepaid"
    assert op["Total"] == 50


def test_and_binds_tighter_than_or_and_parentheses_regroup(api: Api) -> None:
    _make_contacts(api, 3)
    api.post("/Contacts", {"Contacts": [{"ContactNumber": "C2", "ContactStatus": "ARCHIVED"}]})
    loose = 'ContactNumber=="C1" OR ContactNumber=="C2" AND ContactStatus=="ACTIVE"'
    assert _contacts(api, loose, includeArchived="true") == ["C1"]
    grouped = '(ContactNumber=="C1" OR ContactNumber=="C2") AND ContactStatus=="ARCHIVED"'
    assert _contacts(api, grouped, includeArchived="true") == ["C2"]
    assert _contacts(api, 'ContactNumber=="C1" || ContactNumber=="C3"') == ["C1", "C3"]


def test_not_equal_enum_status_guid_and_string_methods(api: Api) -> None:
    made = _make_contacts(api, 3)
    api.invoice(made[0]["ContactID"], "INV-1")
    api.invoice(made[1]["ContactID"], "INV-2", status="DRAFT")
    api.invoice(made[2]["ContactID"], "INV-3", status="DRAFT")

    def numbers(where: str) -> list[str]:
        resp = api.get("/Invoices", where=where)
        assert resp.status_code == 200, resp.text
        return sorted(i["InvoiceNumber"] for i in resp.json()["Invoices"])

    assert numbers('Status=="AUTHORISED"') == ["INV-1"]
    assert numbers('Status!="AUTHORISED"') == ["INV-2", "INV-3"]
    guid = made[1]["ContactID"].upper()
    assert numbers(f'Contact.ContactID==guid("{guid}")') == ["INV-2"]
    assert numbers(f'Contact.ContactID==Guid("{guid}") OR InvoiceNumber=="INV-3"') == [
        "INV-2",
        "INV-3",
    ]
    assert numbers('NOT (Status=="DRAFT")') == ["INV-1"]
    assert _contacts(api, 'Name.Contains("owner 2")') == ["C2"]
    assert _contacts(api, 'Name.StartsWith("Pet") AND ContactNumber!="C1"') == ["C2", "C3"]


def test_dates_compare_with_datetime_and_amounts_with_numbers(api: Api) -> None:
    c = api.contact()
    api.invoice(c["ContactID"], "INV-EARLY", Date="2024-01-15")
    api.invoice(c["ContactID"], "INV-FEB", amount="250.00", Date="2024-02-01")
    api.invoice(c["ContactID"], "INV-LATE", Date="2024-02-20")

    def numbers(where: str) -> list[str]:
        resp = api.get("/Invoices", where=where)
        assert resp.status_code == 200, resp.text
        return sorted(i["InvoiceNumber"] for i in resp.json()["Invoices"])

    assert numbers("Date>=DateTime(2024,02,01)") == ["INV-FEB", "INV-LATE"]
    assert numbers("Date<DateTime(2024, 2, 1)") == ["INV-EARLY"]
    assert numbers("Date==DateTime(2024,02,01)") == ["INV-FEB"]
    assert numbers("Date>DateTime(2024,02,01,00,00,00) AND Total<200") == ["INV-LATE"]
    assert numbers("Total>=250") == ["INV-FEB"]


@pytest.mark.parametrize(
    "where",
    [
        "Status=bad",
        'Status=="A" OR',
        '(Status=="A"',
        'Status=="A")',
        'Contact.ContactID==Guid("nope")',
        "Date>=DateTime(2024,13,01)",
        'Status=="A" XOR Type=="B"',
        "",
    ],
)
def test_unparseable_where_is_a_400_query_parse_exception(api: Api, where: str) -> None:
    with pytest.raises(QueryError):
        parse_where(where)
    if where:
        resp = api.get("/Invoices", where=where)
        assert resp.status_code == 400
        assert resp.json()["Type"] == "QueryParseException"
