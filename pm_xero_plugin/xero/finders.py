"""Finding our records in Xero again by their natural key: the exactly-once guard.

Idempotency keys live six minutes; a number or reference holds for ever. Before a row whose
earlier send may have reached Xero is sent again, it is looked up here and adopted when Xero has
it. Table-driven from :data:`pm_xero_plugin.xero.kinds.KINDS` (each kind's natural key, look-up
and id field) plus one rule per kind for which of Xero's documents is ours
(:data:`_ACCEPTS`). The start-date preview uses :func:`find_by_key` too, to tell an admin what
Xero already holds under the numbers it would send.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from pm_xero_plugin.xero.kinds import KINDS, KeyLookups

__all__ = ["Finders", "Wanted", "already_in_xero", "find_by_key"]


class Finders(KeyLookups, Protocol):
    """Every look-up :func:`already_in_xero` makes (a :class:`~.client.XeroClient` has them)."""

    def find_overpayments_of_contact(
        self, tenant_id: str, connection_key: str, contact_id: str
    ) -> list[dict[str, Any]]:
        """Live overpayments of one contact, lines included."""
        ...

    def credit_note_allocated_to(
        self, tenant_id: str, connection_key: str, credit_note_id: str, invoice_id: str
    ) -> bool:
        """Whether the credit note already has an allocation to that invoice."""
        ...


@dataclass(frozen=True)
class Wanted:
    """One record to look for: ``ref`` names it to the caller (a ledger row id), ``key`` is its
    natural key (for an allocation: its credit note's Xero id), ``element`` what would be sent."""

    ref: int
    key: str
    element: Mapping[str, Any]
    create: bool = True
    """A create (``PUT``); an update or void only adopts a document it made void."""


def find_by_key(
    client: KeyLookups, tenant_id: str, connection_key: str, kind: str, keys: Iterable[str]
) -> dict[str, list[dict[str, Any]]]:
    """What Xero holds under each of ``keys`` for ``kind``, as a list per key (several payments
    share the reference of one host payment split over invoices). Empty for a kind without a
    look-up by natural key (allocations)."""
    lookup = KINDS[kind].lookup
    if lookup is None:
        return {}
    found = lookup(client, tenant_id, connection_key, sorted(set(keys)))
    return {str(key): _as_list(hits) for key, hits in found.items()}


def already_in_xero(
    client: Finders, tenant_id: str, connection_key: str, kind: str, wanted: Sequence[Wanted]
) -> dict[int, str]:
    """Xero ids of the documents Xero already has for ``wanted``, by :attr:`Wanted.ref`."""
    if kind == "allocation":
        return {
            w.ref: w.key
            for w in wanted
            if client.credit_note_allocated_to(
                tenant_id, connection_key, w.key, w.element["Invoice"]["InvoiceID"]
            )
        }
    hits = find_by_key(client, tenant_id, connection_key, kind, (w.key for w in wanted))
    accepts = _ACCEPTS.get(kind, _any)
    found: dict[int, str] = {}
    for w in wanted:
        for hit in hits.get(w.key, []):
            xero_id = _xero_id(kind, hit)
            if xero_id and accepts(w, hit):
                found[w.ref] = xero_id
    if kind == "overpayment":
        for w in wanted:
            if w.ref not in found:
                by_line = _overpayment_by_line(client, tenant_id, connection_key, w)
                if by_line:
                    found[w.ref] = by_line
    return found


def _xero_id(kind: str, hit: Mapping[str, Any]) -> str | None:
    xero_id = hit.get(KINDS[kind].id_field)
    if not xero_id and kind == "overpayment":
        xero_id = hit.get("BankTransactionID")  # a RECEIVE-OVERPAYMENT's own id
    return str(xero_id) if xero_id else None


def _any(wanted: Wanted, hit: Mapping[str, Any]) -> bool:
    return True


def _our_invoice(wanted: Wanted, hit: Mapping[str, Any]) -> bool:
    """A deleted invoice is not the one this row created; an update or void adopts only the
    invoice it voided (an unvoided one under our number is an update still to send)."""
    status = hit.get("Status")
    return status != "DELETED" and (wanted.create or status == "VOIDED")


def _our_payment(wanted: Wanted, hit: Mapping[str, Any]) -> bool:
    """A live payment of the same invoice: one host payment split over invoices is several Xero
    payments with one reference."""
    invoice = hit.get("Invoice") or {}
    ours = wanted.element["Invoice"]["InvoiceID"]
    return invoice.get("InvoiceID") == ours and hit.get("Status") != "DELETED"


_ACCEPTS: dict[str, Callable[[Wanted, Mapping[str, Any]], bool]] = {
    "invoice": _our_invoice,
    "payment": _our_payment,
}
"""Which of Xero's documents under the key is ours, where not every one is."""


def _overpayment_by_line(
    client: Finders, tenant_id: str, connection_key: str, wanted: Wanted
) -> str | None:
    """The contact's overpayment whose line names this payment and whose amount matches:
    Xero may drop ``Reference`` on overpayments, never the line description."""
    element = wanted.element
    contact_id = element["Contact"]["ContactID"]
    description = element["LineItems"][0]["Description"]
    amount = Decimal(str(element["LineItems"][0]["LineAmount"]))
    for txn in client.find_overpayments_of_contact(tenant_id, connection_key, contact_id):
        lines = txn.get("LineItems") or []
        same_line = any(line.get("Description") == description for line in lines)
        total = txn.get("Total")
        if same_line and total is not None and Decimal(str(total)) == amount:
            return str(txn.get("OverpaymentID") or txn.get("BankTransactionID"))
    return None


def _as_list(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]
