"""What the add-on's reconciliation reads back after a bookkeeper's changes, as Xero answers it:
an invoice's payments and credits, a deleted payment, a voided invoice, a credit note's
allocations, and the incremental, paged and by-ids reads – every answer checked against the
spec (the ``capi`` fixture)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from support.sandbox_helpers import Api
from support.sandbox_money import Money

from pm_xero_plugin.sandbox import SandboxClock


def as_bookkeeper(capi: Api, method: str, path: str, body: Any) -> dict[str, Any]:
    resp = capi.client.request(method, f"/sandbox/xero/{capi.tenant}/{path}", json=body)
    assert resp.status_code == 200, resp.text
    answer: dict[str, Any] = resp.json()
    return answer


def test_an_invoice_carries_its_payments_credits_overpayments_and_prepayments(
    capi: Api, money: Money
) -> None:
    cid = money.contact()
    inv = money.invoice(cid, "INV-1", "100.00")
    assert (inv["Payments"], inv["CreditNotes"], inv["Overpayments"], inv["Prepayments"]) == (
        [],
        [],
        [],
        [],
    )
    payment = money.pay(inv["InvoiceID"], "10.00")
    note = money.credit_note(cid, "CN-1", "20.00")
    money.ok(
        money.allocate("CreditNotes", note["CreditNoteID"], inv["InvoiceID"], "20"), "Allocations"
    )
    over = money.overpayment(cid, "5.00")
    money.ok(
        money.allocate("Overpayments", over["OverpaymentID"], inv["InvoiceID"], "5"), "Allocations"
    )
    pre = money.prepayment(cid, "15.00")
    money.ok(
        money.allocate("Prepayments", pre["PrepaymentID"], inv["InvoiceID"], "15"), "Allocations"
    )
    by_id = capi.get(f"/Invoices/{inv['InvoiceID']}").json()["Invoices"][0]
    (listed,) = capi.get("/Invoices").json()["Invoices"]
    for read in (by_id, listed):
        assert [(p["PaymentID"], p["Amount"], p["Date"]) for p in read["Payments"]] == [
            (payment["PaymentID"], 10.0, "/Date(1709337600000+0000)/")
        ]
        assert [
            (c["CreditNoteID"], c["CreditNoteNumber"], c["AppliedAmount"])
            for c in read["CreditNotes"]
        ] == [(note["CreditNoteID"], "CN-1", 20.0)]
        assert [(o["OverpaymentID"], o["AppliedAmount"]) for o in read["Overpayments"]] == [
            (over["OverpaymentID"], 5.0)
        ]
        assert [(p["PrepaymentID"], p["AppliedAmount"]) for p in read["Prepayments"]] == [
            (pre["PrepaymentID"], 15.0)
        ]
        # Xero counts overpayments and prepayments applied as paid, credit notes as credited
        assert (read["AmountPaid"], read["AmountCredited"], read["AmountDue"]) == (
            30.0,
            20.0,
            50.0,
        )


def test_a_deleted_payment_leaves_its_invoice_and_reads_deleted(capi: Api, money: Money) -> None:
    inv = money.invoice(money.contact(), "INV-1", "100.00")
    kept = money.pay(inv["InvoiceID"], "10.00")
    gone = money.pay(inv["InvoiceID"], "30.00")
    as_bookkeeper(capi, "POST", f"Payments/{gone['PaymentID']}", {"Status": "DELETED"})
    read = capi.get(f"/Invoices/{inv['InvoiceID']}").json()["Invoices"][0]
    assert [p["PaymentID"] for p in read["Payments"]] == [kept["PaymentID"]]
    assert (read["AmountPaid"], read["AmountDue"]) == (10.0, 90.0)
    assert capi.get(f"/Payments/{gone['PaymentID']}").json()["Payments"][0]["Status"] == ("DELETED")


def test_a_voided_invoice_and_a_credit_notes_allocations_read_back(capi: Api, money: Money) -> None:
    cid = money.contact()
    inv = money.invoice(cid, "INV-1", "100.00")
    other = money.invoice(cid, "INV-2", "50.00")
    note = money.credit_note(cid, "CN-1", "30.00")
    money.ok(
        money.allocate("CreditNotes", note["CreditNoteID"], other["InvoiceID"], "12"), "Allocations"
    )
    as_bookkeeper(capi, "POST", f"Invoices/{inv['InvoiceID']}", {"Status": "VOIDED"})
    assert capi.get(f"/Invoices/{inv['InvoiceID']}").json()["Invoices"][0]["Status"] == "VOIDED"
    for read in (
        capi.get("/CreditNotes").json()["CreditNotes"][0],
        capi.get(f"/CreditNotes/{note['CreditNoteID']}").json()["CreditNotes"][0],
    ):
        assert [(a["Invoice"]["InvoiceID"], a["Amount"]) for a in read["Allocations"]] == [
            (other["InvoiceID"], 12.0)
        ]
        assert read["RemainingCredit"] == 18.0


def test_incremental_paged_reads_of_every_kind_the_addon_reconciles(
    capi: Api, money: Money, clock: SandboxClock
) -> None:
    cid = money.contact()
    early = [money.invoice(cid, f"INV-{n}", "10.00") for n in range(3)]
    note = money.credit_note(cid, "CN-1", "5.00")
    money.pay(early[0]["InvoiceID"], "1.00")
    clock.advance(600)  # within the access token's 30 minutes
    since = clock().strftime("%Y-%m-%dT%H:%M:%S")
    late = [money.invoice(cid, f"INV-L{n}", "10.00") for n in range(3)]
    payment = money.pay(late[0]["InvoiceID"], "2.00")
    as_bookkeeper(capi, "POST", f"Contacts/{cid}", {"EmailAddress": "late@example.com"})
    as_bookkeeper(capi, "POST", f"CreditNotes/{note['CreditNoteID']}", {"Reference": "late"})
    headers = {"If-Modified-Since": since}
    pages = [
        capi.get("/Invoices", headers=headers, page=str(n), pageSize="2").json() for n in (1, 2)
    ]
    assert [[i["InvoiceNumber"] for i in p["Invoices"]] for p in pages] == [
        ["INV-L0", "INV-L1"],
        ["INV-L2"],
    ]
    assert pages[0]["pagination"] == {"page": 1, "pageSize": 2, "pageCount": 2, "itemCount": 3}
    for path, key, expected in (
        ("/Contacts", "Contacts", [cid]),
        ("/CreditNotes", "CreditNotes", [note["CreditNoteID"]]),
        ("/Payments", "Payments", [payment["PaymentID"]]),
    ):
        page = capi.get(path, headers=headers, page="1", pageSize="1000").json()
        id_key = key[:-1] + "ID"
        assert [item[id_key] for item in page[key]] == expected, path
        assert page["pagination"]["pageSize"] == 1000
    big = capi.get("/Invoices", page="1", pageSize="5000").json()["pagination"]
    assert big["pageSize"] == 1000
    later = (clock() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S")
    assert capi.get("/Invoices", headers={"If-Modified-Since": later}).json()["Invoices"] == []


def test_invoices_and_contacts_by_ids(capi: Api, money: Money) -> None:
    cid = money.contact()
    other = money.contact("Other", "C2")
    invs = [money.invoice(cid, f"INV-{n}", "10.00") for n in range(3)]
    wanted = ",".join(i["InvoiceID"] for i in invs[:2])
    got = capi.get("/Invoices", IDs=wanted).json()["Invoices"]
    assert sorted(i["InvoiceID"] for i in got) == sorted(i["InvoiceID"] for i in invs[:2])
    got = capi.get("/Contacts", IDs=f"{cid},{other}").json()["Contacts"]
    assert sorted(c["ContactID"] for c in got) == sorted([cid, other])
