"""The Accounting API's shapes and Xero's rules, each with Xero's message."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx
from support.sandbox_helpers import Api, connect

from pm_xero_plugin.sandbox import Sandbox


def _errors(resp: httpx.Response, key: str = "Invoices", index: int = 0) -> list[str]:
    assert resp.status_code == 200, resp.text
    element = resp.json()[key][index]
    assert element["StatusAttributeString"] == "ERROR"
    return [e["Message"] for e in element["ValidationErrors"]]


def _ok(resp: httpx.Response, key: str = "Invoices") -> dict[str, Any]:
    assert resp.status_code == 200, resp.text
    element: dict[str, Any] = resp.json()[key][0]
    assert element["StatusAttributeString"] == "OK", element
    return element


# -- organisations --------------------------------------------------------------------------------


def test_each_org_starts_with_a_realistic_chart_including_archived_accounts(api: Api) -> None:
    accounts = {a["Code"]: a for a in api.get("/Accounts").json()["Accounts"]}
    assert accounts["200"]["Type"] == "REVENUE"
    assert accounts["201"]["Name"] == "Boarding"
    assert accounts["090"]["Type"] == "BANK"
    assert accounts["092"]["Type"] == "BANK"
    assert accounts["610"]["SystemAccount"] == "DEBTORS"
    assert accounts["860"]["SystemAccount"] == "ROUNDING"
    assert accounts["206"]["Status"] == "ARCHIVED"
    bank = api.get("/Accounts", where='Type=="BANK"').json()["Accounts"]
    assert {a["Code"] for a in bank} == {"090", "091", "092"}


def test_tax_rates_follow_the_region(api: Api, spec_path: str) -> None:
    au = {t["TaxType"]: t for t in api.get("/TaxRates").json()["TaxRates"]}
    assert au["OUTPUT"]["EffectiveRate"] == 10
    assert "EXEMPTOUTPUT" in au
    assert "BASEXCLUDED" in au
    for region, tax_type, rate in (("NZ", "OUTPUT2", 15), ("UK", "OUTPUT2", 20)):
        sandbox = Sandbox(region=region, spec_path=spec_path)
        org = sandbox.org(sandbox.tenant_ids[0])
        assert org.tax_rate(tax_type)["EffectiveRate"] == rate  # type: ignore[index]
    assert Sandbox(region="UK").org(Sandbox(region="UK").tenant_ids[0]).tax_rate("ZERORATEDOUTPUT")


def test_organisation_endpoint_and_several_orgs_at_once(api: Api, sandbox: Sandbox) -> None:
    names = {
        api.get("/Organisation", tenant=t).json()["Organisations"][0]["Name"]
        for t in sandbox.tenant_ids
    }
    assert names == {"Sandbox Pets Ltd 1", "Sandbox Pets Ltd 2"}
    api.contact(tenant=sandbox.tenant_ids[0])
    assert api.get("/Contacts", tenant=sandbox.tenant_ids[1]).json()["Contacts"] == []


def test_tracking_categories_and_options_can_be_created(api: Api) -> None:
    cats = api.get("/TrackingCategories").json()["TrackingCategories"]
    assert cats[0]["Name"] == "Location"
    assert len(cats[0]["Options"]) == 3
    new = api.put("/TrackingCategories", {"Name": "Service"}).json()["TrackingCategories"][0]
    opt = api.put(
        f"/TrackingCategories/{new['TrackingCategoryID']}/Options",
        {"Options": [{"Name": "Grooming"}]},
    )
    assert opt.json()["Options"][0]["Name"] == "Grooming"
    assert (
        "2 active"
        in _errors(
            api.put("/TrackingCategories", {"Name": "Third"}, summarizeErrors="false"),
            "TrackingCategories",
        )[0]
    )


# -- contacts -------------------------------------------------------------------------------------


def test_active_contact_names_are_unique_but_archived_ones_do_not_count(api: Api) -> None:
    first = api.contact("Sam Barker", "C1")
    dup = api.put("/Contacts", {"Contacts": [{"Name": "Sam Barker"}]}, summarizeErrors="false")
    assert _errors(dup, "Contacts") == [
        "The contact name Sam Barker is already assigned to another contact. "
        "The contact name must be unique across all active contacts."
    ]
    api.post(f"/Contacts/{first['ContactID']}", {"ContactStatus": "ARCHIVED"})
    assert api.contact("Sam Barker", "C2")["ContactStatus"] == "ACTIVE"


def test_contacts_found_by_number_where_and_ids_and_archived_hidden_by_default(api: Api) -> None:
    c = api.contact("Alex Tail", "PM-42")
    assert api.get("/Contacts/PM-42").json()["Contacts"][0]["ContactID"] == c["ContactID"]
    assert (
        api.get("/Contacts", where='ContactNumber=="PM-42"').json()["Contacts"][0]["Name"]
        == "Alex Tail"
    )
    assert len(api.get("/Contacts", IDs=c["ContactID"]).json()["Contacts"]) == 1
    api.post("/Contacts", {"Contacts": [{"ContactNumber": "PM-42", "ContactStatus": "ARCHIVED"}]})
    assert api.get("/Contacts").json()["Contacts"] == []
    assert len(api.get("/Contacts", includeArchived="true").json()["Contacts"]) == 1


def test_archived_contact_cannot_be_used_on_a_document(api: Api) -> None:
    c = api.contact()
    api.post(f"/Contacts/{c['ContactID']}", {"ContactStatus": "ARCHIVED"})
    assert "has been archived" in _errors(api.invoice(c["ContactID"]))[0]


# -- invoices -------------------------------------------------------------------------------------


def test_invoice_dates_come_back_in_xero_format_with_date_string(api: Api) -> None:
    c = api.contact()
    inv = _ok(api.invoice(c["ContactID"], Date="/Date(1709251200000+0000)/"))
    assert inv["Date"] == "/Date(1709251200000+0000)/"
    assert inv["DateString"] == "2024-03-01T00:00:00"
    assert inv["UpdatedDateUTC"].startswith("/Date(")


def test_invoice_number_must_be_unique_on_put(api: Api) -> None:
    c = api.contact()
    _ok(api.invoice(c["ContactID"], "INV-7"))
    assert _errors(api.invoice(c["ContactID"], "INV-7")) == ["Invoice # must be unique."]


def test_post_with_an_existing_number_updates_the_invoice(api: Api) -> None:
    c = api.contact()
    first = _ok(api.invoice(c["ContactID"], "INV-8", status="DRAFT"))
    upd = api.post("/Invoices", {"Invoices": [{"InvoiceNumber": "INV-8", "Reference": "changed"}]})
    assert _ok(upd)["InvoiceID"] == first["InvoiceID"]
    assert len(api.get("/Invoices", InvoiceNumbers="INV-8").json()["Invoices"]) == 1


def test_total_is_recomputed_from_lines_with_per_line_tax_rounding(api: Api) -> None:
    c = api.contact()
    lines = [
        {"Description": "a", "Quantity": 1, "UnitAmount": 0.05, "AccountCode": "200"},
        {"Description": "b", "Quantity": 1, "UnitAmount": 0.05, "AccountCode": "200"},
        {
            "Description": "c",
            "Quantity": 3,
            "UnitAmount": 10,
            "DiscountRate": 10,
            "AccountCode": "203",
        },
    ]
    inv = _ok(api.invoice(c["ContactID"], LineItems=lines, Total=999))
    # 0.005 rounds to 0.01 on each line (0.02), not round(0.01) on the sum; 27.00 → 2.70
    assert inv["TotalTax"] == 2.72
    assert inv["SubTotal"] == 27.10
    assert inv["Total"] == 29.82
    inclusive = _ok(
        api.invoice(
            c["ContactID"],
            "INV-INC",
            LineAmountTypes="Inclusive",
            LineItems=[
                {"Description": "x", "Quantity": 1, "UnitAmount": 110, "AccountCode": "200"}
            ],
        )
    )
    assert inclusive["TotalTax"] == 10
    assert inclusive["SubTotal"] == 100
    assert inclusive["Total"] == 110


def test_account_codes_must_exist_and_not_be_archived(api: Api) -> None:
    c = api.contact()
    missing = [{"Description": "x", "Quantity": 1, "UnitAmount": 1, "AccountCode": "999"}]
    assert _errors(api.invoice(c["ContactID"], LineItems=missing)) == [
        "Account code '999' is not a valid code for this document."
    ]
    archived = [{"Description": "x", "Quantity": 1, "UnitAmount": 1, "AccountCode": "206"}]
    assert (
        "Account code '206' has been archived"
        in _errors(api.invoice(c["ContactID"], LineItems=archived))[0]
    )


def test_tax_type_must_exist_and_suit_the_account(api: Api) -> None:
    c = api.contact()
    wrong = [
        {
            "Description": "x",
            "Quantity": 1,
            "UnitAmount": 1,
            "AccountCode": "200",
            "TaxType": "INPUT",
        }
    ]
    assert _errors(api.invoice(c["ContactID"], LineItems=wrong)) == [
        "The TaxType code INPUT cannot be used with account code 200."
    ]
    income_on_expense = [
        {
            "Description": "x",
            "Quantity": 1,
            "UnitAmount": 1,
            "AccountCode": "429",
            "TaxType": "OUTPUT",
        }
    ]
    assert _errors(api.invoice(c["ContactID"], "T-2", LineItems=income_on_expense)) == [
        "The TaxType code OUTPUT cannot be used with account code 429."
    ]
    rounding = [
        {
            "Description": "rounding",
            "Quantity": 1,
            "UnitAmount": 0.01,
            "AccountCode": "860",
            "TaxType": "EXEMPTOUTPUT",
        }
    ]
    _ok(api.invoice(c["ContactID"], "T-3", LineItems=rounding))
    unknown = [
        {
            "Description": "x",
            "Quantity": 1,
            "UnitAmount": 1,
            "AccountCode": "200",
            "TaxType": "OUTPUT9",
        }
    ]
    assert "does not exist" in _errors(api.invoice(c["ContactID"], LineItems=unknown))[0]


def test_period_lock_date_refuses_earlier_documents(api: Api, sandbox: Sandbox) -> None:
    sandbox.faults(api.tenant).lock_date = date(2024, 3, 31)
    c = api.contact()
    assert _errors(api.invoice(c["ContactID"])) == [
        "The document date cannot be before the period lock date, currently set at 31-Mar-2024"
    ]
    _ok(api.invoice(c["ContactID"], Date="2024-04-01"))
    org = api.get("/Organisation").json()["Organisations"][0]
    assert org["PeriodLockDate"].startswith("/Date(")


def test_summarised_errors_are_a_400_validation_exception_after_creating_the_valid_elements(
    api: Api,
) -> None:
    c = api.contact()
    good = {
        "Type": "ACCREC",
        "Contact": {"ContactID": c["ContactID"]},
        "InvoiceNumber": "OK-1",
        "LineItems": [{"Description": "x", "Quantity": 1, "UnitAmount": 5, "AccountCode": "200"}],
    }
    bad = {
        **good,
        "InvoiceNumber": "BAD-1",
        "LineItems": [{"Description": "x", "Quantity": 1, "UnitAmount": 5, "AccountCode": "999"}],
    }
    resp = api.put("/Invoices", {"Invoices": [good, bad]})
    assert resp.status_code == 400
    body = resp.json()
    assert body["ErrorNumber"] == 10
    assert body["Type"] == "ValidationException"
    assert body["Message"] == "A validation exception occurred"
    assert body["Elements"][0]["ValidationErrors"][0]["Message"].startswith("Account code '999'")
    assert [i["InvoiceNumber"] for i in api.get("/Invoices").json()["Invoices"]] == ["OK-1"]


def test_spec_rejects_a_malformed_body_with_400(api: Api, spec_path: str) -> None:
    resp = api.put("/Invoices", {"Invoices": [{"Type": "BOGUS", "LineItems": "no"}]})
    assert resp.status_code == 400
    assert resp.json()["Type"] == "PostDataInvalidException"
    assert "BOGUS" in resp.json()["Message"]


def test_without_spec_bodies_are_not_checked() -> None:
    sandbox = Sandbox()
    with httpx.Client(transport=sandbox.transport(), base_url="http://x") as c:
        api = Api(c, connect(c))
        resp = api.put("/Invoices", {"Invoices": [{"Type": "BOGUS"}]}, summarizeErrors="false")
        assert resp.status_code == 200
        assert "Type must be one of" in resp.json()["Invoices"][0]["ValidationErrors"][0]["Message"]


def test_paid_invoice_cannot_be_edited_or_voided(api: Api) -> None:
    c = api.contact()
    inv = _ok(api.invoice(c["ContactID"], amount="10"))
    api.put(
        "/Payments",
        {
            "Invoice": {"InvoiceID": inv["InvoiceID"]},
            "Account": {"Code": "090"},
            "Amount": 11,
            "Date": "2024-03-02",
        },
    )
    for change in ({"Reference": "x"}, {"Status": "VOIDED"}):
        resp = api.post(
            f"/Invoices/{inv['InvoiceID']}", {"Invoices": [change]}, summarizeErrors="false"
        )
        assert _errors(resp) == [
            "This document cannot be edited as it has a payment or credit note allocated to it."
        ]


def test_void_an_unpaid_authorised_invoice(api: Api) -> None:
    c = api.contact()
    inv = _ok(api.invoice(c["ContactID"]))
    voided = _ok(api.post(f"/Invoices/{inv['InvoiceID']}", {"Invoices": [{"Status": "VOIDED"}]}))
    assert voided["Status"] == "VOIDED"
    assert voided["AmountDue"] == 0


def test_reads_page_100_at_a_time_and_filter_by_status_and_ids(api: Api) -> None:
    c = api.contact()
    line = [{"Description": "x", "Quantity": 1, "UnitAmount": 1, "AccountCode": "200"}]
    batch = [
        {
            "Type": "ACCREC",
            "Contact": {"ContactID": c["ContactID"]},
            "LineItems": line,
            "Status": "DRAFT" if i % 2 else "AUTHORISED",
        }
        for i in range(50)
    ]
    for _ in range(3):
        assert api.put("/Invoices", {"Invoices": batch}).status_code == 200
    page1 = api.get("/Invoices", page="1").json()
    page2 = api.get("/Invoices", page="2").json()
    assert len(page1["Invoices"]) == 100
    assert len(page2["Invoices"]) == 50
    assert page2["pagination"]["itemCount"] == 150
    drafts = api.get("/Invoices", Statuses="DRAFT").json()["Invoices"]
    assert len(drafts) == 75
    ids = ",".join(i["InvoiceID"] for i in drafts[:3])
    assert len(api.get("/Invoices", IDs=ids).json()["Invoices"]) == 3
    assert (
        api.get("/Invoices", where='Status=="DRAFT" AND Type=="ACCREC"').json()["Invoices"][0][
            "Status"
        ]
        == "DRAFT"
    )
    assert api.get("/Invoices", where="Status=bad").status_code == 400


def test_unknown_ids_are_404(api: Api) -> None:
    assert api.get("/Invoices/00000000-0000-4000-8000-000000000000").status_code == 404
    assert api.get("/Nope").status_code == 404


def test_contact_by_name_is_created_when_new(api: Api) -> None:
    inv = {
        "Type": "ACCREC",
        "Contact": {"Name": "Brand New"},
        "LineItems": [{"Description": "x", "Quantity": 1, "UnitAmount": 1, "AccountCode": "200"}],
    }
    _ok(api.put("/Invoices", {"Invoices": [inv]}))
    assert api.get("/Contacts", where='Name=="Brand New"').json()["Contacts"]


# -- payments -------------------------------------------------------------------------------------


def _pay(api: Api, amount: float, ref: str = "P1", **invoice: str) -> httpx.Response:
    payment = {
        "Invoice": invoice,
        "Account": {"Code": "090"},
        "Amount": amount,
        "Date": "2024-03-02",
        "Reference": ref,
    }
    return api.put("/Payments", {"Payments": [payment]}, summarizeErrors="false")


def test_payment_only_against_authorised_documents(api: Api) -> None:
    c = api.contact()
    _ok(api.invoice(c["ContactID"], "D-1", status="DRAFT"))
    assert _errors(_pay(api, 1, InvoiceNumber="D-1"), "Payments") == [
        "Payments can only be made against Authorised documents"
    ]


def test_payment_cannot_exceed_the_amount_outstanding(api: Api) -> None:
    c = api.contact()
    _ok(api.invoice(c["ContactID"], "A-1", amount="100"))
    assert _errors(_pay(api, 110.01, InvoiceNumber="A-1"), "Payments") == [
        "Payment amount exceeds the amount outstanding on this document"
    ]


def test_many_payments_in_one_put_mark_invoice_paid_and_delete_restores_it(api: Api) -> None:
    c = api.contact()
    inv = _ok(api.invoice(c["ContactID"], "A-2", amount="100"))
    pays = [
        {
            "Invoice": {"InvoiceID": inv["InvoiceID"]},
            "Account": {"Code": code},
            "Amount": amt,
            "Date": "2024-03-02",
            "Reference": ref,
        }
        for code, amt, ref in (("090", 60, "P1"), ("092", 50, "P2"))
    ]
    created = api.put("/Payments", {"Payments": pays}).json()["Payments"]
    assert [p["StatusAttributeString"] for p in created] == ["OK", "OK"]
    assert api.get("/Invoices/A-2").json()["Invoices"][0]["Status"] == "PAID"
    found = api.get("/Payments", where='Reference=="P2"').json()["Payments"]
    assert [p["PaymentID"] for p in found] == [created[1]["PaymentID"]]
    deleted = api.post(f"/Payments/{created[1]['PaymentID']}", {"Status": "DELETED"}).json()[
        "Payments"
    ][0]
    assert deleted["Status"] == "DELETED"
    again = api.get("/Invoices/A-2").json()["Invoices"][0]
    assert again["Status"] == "AUTHORISED"
    assert again["AmountDue"] == 50


def test_credit_note_allocation_reduces_amount_due(api: Api) -> None:
    c = api.contact()
    inv = _ok(api.invoice(c["ContactID"], "A-3", amount="100"))
    cn = {
        "Type": "ACCRECCREDIT",
        "Contact": {"ContactID": c["ContactID"]},
        "CreditNoteNumber": "CN-9",
        "Status": "AUTHORISED",
        "Date": "2024-03-02",
        "LineItems": [{"Description": "r", "Quantity": 1, "UnitAmount": 20, "AccountCode": "201"}],
    }
    note = _ok(api.put("/CreditNotes", {"CreditNotes": [cn]}), "CreditNotes")
    assert _errors(
        api.put("/CreditNotes", {"CreditNotes": [cn]}, summarizeErrors="false"), "CreditNotes"
    ) == ["Credit Note # must be unique."]
    alloc = api.put(
        f"/CreditNotes/{note['CreditNoteID']}/Allocations",
        {
            "Allocations": [
                {"Invoice": {"InvoiceID": inv["InvoiceID"]}, "Amount": 22, "Date": "2024-03-02"}
            ]
        },
    )
    assert alloc.status_code == 200, alloc.text
    assert api.get("/Invoices/A-3").json()["Invoices"][0]["AmountDue"] == 88
    assert (
        api.get("/CreditNotes", where='CreditNoteNumber=="CN-9"').json()["CreditNotes"][0]["Status"]
        == "PAID"
    )
    over = api.put(
        f"/CreditNotes/{note['CreditNoteID']}/Allocations",
        {
            "Allocations": [
                {"Invoice": {"InvoiceID": inv["InvoiceID"]}, "Amount": 1, "Date": "2024-03-02"}
            ]
        },
        summarizeErrors="false",
    )
    assert "Credit can only be allocated from an Authorised document" in _errors(
        over, "Allocations"
    )


def test_overpayment_via_bank_transaction_then_allocated(api: Api) -> None:
    c = api.contact()
    inv = _ok(api.invoice(c["ContactID"], "A-4", amount="100"))
    txn = {
        "Type": "RECEIVE-OVERPAYMENT",
        "Contact": {"ContactID": c["ContactID"]},
        "BankAccount": {"Code": "090"},
        "Date": "2024-03-02",
        "LineAmountTypes": "NoTax",
        "LineItems": [{"Description": "prepaid", "LineAmount": 50}],
    }
    bt = _ok(api.put("/BankTransactions", {"BankTransactions": [txn]}), "BankTransactions")
    op = api.get(f"/Overpayments/{bt['OverpaymentID']}").json()["Overpayments"][0]
    assert op["RemainingCredit"] == 50
    resp = api.put(
        f"/Overpayments/{op['OverpaymentID']}/Allocations",
        {
            "Allocations": [
                {"Invoice": {"InvoiceID": inv["InvoiceID"]}, "Amount": 30, "Date": "2024-03-02"}
            ]
        },
    )
    assert resp.status_code == 200, resp.text
    assert api.get("/Invoices/A-4").json()["Invoices"][0]["AmountDue"] == 80
    assert api.get("/Overpayments").json()["Overpayments"][0]["RemainingCredit"] == 20


def test_if_modified_since_returns_only_later_changes(api: Api, clock) -> None:  # type: ignore[no-untyped-def]
    api.contact("Old One", "C1")
    clock.advance(20 * 60)
    api.contact("New One", "C2")
    since = "2024-03-01T09:10:00"
    names = [
        c["Name"]
        for c in api.get("/Contacts", headers={"If-Modified-Since": since}).json()["Contacts"]
    ]
    assert names == ["New One"]


def test_payment_account_may_be_given_by_account_id_and_must_take_payments(api: Api) -> None:
    c = api.contact()
    _ok(api.invoice(c["ContactID"], "A-9", amount="10"))
    bank = api.get("/Accounts/090").json()["Accounts"][0]
    pay = {
        "Invoice": {"InvoiceNumber": "A-9"},
        "Account": {"AccountID": bank["AccountID"]},
        "Amount": 5,
        "Date": "2024-03-02",
    }
    _ok(api.put("/Payments", {"Payments": [pay]}), "Payments")
    pay["Account"] = {"Code": "200"}
    resp = api.put("/Payments", {"Payments": [pay]}, summarizeErrors="false")
    assert "does not allow payments" in _errors(resp, "Payments")[0]
