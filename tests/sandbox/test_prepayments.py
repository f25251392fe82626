"""Prepayments (a deposit taken before the invoice): a RECEIVE-PREPAYMENT bank transaction,
read back under /Prepayments, and allocated to an invoice with Xero's limits and dates."""

from __future__ import annotations

from datetime import date

from support.sandbox_money import Money

from pm_xero_plugin.sandbox import Sandbox


def test_a_prepayment_receipt_creates_a_prepayment_coded_to_its_line_account(
    money: Money,
) -> None:
    jane = money.contact()
    txn = money.ok(
        money.receipt("RECEIVE-PREPAYMENT", jane, "150", bank="093", Reference="DEP1"),
        "BankTransactions",
    )
    assert txn["Type"] == "RECEIVE-PREPAYMENT"
    assert txn["BankAccount"]["Code"] == "093"
    assert "Reference" not in txn  # Xero does not keep it on a prepayment's transaction
    pre = money.api.get(f"/Prepayments/{txn['PrepaymentID']}").json()["Prepayments"][0]
    assert pre["Type"] == "RECEIVE-PREPAYMENT"
    assert pre["Contact"]["ContactID"] == jane
    assert (pre["Total"], pre["RemainingCredit"], pre["Status"]) == (150, 150, "AUTHORISED")
    assert pre["LineItems"][0]["AccountCode"] == "094"
    assert pre["LineItems"][0]["Description"] == "RECEIVE-PREPAYMENT line"
    assert (pre["Allocations"], pre["Payments"]) == ([], [])
    assert "Reference" not in pre
    listed = money.api.get("/Prepayments").json()["Prepayments"]
    assert [p["PrepaymentID"] for p in listed] == [pre["PrepaymentID"]]
    mine = money.api.get("/Prepayments", where=f'Contact.ContactID==Guid("{jane}")')
    assert len(mine.json()["Prepayments"]) == 1


def test_a_prepayments_tax_is_computed_per_line_like_a_receipts(money: Money) -> None:
    jane = money.contact()
    txn = money.receipt(
        "RECEIVE-PREPAYMENT", jane, "100", account="201", LineAmountTypes="Exclusive"
    )
    made = money.ok(txn, "BankTransactions")
    assert (made["SubTotal"], made["TotalTax"], made["Total"]) == (100, 10, 110)
    pre = money.api.get(f"/Prepayments/{made['PrepaymentID']}").json()["Prepayments"][0]
    assert (pre["TotalTax"], pre["RemainingCredit"]) == (10, 110)


def test_a_prepayments_lines_must_each_name_a_valid_account(money: Money) -> None:
    jane = money.contact()
    resp = money.receipt("RECEIVE-PREPAYMENT", jane, "10", account="999")
    assert money.errors(resp, "BankTransactions") == [
        "Account code '999' is not a valid code for this document."
    ]
    resp = money.receipt("RECEIVE-PREPAYMENT", jane, "10", account=None)
    assert money.errors(resp, "BankTransactions") == [
        "Each line item on a prepayment must have an account code."
    ]
    assert money.api.get("/Prepayments").json()["Prepayments"] == []


def test_allocating_a_prepayment_pays_the_invoice_and_uses_up_the_credit(money: Money) -> None:
    jane = money.contact()
    inv = money.invoice(jane, "INV-1", "120", date="2024-03-10")
    pre = money.prepayment(jane, "100", date="2024-02-20")
    made = money.ok(
        money.allocate("Prepayments", pre["PrepaymentID"], inv["InvoiceID"], "60"), "Allocations"
    )
    assert made["Prepayment"]["PrepaymentID"] == pre["PrepaymentID"]
    assert made["DateString"].startswith("2024-03-10")  # the later of the two documents' dates
    money.ok(
        money.allocate("Prepayments", pre["PrepaymentID"], inv["InvoiceID"], "40"), "Allocations"
    )
    after = money.api.get(f"/Prepayments/{pre['PrepaymentID']}").json()["Prepayments"][0]
    assert (after["RemainingCredit"], after["Status"]) == (0, "PAID")
    assert [a["Amount"] for a in after["Allocations"]] == [60, 40]
    invoice = money.api.get("/Invoices/INV-1").json()["Invoices"][0]
    assert (invoice["AmountPaid"], invoice["AmountDue"], invoice["Status"]) == (
        100,
        20,
        "AUTHORISED",
    )
    assert [p["AppliedAmount"] for p in invoice["Prepayments"]] == [60, 40]


def test_an_allocation_cannot_exceed_what_is_left_on_the_prepayment(money: Money) -> None:
    jane = money.contact()
    inv = money.invoice(jane, "INV-1", "500")
    pre = money.prepayment(jane, "100")
    resp = money.allocate("Prepayments", pre["PrepaymentID"], inv["InvoiceID"], "100.01")
    assert money.errors(resp, "Allocations") == [
        "The amount being allocated exceeds the remaining credit on this document"
    ]
    money.ok(
        money.allocate("Prepayments", pre["PrepaymentID"], inv["InvoiceID"], "70"), "Allocations"
    )
    resp = money.allocate("Prepayments", pre["PrepaymentID"], inv["InvoiceID"], "31")
    assert money.errors(resp, "Allocations") == [
        "The amount being allocated exceeds the remaining credit on this document"
    ]


def test_an_allocation_cannot_exceed_what_is_due_on_the_invoice(money: Money) -> None:
    jane = money.contact()
    inv = money.invoice(jane, "INV-1", "50")
    money.pay(inv["InvoiceID"], "20")
    pre = money.prepayment(jane, "100")
    resp = money.allocate("Prepayments", pre["PrepaymentID"], inv["InvoiceID"], "30.01")
    assert money.errors(resp, "Allocations") == [
        "The amount being allocated exceeds the amount outstanding on the invoice"
    ]
    after = money.api.get(f"/Prepayments/{pre['PrepaymentID']}").json()["Prepayments"][0]
    assert after["RemainingCredit"] == 100


def test_a_prepayment_is_allocated_only_to_an_authorised_invoice_of_its_contact(
    money: Money,
) -> None:
    jane, rex = money.contact(), money.contact("Rex Barker", "C2")
    draft = money.invoice(jane, "INV-D", "50", status="DRAFT")
    other = money.invoice(rex, "INV-R", "50")
    pre = money.prepayment(jane, "100")
    assert money.errors(
        money.allocate("Prepayments", pre["PrepaymentID"], draft["InvoiceID"], "10"), "Allocations"
    ) == ["Credit can only be allocated to an Authorised invoice"]
    assert money.errors(
        money.allocate("Prepayments", pre["PrepaymentID"], other["InvoiceID"], "10"), "Allocations"
    ) == ["The invoice and the credit must belong to the same contact"]


def test_a_prepayment_allocation_falls_on_the_later_date_and_the_lock_date_applies_to_it(
    money: Money, checked: Sandbox
) -> None:
    jane = money.contact()
    pre = money.prepayment(jane, "100", date="2024-02-10")
    old = money.invoice(jane, "INV-1", "50", date="2024-02-15")
    new = money.invoice(jane, "INV-2", "50", date="2024-03-05")
    checked.faults(money.api.tenant).lock_date = date(2024, 2, 29)
    assert money.errors(
        money.allocate("Prepayments", pre["PrepaymentID"], old["InvoiceID"], "10"), "Allocations"
    ) == ["The document date cannot be before the period lock date, currently set at 29-Feb-2024"]
    # the prepayment is in the locked period, the invoice is not: the allocation is dated 5 March
    made = money.ok(
        money.allocate("Prepayments", pre["PrepaymentID"], new["InvoiceID"], "10"), "Allocations"
    )
    assert made["DateString"].startswith("2024-03-05")


def test_a_prepayment_allocation_replayed_with_its_idempotency_key_is_applied_once(
    money: Money,
) -> None:
    jane = money.contact()
    inv = money.invoice(jane, "INV-1", "100")
    pre = money.prepayment(jane, "100")
    key = {"Idempotency-Key": "dep1-inv1"}
    first = money.allocate("Prepayments", pre["PrepaymentID"], inv["InvoiceID"], "30", headers=key)
    again = money.allocate("Prepayments", pre["PrepaymentID"], inv["InvoiceID"], "30", headers=key)
    assert again.headers["X-Sandbox-Replay"] == "true"
    assert again.json() == first.json()
    after = money.api.get(f"/Prepayments/{pre['PrepaymentID']}").json()["Prepayments"][0]
    assert after["RemainingCredit"] == 70


def test_a_prepayment_receipt_replayed_with_its_idempotency_key_is_made_once(
    money: Money, checked: Sandbox
) -> None:
    jane = money.contact()
    key = {"Idempotency-Key": "dep1"}
    first = money.receipt("RECEIVE-PREPAYMENT", jane, "100", headers=key)
    again = money.receipt("RECEIVE-PREPAYMENT", jane, "100", headers=key)
    assert again.headers["X-Sandbox-Replay"] == "true"
    assert again.json() == first.json()
    assert len(checked.org(money.api.tenant).prepayments) == 1
