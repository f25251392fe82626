"""What Xero should hold, computed from the HOST's records (never from the ledger), and the
checks that compare it with what the sandbox really holds."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from support.e2e_world import Sent, World, history, money


@dataclass
class Expected:
    """Per organisation: the numbers Xero must hold exactly once, and their totals."""

    contacts: dict[str, set[str]] = field(default_factory=dict)
    """Home customers of the organisation's locations plus visitors with a document sent there."""
    may_contacts: dict[str, set[str]] = field(default_factory=dict)
    """Also allowed: visitors whose only document in the window there was voided (not sent)."""
    invoices: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    credit_notes: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    payments: dict[str, Counter[tuple[str, str, Decimal]]] = field(default_factory=dict)
    """(Reference, InvoiceNumber, Amount) per allocation to an invoice dated >= start."""
    overpayments: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    voided: dict[str, set[str]] = field(default_factory=dict)
    """Invoices voided in the host, dated in the window: absent from Xero, or there VOIDED."""
    before_start: dict[str, set[str]] = field(default_factory=dict)
    """Invoice / credit note numbers dated before the start date: never in Xero."""
    held_payments: set[str] = field(default_factory=set)
    tracking: dict[str, str] = field(default_factory=dict)
    """InvoiceNumber -> tracking option expected on its lines (shared organisation)."""


def expected(world: World, start: date) -> Expected:
    """What the sandbox must hold after a back-sync from ``start``, read from the host."""
    host = world.host
    tenants = world.tenants
    out = Expected()
    for tenant in set(tenants.values()):
        out.contacts[tenant] = set()
        out.may_contacts[tenant] = set()
        out.invoices[tenant] = {}
        out.credit_notes[tenant] = {}
        out.payments[tenant] = Counter()
        out.overpayments[tenant] = {}
        out.before_start[tenant] = set()
        out.voided[tenant] = set()
    clients = {c["id"]: c for c in history(host, "clients")}
    for client in clients.values():
        out.contacts[tenants[client["location_id"]]].add(f"C{client['number']}")
    invoices = _expect_invoices(world, start, out, clients)
    _expect_credit_notes(world, start, out, clients)
    _expect_payments(world, start, out, clients, invoices)
    return out


def _expect_invoices(
    world: World, start: date, out: Expected, clients: Mapping[str, Mapping[str, Any]]
) -> dict[str, Mapping[str, Any]]:
    tenants = world.tenants
    shared = {t for t in tenants.values() if list(tenants.values()).count(t) > 1}
    names = {loc["id"]: loc["name"] for loc in world.locations}
    invoices: dict[str, Mapping[str, Any]] = {}
    for invoice in history(world.host, "invoices"):
        invoices[invoice["id"]] = invoice
        tenant = tenants[invoice["location_id"]]
        contact = f"C{clients[invoice['client_id']]['number']}"
        number = f"INV{invoice['number']}"
        if date.fromisoformat(invoice["date"]) < start:
            out.before_start[tenant].add(number)
            continue
        if tenant in shared:
            out.tracking[number] = names[invoice["location_id"]]
        if invoice["status"] == "voided":
            out.may_contacts[tenant].add(contact)
            out.voided[tenant].add(number)
        else:
            out.contacts[tenant].add(contact)
            out.invoices[tenant][number] = money(invoice["total"])
    return invoices


def _expect_credit_notes(
    world: World, start: date, out: Expected, clients: Mapping[str, Mapping[str, Any]]
) -> None:
    for note in history(world.host, "credit_notes"):
        tenant = world.tenants[note["location_id"]]
        number = f"CN{note['number']}"
        if date.fromisoformat(note["date"]) < start:
            out.before_start[tenant].add(number)
        else:
            out.contacts[tenant].add(f"C{clients[note['client_id']]['number']}")
            out.credit_notes[tenant][number] = money(note["total"])


def _expect_payments(
    world: World,
    start: date,
    out: Expected,
    clients: Mapping[str, Mapping[str, Any]],
    invoices: Mapping[str, Mapping[str, Any]],
) -> None:
    for payment in history(world.host, "payments"):
        tenant = world.tenants[payment["location_id"]]
        if date.fromisoformat(payment["paid_date"]) < start:
            continue
        reference = f"PAY{payment['number']}"
        contact = f"C{clients[payment['client_id']]['number']}"
        allocated = Decimal(0)
        for allocation in payment["allocations"]:
            allocated += Decimal(allocation["amount"])
            invoice = invoices[allocation["invoice_id"]]
            if date.fromisoformat(invoice["date"]) < start:
                out.held_payments.add(reference)
                continue
            key = (reference, f"INV{invoice['number']}", money(allocation["amount"]))
            out.contacts[tenant].add(contact)
            out.payments[tenant][key] += 1
        excess = Decimal(payment["amount"]) - allocated
        if excess > 0:
            out.overpayments[tenant][reference] = money(excess)
            out.contacts[tenant].add(contact)


def _count(items: list[dict[str, Any]], key: str) -> Counter[str]:
    return Counter(str(item[key]) for item in items if item.get(key))


def check_books(world: World, exp: Expected) -> None:
    """Every expected document exactly once in its own organisation, nothing else of ours,
    totals equal to the host's, tracking on the shared organisation's lines."""
    state = world.sandbox.inspect()
    for tenant in exp.invoices:
        book = state[tenant]
        contacts = _count(book["contacts"], "ContactNumber")
        assert {n for n, c in contacts.items() if c > 1} == set(), "duplicate contacts"
        assert exp.contacts[tenant] <= set(contacts), "a contact is missing"
        assert set(contacts) <= exp.contacts[tenant] | exp.may_contacts[tenant], "extra contacts"

        invoices = [i for i in book["invoices"] if i.get("Type") == "ACCREC"]
        counted = _count(invoices, "InvoiceNumber")
        assert {n for n, c in counted.items() if c > 1} == set(), "duplicate invoices"
        voided = {i["InvoiceNumber"] for i in invoices if i.get("Status") == "VOIDED"}
        assert voided <= exp.voided[tenant], "voided in Xero but not in the host"
        got = {
            i["InvoiceNumber"]: money(i["Total"]) for i in invoices if i.get("Status") != "VOIDED"
        }
        assert set(got) == set(exp.invoices[tenant])
        assert got == exp.invoices[tenant], "invoice totals differ from the host's"
        assert not (set(got) & exp.before_start[tenant]), "a document before the start date"

        notes = book["credit_notes"]
        counted = _count(notes, "CreditNoteNumber")
        assert {n for n, c in counted.items() if c > 1} == set(), "duplicate credit notes"
        assert {n["CreditNoteNumber"]: money(n["Total"]) for n in notes} == exp.credit_notes[tenant]

        by_id = {i["InvoiceID"]: i["InvoiceNumber"] for i in invoices}
        payments: Counter[tuple[str, str, Decimal]] = Counter(
            (p["Reference"], by_id[p["Invoice"]["InvoiceID"]], money(p["Amount"]))
            for p in book["payments"]
            if p.get("Status") != "DELETED"
        )
        assert payments == exp.payments[tenant]
        assert not {p[0] for p in payments} & (
            exp.held_payments - {p[0] for p in exp.payments[tenant]}
        )

        # Xero keeps no Reference on an overpayment: the payment it came from is named in the
        # line the add-on writes ("Overpayment on payment PAY12").
        overpayments = [
            {**b, "Reference": _overpayment_payment(b)}
            for b in book["bank_transactions"]
            if b.get("Type") == "RECEIVE-OVERPAYMENT"
        ]
        counted = _count(overpayments, "Reference")
        assert {n for n, c in counted.items() if c > 1} == set(), "duplicate overpayments"
        assert {b["Reference"]: money(b["Total"]) for b in overpayments} == exp.overpayments[tenant]

        for invoice in invoices:
            option = exp.tracking.get(invoice["InvoiceNumber"])
            for line in invoice.get("LineItems", []):
                options = {t.get("Option") for t in line.get("Tracking") or []}
                if option is None:
                    assert not options
                else:
                    assert options == {option}, invoice["InvoiceNumber"]


def _overpayment_payment(txn: dict[str, Any]) -> str | None:
    """The host payment an overpayment bank transaction came from, read from its line."""
    lines = txn.get("LineItems") or [{}]
    description = str(lines[0].get("Description") or "")
    prefix = "Overpayment on payment "
    return description[len(prefix) :] if description.startswith(prefix) else None


def check_order(world: World) -> None:
    """From the requests as sent: a contact's first create precedes the first create of any of
    its documents; an invoice's first create precedes the first payment against it."""
    order = _SendOrder(world.sandbox.inspect())
    for sent in world.sent:
        if sent.method == "PUT" and isinstance(sent.body, dict):
            order.see(sent)
    assert order.checked, "no documents were sent"


class _SendOrder:
    """The first create of each contact, invoice and credit note, checked as requests go by."""

    def __init__(self, state: Mapping[str, Any]) -> None:
        self.first_contact: dict[tuple[str, str], int] = {}
        self.first_invoice: dict[tuple[str, str], int] = {}
        self.first_note: set[tuple[str, str]] = set()
        self.notes_by_tenant: dict[str, dict[str, str]] = {}
        self.contact_ids: dict[tuple[str, str], str] = {}
        self.invoice_ids: dict[tuple[str, str], str] = {}
        self.checked = 0
        for tenant, book in state.items():
            for c in book["contacts"]:
                self.contact_ids[(tenant, c["ContactID"])] = c["ContactNumber"]
            for i in book["invoices"]:
                self.invoice_ids[(tenant, i["InvoiceID"])] = i["InvoiceNumber"]
            self.notes_by_tenant[tenant] = {
                n["CreditNoteNumber"]: n["CreditNoteID"] for n in book["credit_notes"]
            }

    def see(self, sent: Sent) -> None:
        if sent.path == "/Contacts":
            for c in sent.body["Contacts"]:
                self.first_contact.setdefault((sent.tenant, c["ContactNumber"]), sent.index)
        elif sent.path in ("/Invoices", "/CreditNotes"):
            self._documents(sent)
        elif sent.path.startswith("/CreditNotes/") and sent.path.endswith("/Allocations"):
            note_id = sent.path.split("/")[2]
            assert (sent.tenant, note_id) in self.first_note, "allocated before the credit note"
            for a in sent.body["Allocations"]:
                self._after_invoice(sent, a["Invoice"]["InvoiceID"])
        elif sent.path == "/Payments":
            for p in sent.body["Payments"]:
                self._after_invoice(sent, p["Invoice"]["InvoiceID"])

    def _documents(self, sent: Sent) -> None:
        notes = self.notes_by_tenant[sent.tenant]
        for doc in sent.body.get("Invoices") or sent.body.get("CreditNotes") or []:
            number = self.contact_ids[(sent.tenant, doc["Contact"]["ContactID"])]
            assert self.first_contact[(sent.tenant, number)] < sent.index
            if "InvoiceNumber" in doc:
                self.first_invoice.setdefault((sent.tenant, doc["InvoiceNumber"]), sent.index)
            elif doc.get("CreditNoteNumber") in notes:
                self.first_note.add((sent.tenant, notes[doc["CreditNoteNumber"]]))
            self.checked += 1

    def _after_invoice(self, sent: Sent, invoice_id: str) -> None:
        number = self.invoice_ids[(sent.tenant, invoice_id)]
        assert self.first_invoice[(sent.tenant, number)] < sent.index
        self.checked += 1
