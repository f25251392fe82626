"""What each ledger kind becomes in Xero: endpoint, id field, dedupe key and look-up.

One table instead of a class per kind: the worker's logic is the same for every kind, only these
facts differ. The order of :data:`SEND_ORDER` is the order a tenant's work is claimed in, so a
contact always goes before its documents and an invoice before its payments even when several
kinds are ready at once (the ledger's gates enforce the same order for a single record).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["KINDS", "SEND_ORDER", "KindInfo"]


@dataclass(frozen=True)
class KindInfo:
    kind: str
    endpoint: str
    """The Accounting API collection a create goes to (``PUT /{endpoint}``)."""
    id_field: str
    """The field of Xero's answer that identifies the created document."""
    batchable: bool = True
    """False when Xero takes one document per request (allocations)."""


KINDS: dict[str, KindInfo] = {
    "contact": KindInfo("contact", "Contacts", "ContactID"),
    "invoice": KindInfo("invoice", "Invoices", "InvoiceID"),
    "credit_note": KindInfo("credit_note", "CreditNotes", "CreditNoteID"),
    "allocation": KindInfo("allocation", "CreditNotes", "CreditNoteID", batchable=False),
    "payment": KindInfo("payment", "Payments", "PaymentID"),
    "overpayment": KindInfo("overpayment", "BankTransactions", "OverpaymentID"),
}

SEND_ORDER: tuple[str, ...] = (
    "contact",
    "invoice",
    "credit_note",
    "allocation",
    "payment",
    "overpayment",
)
