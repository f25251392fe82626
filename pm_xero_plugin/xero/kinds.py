"""What each ledger kind becomes in Xero: endpoint, id field, natural key, look-up, editability.

One table instead of a class per kind: the worker's logic is the same for every kind, only these
facts differ. The order of :data:`SEND_ORDER` is the order a tenant's work is claimed in, so a
contact always goes before its documents and an invoice before its payments even when several
kinds are ready at once (the ledger's gates enforce the same order for a single record).

The *natural key* is the field that carries our own number or reference (``ContactNumber``,
``InvoiceNumber``, ``Reference``…): the dedupe key a record is found again by in Xero, for ever,
while an Idempotency-Key lives six minutes. :mod:`pm_xero_plugin.xero.finders` looks records up
by it, for the sender (exactly once) and the start-date preview (what Xero already has).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "KINDS",
    "MONEY_FLOW_GROUPS",
    "REFUND_KINDS",
    "SEND_ORDER",
    "KeyLookups",
    "KindInfo",
    "Lookup",
    "edit_refusal",
]


class KeyLookups(Protocol):
    """The look-ups by natural key a :class:`~pm_xero_plugin.xero.client.XeroClient` offers."""

    def find_contacts_by_number(
        self, tenant_id: str, connection_key: str, numbers: Iterable[str]
    ) -> Mapping[str, Any]:
        """Contacts (archived included) by ``ContactNumber``."""
        ...

    def find_invoices_by_number(
        self, tenant_id: str, connection_key: str, numbers: Iterable[str]
    ) -> Mapping[str, Any]:
        """Sales invoices (any status) by ``InvoiceNumber``."""
        ...

    def find_credit_notes_by_number(
        self, tenant_id: str, connection_key: str, numbers: Iterable[str]
    ) -> Mapping[str, Any]:
        """Sales credit notes (any status) by ``CreditNoteNumber``."""
        ...

    def find_payments_by_reference(
        self, tenant_id: str, connection_key: str, references: Iterable[str]
    ) -> Mapping[str, Any]:
        """Live payments by ``Reference``, a list per reference."""
        ...

    def find_overpayments_by_reference(
        self, tenant_id: str, connection_key: str, references: Iterable[str]
    ) -> Mapping[str, Any]:
        """Live overpayments by ``Reference``, a list per reference."""
        ...

    def find_prepayments_by_reference(
        self, tenant_id: str, connection_key: str, references: Iterable[str]
    ) -> Mapping[str, Any]:
        """Live prepayments by our reference (``DEP12``), a list per reference. Xero may not
        keep ``Reference`` on a prepayment: the finder also reads the lines' descriptions."""
        ...

    def find_bank_transfers_by_reference(
        self, tenant_id: str, connection_key: str, references: Iterable[str]
    ) -> Mapping[str, Any]:
        """Bank transfers by ``Reference`` (``PO7``), a list per reference."""
        ...

    def find_spend_by_reference(
        self, tenant_id: str, connection_key: str, references: Iterable[str]
    ) -> Mapping[str, Any]:
        """Live SPEND bank transactions by ``Reference`` (``PO7``), a list per reference."""
        ...


Lookup = Callable[[KeyLookups, str, str, Iterable[str]], Mapping[str, Any]]
"""``(client, tenant_id, connection_key, keys) -> {key: what Xero has under it}``."""


@dataclass(frozen=True)
class KindInfo:
    """The Xero facts of one ledger kind (see the module docstring)."""

    kind: str
    endpoint: str
    """The Accounting API collection a create goes to (``PUT /{endpoint}``)."""
    id_field: str
    """The field of Xero's answer that identifies the created document."""
    natural_key: str | None
    """The field that carries our number or reference; ``None`` for an allocation, which is
    found on its credit note instead."""
    lookup: Lookup | None
    """How Xero's documents are found by :attr:`natural_key` (``None``: no such look-up)."""
    editable: bool = True
    """False when Xero cannot update one in place (payments and allocations): a changed one is
    refused for an admin, never sent again as a create next to the first."""
    batchable: bool = True
    """False when Xero takes one document per request (allocations)."""
    noun: str = ""
    """The kind in a sentence (``credit note``)."""

    def __post_init__(self) -> None:
        """Default :attr:`noun` from the kind's name."""
        if not self.noun:
            object.__setattr__(self, "noun", self.kind.replace("_", " "))


KINDS: dict[str, KindInfo] = {
    "contact": KindInfo(
        "contact",
        "Contacts",
        "ContactID",
        "ContactNumber",
        lambda client, tenant, key, keys: client.find_contacts_by_number(tenant, key, keys),
    ),
    "invoice": KindInfo(
        "invoice",
        "Invoices",
        "InvoiceID",
        "InvoiceNumber",
        lambda client, tenant, key, keys: client.find_invoices_by_number(tenant, key, keys),
    ),
    "credit_note": KindInfo(
        "credit_note",
        "CreditNotes",
        "CreditNoteID",
        "CreditNoteNumber",
        lambda client, tenant, key, keys: client.find_credit_notes_by_number(tenant, key, keys),
    ),
    "allocation": KindInfo(
        "allocation",
        "CreditNotes",
        "CreditNoteID",
        None,
        None,
        editable=False,
        batchable=False,
    ),
    "payment": KindInfo(
        "payment",
        "Payments",
        "PaymentID",
        "Reference",
        lambda client, tenant, key, keys: client.find_payments_by_reference(tenant, key, keys),
        editable=False,
    ),
    "overpayment": KindInfo(
        "overpayment",
        "BankTransactions",
        "OverpaymentID",
        "Reference",
        lambda client, tenant, key, keys: client.find_overpayments_by_reference(tenant, key, keys),
        editable=False,
    ),
    "deposit": KindInfo(
        "deposit",
        "BankTransactions",
        "PrepaymentID",
        "Reference",
        lambda client, tenant, key, keys: client.find_prepayments_by_reference(tenant, key, keys),
        editable=False,
    ),
    "deposit_allocation": KindInfo(
        "deposit_allocation",
        "Prepayments",
        "PrepaymentID",
        None,
        None,
        editable=False,
        batchable=False,
        noun="deposit allocation",
    ),
    "credit_note_refund": KindInfo(
        "credit_note_refund",
        "Payments",
        "PaymentID",
        "Reference",
        lambda client, tenant, key, keys: client.find_payments_by_reference(tenant, key, keys),
        editable=False,
        noun="refund of a credit note",
    ),
    "overpayment_refund": KindInfo(
        "overpayment_refund",
        "Payments",
        "PaymentID",
        "Reference",
        lambda client, tenant, key, keys: client.find_payments_by_reference(tenant, key, keys),
        editable=False,
        noun="refund of an overpayment",
    ),
    "deposit_refund": KindInfo(
        "deposit_refund",
        "Payments",
        "PaymentID",
        "Reference",
        lambda client, tenant, key, keys: client.find_payments_by_reference(tenant, key, keys),
        editable=False,
        noun="refund of a deposit",
    ),
    "payout_fee": KindInfo(
        "payout_fee",
        "BankTransactions",
        "BankTransactionID",
        "Reference",
        lambda client, tenant, key, keys: client.find_spend_by_reference(tenant, key, keys),
        editable=False,
        noun="payout's fees",
    ),
    "payout": KindInfo(
        "payout",
        "BankTransfers",
        "BankTransferID",
        "Reference",
        lambda client, tenant, key, keys: client.find_bank_transfers_by_reference(
            tenant, key, keys
        ),
        editable=False,
    ),
}

REFUND_KINDS: tuple[str, ...] = ("credit_note_refund", "overpayment_refund", "deposit_refund")
"""The three ways money is given back, by the credit it comes out of."""

MONEY_FLOW_GROUPS: dict[str, tuple[str, ...]] = {
    "payouts": ("payout", "payout_fee"),
    "deposits": ("deposit", "deposit_allocation"),
    "refunds": REFUND_KINDS,
}
"""How the dashboard and the demo count the money flows beside the documents."""

SEND_ORDER: tuple[str, ...] = tuple(KINDS)
"""The kinds in the order a tenant's work is claimed: contacts, invoices, credit notes, their
allocations, payments, overpayments, deposits and their allocations, refunds, then payouts
(after the payments and refunds they settle; the table above is written in that order)."""


def edit_refusal(kind: str) -> tuple[str, str] | None:
    """Why Xero will not take a change to a ``kind`` it already has – ``(message, hint)`` – or
    ``None`` when Xero edits it in place. The one statement of "Xero cannot edit a payment"."""
    if KINDS[kind].editable:
        return None
    return (
        f"Xero does not allow editing a {KINDS[kind].noun} once it is recorded",
        "Delete it in Xero, then press retry to send the new version; or resolve this if "
        "Xero is already right.",
    )
