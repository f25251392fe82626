"""Account balances as Xero's journals would leave them: ``GET /sandbox/balances/{tenant}``.

The end-to-end test reads the books back the way an accountant would – the clearing account at
0.00 after the payouts, the voucher liability at sold minus redeemed, each bank deposit equal to
its payout – so the sandbox journals every live document (AUTHORISED or PAID; drafts, deleted
and voided ones post nothing) as Xero does. Debits are positive, credits negative; the balances
of a whole organisation always sum to zero (a trial balance).

The journals (AR is the DEBTORS system account, 610; tax goes to the GST system account, 820):

- invoice: Dr AR total; Cr each line's account its net amount; Cr tax. A credit note reverses
  it (Dr lines and tax, Cr AR). Bills (ACCPAY) mirror both on AP.
- payment of an invoice: Dr the payment's account, Cr AR.
- refund out of a credit note or an overpayment: Cr the payment's account, Dr AR.
- ``RECEIVE`` / ``SPEND``: Dr / Cr the bank account its total; Cr / Dr the lines and tax.
- ``RECEIVE-OVERPAYMENT``: Dr the bank account, Cr AR (the credit sits in receivables).
- ``RECEIVE-PREPAYMENT``: Dr the bank account, Cr the lines (e.g. a customer-deposits
  liability) and tax – a receipt, as Xero posts a prepayment.
- prepayment allocation: Dr the prepayment's accounts, Cr AR: the deposit leaves the liability
  and pays the invoice. A prepayment refund: Dr the prepayment's accounts, Cr the payment's
  account. Either is spread over the prepayment's accounts in proportion to what each was
  credited (one line, the add-on's case, takes it all), so a deposit coded to a liability
  leaves it at deposits - allocated - refunded and AR at what the invoices still owe.
- credit-note and overpayment allocations: nothing (AR to AR).
- bank transfer: Cr the from-account, Dr the to-account (its two ``*-TRANSFER`` bank
  transactions are the same money and post nothing more).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from .documents import CENT, ZERO
from .orgs import Org

__all__ = ["UNCODED", "balances", "balances_text"]

UNCODED = "(no account)"
"""Where a line sent without an account code is posted (Xero would refuse to approve it)."""

_LIVE = ("AUTHORISED", "PAID")
#: document type -> (the control account's system name, +1 when the document debits it)
_DOCUMENT_SIDES = {
    "ACCREC": ("DEBTORS", 1),
    "ACCRECCREDIT": ("DEBTORS", -1),
    "ACCPAY": ("CREDITORS", -1),
    "ACCPAYCREDIT": ("CREDITORS", 1),
}
#: payment type -> +1 when the money comes into the payment's account
_PAYMENT_SIDES = {
    "ACCRECPAYMENT": 1,
    "ARCREDITPAYMENT": -1,
    "AROVERPAYMENTPAYMENT": -1,
    "ARPREPAYMENTPAYMENT": -1,
    "ACCPAYPAYMENT": -1,
    "APCREDITPAYMENT": 1,
}


class _Journal:
    """Debits (+) and credits (-) per account code, posted document by document."""

    def __init__(self, org: Org) -> None:
        self.org = org
        self.totals: dict[str, Decimal] = defaultdict(lambda: ZERO)
        system = {a.get("SystemAccount"): a["Code"] for a in org.accounts}
        self.receivable = str(system.get("DEBTORS", "610"))
        self.payable = str(system.get("CREDITORS", "800"))
        self.tax = str(system.get("GST", "820"))

    def post(self, code: str | None, amount: Decimal) -> None:
        self.totals[code or UNCODED] += amount

    def control(self, system_name: str) -> str:
        return self.receivable if system_name == "DEBTORS" else self.payable

    def lines(self, document: dict[str, Any], sign: int) -> None:
        """Post each line's net amount to its account and its tax to the tax account, `sign`
        +1 to debit them."""
        for account, amount in _line_parts(document, self.tax):
            self.post(account, sign * amount)

    # -- per kind of document -----------------------------------------------------------------

    def document(self, doc: dict[str, Any]) -> None:
        if doc["Status"] not in _LIVE or doc.get("Type") not in _DOCUMENT_SIDES:
            return
        system_name, sign = _DOCUMENT_SIDES[doc["Type"]]
        self.post(self.control(system_name), sign * doc["Total"])
        self.lines(doc, -sign)

    def payment(self, payment: dict[str, Any]) -> None:
        if payment["Status"] != "AUTHORISED":
            return
        amount = payment["Amount"]
        invoice = payment.get("Invoice") or {}
        sign = _PAYMENT_SIDES.get(payment.get("PaymentType", ""), 1)
        if invoice.get("Type") == "ACCPAY":
            sign = -1
        self.post(payment["Account"]["Code"], sign * amount)
        if "Prepayment" in payment:
            pre = self.org.prepayments.get(payment["Prepayment"]["PrepaymentID"])
            if pre is not None:
                self.spread(pre, amount)
            return
        payable = invoice.get("Type") == "ACCPAY" or payment.get("PaymentType") in (
            "ACCPAYPAYMENT",
            "APCREDITPAYMENT",
        )
        self.post(self.payable if payable else self.receivable, -sign * amount)

    def bank_transaction(self, txn: dict[str, Any]) -> None:
        typ = txn.get("Type", "")
        if txn["Status"] != "AUTHORISED" or typ.endswith("-TRANSFER"):
            return
        sign = -1 if typ.startswith("SPEND") else 1
        self.post(txn["BankAccount"]["Code"], sign * txn["Total"])
        if typ.endswith("-OVERPAYMENT"):
            self.post(self.receivable, -sign * txn["Total"])
        else:
            self.lines(txn, -sign)

    def prepayment_allocations(self, pre: dict[str, Any]) -> None:
        if pre["Status"] not in _LIVE:
            return
        for allocation in pre.get("Allocations", []):
            self.spread(pre, allocation["Amount"])
            self.post(self.receivable, -allocation["Amount"])

    def spread(self, pre: dict[str, Any], amount: Decimal) -> None:
        """Debit `amount` of a prepayment back out of the accounts it credited, in proportion."""
        for account, part in _portions(_line_parts(pre, self.tax), pre["Total"], amount):
            self.post(account, part)

    def transfer(self, transfer: dict[str, Any]) -> None:
        if transfer.get("Status", "AUTHORISED") != "AUTHORISED":
            return
        self.post(transfer["FromBankAccount"]["Code"], -transfer["Amount"])
        self.post(transfer["ToBankAccount"]["Code"], transfer["Amount"])


def _line_parts(document: dict[str, Any], tax_code: str) -> list[tuple[str | None, Decimal]]:
    """(account, amount) of each line's net amount and of its tax (to the tax account)."""
    inclusive = document.get("LineAmountTypes") == "Inclusive"
    parts: list[tuple[str | None, Decimal]] = []
    for line in document.get("LineItems") or []:
        tax = Decimal(line.get("TaxAmount") or ZERO)
        amount = Decimal(line.get("LineAmount") or ZERO)
        parts.append((line.get("AccountCode"), amount - tax if inclusive else amount))
        if tax:
            parts.append((tax_code, tax))
    return parts


def _portions(
    parts: Iterable[tuple[str | None, Decimal]], total: Decimal, amount: Decimal
) -> list[tuple[str | None, Decimal]]:
    """`amount` split over `parts` (which sum to `total`) in proportion, to the cent; the
    rounding remainder goes to the largest part so the split sums to `amount` exactly."""
    listed = [(account, value) for account, value in parts if value]
    if not listed or not total:
        return []
    shares = [(account, (value * amount / total).quantize(CENT)) for account, value in listed]
    largest = max(range(len(listed)), key=lambda i: listed[i][1])
    account, share = shares[largest]
    shares[largest] = (account, share + amount - sum(s for _a, s in shares))
    return shares


def balances(org: Org) -> dict[str, Decimal]:
    """Every account's balance (debit positive) from the organisation's live documents; only
    the accounts whose balance is not zero, by code."""
    journal = _Journal(org)
    for doc in [*org.invoices.values(), *org.credit_notes.values()]:
        journal.document(doc)
    for payment in org.payments.values():
        journal.payment(payment)
    for txn in org.bank_transactions.values():
        journal.bank_transaction(txn)
    for pre in org.prepayments.values():
        journal.prepayment_allocations(pre)
    for transfer in org.bank_transfers.values():
        journal.transfer(transfer)
    totals = journal.totals
    return {code: totals[code] for code in sorted(totals) if totals[code]}


def balances_text(org: Org) -> dict[str, str]:
    """`balances` as two-decimal text (``"1234.50"``, ``"-80.00"``), as the endpoint answers."""
    return {code: str(amount.quantize(CENT)) for code, amount in balances(org).items()}
