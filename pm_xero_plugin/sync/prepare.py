"""Turning claimed ledger rows into the elements Xero is sent, each with its dedupe key.

A row that cannot be mapped (a missing account code, a parent not in Xero) fails here with a
hint and never reaches Xero; so does a change Xero cannot take (an edited payment), which an
admin decides.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pm_xero_plugin.ledger import Ledger
from pm_xero_plugin.ledger.states import Gate
from pm_xero_plugin.mapping.config import MappingError, OrgMapping
from pm_xero_plugin.mapping.contacts import contact_payload
from pm_xero_plugin.mapping.deposits import deposit_allocation_payload, deposit_payload
from pm_xero_plugin.mapping.documents import (
    credit_note_allocation_payload,
    credit_note_payload,
    invoice_payload,
    void_invoice_payload,
)
from pm_xero_plugin.mapping.payments import overpayment_payload, payment_payload
from pm_xero_plugin.mapping.payouts import payout_fee_payload, payout_transfer_payload
from pm_xero_plugin.mapping.refunds import refund_payload, refund_source
from pm_xero_plugin.sync.payout_check import PayoutRefused, PayoutWaits, check_payout
from pm_xero_plugin.sync.settle import BatchOutcome, RowToSend
from pm_xero_plugin.xero.kinds import KINDS, REFUND_KINDS, edit_refusal

__all__ = ["Prepared", "Preparer"]

_MAPPING_HINT = "Fix the mapping under Xero settings (or the record in Pet Manager), then retry."


@dataclass
class Prepared:
    """One row ready to go: how (``PUT`` creates, ``POST`` updates), what, and the key it is
    found again by in Xero (its number or reference; an allocation's credit note id)."""

    row: RowToSend
    method: str
    element: dict[str, Any]
    dedupe_key: str


class _Refused(Exception):
    """This row must not be sent as it is; an admin decides."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class Preparer:
    """Maps rows to Xero elements with the settings in force.

    :param ledger: where a parent's Xero id is read, and a row that cannot go is failed.
    :param settings: returns the plugin settings now in force.
    """

    def __init__(self, ledger: Ledger, settings: Callable[[], Mapping[str, Any]]) -> None:
        self.ledger = ledger
        self._settings = settings
        self._build: dict[str, Callable[[str, RowToSend, OrgMapping, bool], Prepared]] = {
            "contact": self._contact,
            "invoice": self._invoice,
            "credit_note": self._credit_note,
            "allocation": self._allocation,
            "payment": self._payment,
            "overpayment": self._overpayment,
            "deposit": self._deposit,
            "deposit_allocation": self._deposit_allocation,
            "payout_fee": self._payout,
            "payout": self._payout,
            **{kind: self._refund for kind in REFUND_KINDS},
        }

    def mapping_for(self, tenant_id: str, row: RowToSend) -> OrgMapping:
        """The organisation's mapping for the row's location."""
        return OrgMapping.from_settings(dict(self._settings()), tenant_id, row.location_id)

    def prepare(
        self, tenant_id: str, kind: str, rows: Sequence[RowToSend], outcome: BatchOutcome
    ) -> list[Prepared]:
        """The rows that can go, as elements; the others are failed with a hint."""
        prepared: list[Prepared] = []
        for row in rows:
            try:
                prepared.append(self.prepare_one(tenant_id, kind, row))
            # Nothing of these is sent: a doubt from an earlier attempt stays with the row, so
            # an admin's retry looks in Xero before sending (it may be there already).
            except (_Refused, PayoutRefused) as exc:
                self.ledger.mark_failed(row.id, exc.message, hint=exc.hint, outcome_known=False)
                outcome.failed += 1
            except PayoutWaits as exc:
                self._payout_waits(tenant_id, row, exc.detail)
                outcome.waiting += 1
            except MappingError as exc:
                self.ledger.mark_failed(
                    row.id,
                    str(exc),
                    field=exc.field,
                    hint=_MAPPING_HINT,
                    outcome_known=False,
                )
                outcome.failed += 1
        return prepared

    def _payout_waits(self, tenant_id: str, row: RowToSend, detail: str | None) -> None:
        """Not sent: the payout waits for its payments, and is looked at again as each settles
        (:class:`~pm_xero_plugin.core.gates.DependantGates`). A payment that settled between
        the check and the wait found no payout waiting to reopen, so it is checked once more
        after the wait is written: ready again, it is claimed on the next pass."""
        self.ledger.mark_waiting(row.id, Gate.PAYMENTS, detail)
        try:
            check_payout(self.ledger, tenant_id, row.payload)
        except (PayoutWaits, PayoutRefused):
            return
        self.ledger.reopen_gate(Gate.PAYMENTS, tenant_id)

    def prepare_one(self, tenant_id: str, kind: str, row: RowToSend) -> Prepared:
        """The element of one row.

        :raises MappingError: the row cannot be mapped as it is.
        """
        build = self._build.get(kind)
        if build is None:
            raise MappingError("kind", f"unknown ledger kind {kind!r}")
        refusal = edit_refusal(kind)
        if refusal is not None and row.xero_id and row.operation != "create":
            # An edit that arrived while the row was in flight (the engine refuses the others at
            # intake): PUTting the new version would add a second one next to the first.
            raise _Refused(
                f"{KINDS[kind].noun} {row.host_id} changed after it reached Xero "
                f"({row.xero_id}), and Xero cannot edit one",
                refusal[1],
            )
        update = row.operation in ("update", "void") and bool(row.xero_id)
        return build(tenant_id, row, self.mapping_for(tenant_id, row), update)

    def _parent_id(self, kind: str, host_id: str, tenant_id: str) -> str:
        xero_id = self.ledger.xero_id(kind, host_id, tenant_id)
        if not xero_id:
            # The ledger's gates promise the parent is synced; if not, this is a bug worth seeing.
            raise MappingError(kind, f"{kind} {host_id} is not in Xero yet")
        return str(xero_id)

    def _contact(self, tenant_id: str, row: RowToSend, m: OrgMapping, update: bool) -> Prepared:
        element = contact_payload(row.payload, m)
        distinct = row.xero_name
        if distinct:
            element["Name"] = distinct  # an admin's way out of a name Xero gives another
        if update:
            element["ContactID"] = row.xero_id
        return _by_natural_key("contact", row, "POST" if update else "PUT", element)

    def _invoice(self, tenant_id: str, row: RowToSend, m: OrgMapping, update: bool) -> Prepared:
        p = row.payload
        if row.operation == "void" and row.xero_id:
            element = void_invoice_payload(row.xero_id, p["number"], m)
            return _by_natural_key("invoice", row, "POST", element)
        contact_id = self._parent_id("contact", p["client_id"], tenant_id)
        element = invoice_payload(
            p, m, contact_id=contact_id, xero_invoice_id=row.xero_id if update else None
        )
        return _by_natural_key("invoice", row, "POST" if update else "PUT", element)

    def _credit_note(self, tenant_id: str, row: RowToSend, m: OrgMapping, update: bool) -> Prepared:
        contact_id = self._parent_id("contact", row.payload["client_id"], tenant_id)
        element = credit_note_payload(row.payload, m, contact_id=contact_id)
        if update:
            element["CreditNoteID"] = row.xero_id
        return _by_natural_key("credit_note", row, "POST" if update else "PUT", element)

    def _allocation(self, tenant_id: str, row: RowToSend, m: OrgMapping, update: bool) -> Prepared:
        p = row.payload
        credit_note_id = self._parent_id("credit_note", row.host_id, tenant_id)
        invoice_id = self._parent_id("invoice", p["invoice_id"], tenant_id)
        invoice = self.ledger.dep("invoice", p["invoice_id"], tenant_id)
        element = credit_note_allocation_payload(
            p,
            invoice_id=invoice_id,
            amount=Decimal(p["total"]),
            invoice_date=invoice.doc_date if invoice else None,
        )
        return Prepared(row, "PUT", element, credit_note_id)

    def _payment(self, tenant_id: str, row: RowToSend, m: OrgMapping, update: bool) -> Prepared:
        p = row.payload
        invoice_host_id = row.host_id.split(":", 1)[1]
        allocation = next(a for a in p["allocations"] if a["invoice_id"] == invoice_host_id)
        invoice_id = self._parent_id("invoice", invoice_host_id, tenant_id)
        element = payment_payload(p, allocation, m, invoice_id=invoice_id)
        return _by_natural_key("payment", row, "PUT", element)

    def _overpayment(self, tenant_id: str, row: RowToSend, m: OrgMapping, update: bool) -> Prepared:
        contact_id = self._parent_id("contact", row.payload["client_id"], tenant_id)
        element = overpayment_payload(row.payload, m, contact_id=contact_id)
        return _by_natural_key("overpayment", row, "PUT", element)

    def _deposit(self, tenant_id: str, row: RowToSend, m: OrgMapping, update: bool) -> Prepared:
        contact_id = self._parent_id("contact", row.payload["client_id"], tenant_id)
        element = deposit_payload(row.payload, m, contact_id=contact_id)
        return _by_natural_key("deposit", row, "PUT", element)

    def _deposit_allocation(
        self, tenant_id: str, row: RowToSend, m: OrgMapping, update: bool
    ) -> Prepared:
        p = row.payload
        deposit_id, invoice_host_id = row.host_id.split(":", 1)
        allocation = next(a for a in p["allocations"] if a["invoice_id"] == invoice_host_id)
        prepayment_id = self._parent_id("deposit", deposit_id, tenant_id)
        invoice_id = self._parent_id("invoice", invoice_host_id, tenant_id)
        invoice = self.ledger.dep("invoice", invoice_host_id, tenant_id)
        element = deposit_allocation_payload(
            p,
            allocation,
            invoice_id=invoice_id,
            invoice_date=invoice.doc_date if invoice else None,
        )
        return Prepared(row, "PUT", element, prepayment_id)

    def _refund(self, tenant_id: str, row: RowToSend, m: OrgMapping, update: bool) -> Prepared:
        source_kind, source_host_id = refund_source(row.payload)
        source_id = self._parent_id(source_kind, source_host_id, tenant_id)
        element = refund_payload(row.payload, m, source_kind=source_kind, source_xero_id=source_id)
        return _by_natural_key(row.kind, row, "PUT", element)

    def _payout(self, tenant_id: str, row: RowToSend, m: OrgMapping, update: bool) -> Prepared:
        if not row.uncertain:  # one in doubt was sent once, when its payments were there
            check_payout(self.ledger, tenant_id, row.payload)
        if row.kind == "payout_fee":
            element = payout_fee_payload(row.payload, m)
        else:
            element = payout_transfer_payload(row.payload, m)
        return _by_natural_key(row.kind, row, "PUT", element)


def _by_natural_key(kind: str, row: RowToSend, method: str, element: dict[str, Any]) -> Prepared:
    """The row, keyed by the field its kind is found again by in Xero (``ContactNumber``…)."""
    field = KINDS[kind].natural_key
    assert field is not None, f"{kind} has no natural key"
    return Prepared(row, method, element, str(element[field]))
