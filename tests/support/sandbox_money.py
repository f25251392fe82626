"""Builders of the documents money flows through (transfers, prepayments, refunds …) for the
sandbox's tests, each asserting the element was stored or refused."""

from __future__ import annotations

from typing import Any

import httpx

from support.sandbox_helpers import Api


class Money:
    """Builders of the documents money flows through, each asserting its element was stored."""

    def __init__(self, api: Api) -> None:
        self.api = api

    def ok(self, resp: httpx.Response, key: str) -> dict[str, Any]:
        assert resp.status_code == 200, resp.text
        element: dict[str, Any] = resp.json()[key][0]
        assert element["StatusAttributeString"] == "OK", element
        return element

    def errors(self, resp: httpx.Response, key: str) -> list[str]:
        assert resp.status_code == 200, resp.text
        element = resp.json()[key][0]
        assert element["StatusAttributeString"] == "ERROR", element
        return [e["Message"] for e in element["ValidationErrors"]]

    def put(self, path: str, key: str, element: dict[str, Any], **kw: Any) -> httpx.Response:
        return self.api.put(path, {key: [element]}, summarizeErrors="false", **kw)

    def contact(self, name: str = "Jane Pawson", number: str = "C1") -> str:
        return str(self.api.contact(name, number)["ContactID"])

    def invoice(
        self, contact_id: str, number: str, amount: str, date: str = "2024-03-01", **kw: Any
    ) -> dict[str, Any]:
        """An invoice of one untaxed boarding line (``amount`` is its total)."""
        kw.setdefault("LineAmountTypes", "NoTax")
        return self.ok(self.api.invoice(contact_id, number, amount, Date=date, **kw), "Invoices")

    def credit_note(
        self, contact_id: str, number: str, amount: str, status: str = "AUTHORISED"
    ) -> dict[str, Any]:
        note = {
            "Type": "ACCRECCREDIT",
            "Contact": {"ContactID": contact_id},
            "CreditNoteNumber": number,
            "Date": "2024-03-01",
            "Status": status,
            "LineAmountTypes": "NoTax",
            "LineItems": [
                {
                    "Description": "Refund",
                    "Quantity": 1,
                    "UnitAmount": float(amount),
                    "AccountCode": "201",
                }
            ],
        }
        return self.ok(self.put("/CreditNotes", "CreditNotes", note), "CreditNotes")

    def receipt(
        self,
        typ: str,
        contact_id: str,
        amount: str,
        *,
        bank: str = "090",
        date: str = "2024-03-01",
        account: str | None = "094",
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> httpx.Response:
        line: dict[str, Any] = {
            "Description": f"{typ} line",
            "Quantity": 1,
            "UnitAmount": float(amount),
        }
        if account:
            line["AccountCode"] = account
        txn = {
            "Type": typ,
            "Contact": {"ContactID": contact_id},
            "BankAccount": {"Code": bank},
            "Date": date,
            "LineAmountTypes": "NoTax",
            "LineItems": [line],
            **extra,
        }
        return self.put("/BankTransactions", "BankTransactions", txn, headers=headers)

    def prepayment(self, contact_id: str, amount: str, **kw: Any) -> dict[str, Any]:
        txn = self.ok(
            self.receipt("RECEIVE-PREPAYMENT", contact_id, amount, **kw), "BankTransactions"
        )
        found = self.api.get(f"/Prepayments/{txn['PrepaymentID']}").json()["Prepayments"][0]
        return dict(found)

    def overpayment(self, contact_id: str, amount: str, **kw: Any) -> dict[str, Any]:
        txn = self.ok(
            self.receipt("RECEIVE-OVERPAYMENT", contact_id, amount, account=None, **kw),
            "BankTransactions",
        )
        found = self.api.get(f"/Overpayments/{txn['OverpaymentID']}").json()["Overpayments"][0]
        return dict(found)

    def allocate(
        self, resource: str, source_id: str, invoice_id: str, amount: str, **kw: Any
    ) -> httpx.Response:
        alloc = {
            "Invoice": {"InvoiceID": invoice_id},
            "Amount": float(amount),
            "Date": "2024-03-01",
        }
        return self.put(f"/{resource}/{source_id}/Allocations", "Allocations", alloc, **kw)

    def transfer(
        self,
        source: str,
        target: str,
        amount: str,
        reference: str = "PO1",
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> httpx.Response:
        element = {
            "FromBankAccount": {"Code": source},
            "ToBankAccount": {"Code": target},
            "Amount": float(amount),
            "Reference": reference,
            **extra,
        }
        return self.put("/BankTransfers", "BankTransfers", element, headers=headers)

    def refund(
        self,
        field: str,
        ref: dict[str, Any],
        amount: str,
        reference: str = "RF1",
        account: str = "090",
        **kw: Any,
    ) -> httpx.Response:
        payment = {
            field: ref,
            "Account": {"Code": account},
            "Amount": float(amount),
            "Date": "2024-03-02",
            "Reference": reference,
        }
        return self.put("/Payments", "Payments", payment, **kw)

    def pay(self, invoice_id: str, amount: str, account: str = "090") -> dict[str, Any]:
        payment = {
            "Invoice": {"InvoiceID": invoice_id},
            "Account": {"Code": account},
            "Amount": float(amount),
            "Date": "2024-03-02",
            "Reference": "PAY1",
        }
        return self.ok(self.put("/Payments", "Payments", payment), "Payments")
