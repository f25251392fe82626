"""What a validated host record becomes: one :class:`Item` per ledger row, per organisation.

A customer is one contact row; an invoice one row; a credit note one row plus an allocation
row when it is against an invoice; a payment one row per invoice it pays plus an overpayment
row for what is left over; a deposit one prepayment row plus one allocation row per invoice it
is applied to; a refund one row of the kind its credit gives it; a payout a transfer row plus a
fee row when the processor kept fees. Pure functions of the record: the engine decides the gates and
writes the rows (:mod:`pm_xero_plugin.core.intake`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pm_xero_plugin.core import rules
from pm_xero_plugin.inputs.records import payload_json
from pm_xero_plugin.ledger import Facts, NewRow, State

__all__ = [
    "Item",
    "chunks",
    "contact_item",
    "credit_note_items",
    "deposit_items",
    "document_item",
    "item_facts",
    "new_row",
    "payment_items",
    "payout_items",
    "refund_item",
    "text_hash",
]


@dataclass
class Item:
    """One ledger row to be (re)written: what a host record becomes in one organisation."""

    kind: str
    host_id: str
    tenant_id: str
    location_id: str
    payload: dict[str, Any]
    payload_text: str
    payload_hash: str
    doc_date: str | None = None
    number: int | None = None
    dep_contact: str | None = None
    dep_invoice: str | None = None
    dep_credit_note: str | None = None
    include_before_start: bool = False
    event: str = "created"
    dep_invoice_date: str | None = None
    """The date of its invoice when the ledger has no row for that invoice (recorded here, on
    the host's thread, for the rules to read later on the worker's)."""

    @property
    def key(self) -> tuple[str, str, str]:
        """The row's key in the ledger: (kind, host id, organisation)."""
        return (self.kind, self.host_id, self.tenant_id)


def text_hash(text: str) -> str:
    """The hash a row's payload is compared by (an unchanged replay writes nothing)."""
    return hashlib.sha1(text.encode()).hexdigest()


def contact_item(payload: dict[str, Any], text: str, tenant: str, location_id: str) -> Item:
    """A customer's contact row in one organisation (``text``: its canonical payload)."""
    return Item(
        kind="contact",
        host_id=payload["id"],
        tenant_id=tenant,
        location_id=location_id,
        payload=payload,
        payload_text=text,
        payload_hash=text_hash(text),
        number=payload["number"],
    )


def document_item(kind: str, payload: dict[str, Any], tenant: str) -> Item:
    """An invoice's or credit note's row: it waits for its customer."""
    text = payload_json(payload)
    return Item(
        kind=kind,
        host_id=payload["id"],
        tenant_id=tenant,
        location_id=payload["location_id"],
        payload=payload,
        payload_text=text,
        payload_hash=text_hash(text),
        doc_date=payload["date"],
        number=payload["number"],
        dep_contact=payload["client_id"],
    )


def credit_note_items(payload: dict[str, Any], tenant: str) -> list[Item]:
    """A credit note's row, and its allocation's when it is against an invoice (the allocation
    waits for both the credit note and the invoice)."""
    note = document_item("credit_note", payload, tenant)
    items = [note]
    if payload.get("invoice_id"):
        items.append(
            Item(
                kind="allocation",
                host_id=payload["id"],
                tenant_id=tenant,
                location_id=payload["location_id"],
                payload=payload,
                payload_text=note.payload_text,
                payload_hash=note.payload_hash,
                doc_date=payload["date"],
                number=payload["number"],
                dep_credit_note=payload["id"],
                dep_invoice=payload["invoice_id"],
            )
        )
    return items


def payment_items(payload: dict[str, Any], tenant: str) -> list[Item]:
    """A payment's row per invoice it pays, and an overpayment's for what is left over."""
    text = payload_json(payload)
    digest = text_hash(text)
    items = [
        Item(
            kind="payment",
            host_id=f"{payload['id']}:{allocation['invoice_id']}",
            tenant_id=tenant,
            location_id=payload["location_id"],
            payload=payload,
            payload_text=text,
            payload_hash=digest,
            doc_date=payload["paid_date"],
            number=payload["number"],
            dep_invoice=allocation["invoice_id"],
        )
        for allocation in payload["allocations"]
    ]
    allocations = payload["allocations"]
    if len(allocations) == 1 and allocations[0]["amount"] == payload["amount"]:
        over = False  # the common case, paid in full: the same canonical decimal text
    else:
        allocated = sum((Decimal(a["amount"]) for a in allocations), Decimal(0))
        over = Decimal(payload["amount"]) > allocated
    if over:
        items.append(
            Item(
                kind="overpayment",
                host_id=payload["id"],
                tenant_id=tenant,
                location_id=payload["location_id"],
                payload=payload,
                payload_text=text,
                payload_hash=digest,
                doc_date=payload["paid_date"],
                number=payload["number"],
                dep_contact=payload["client_id"],
            )
        )
    return items


def deposit_items(
    payload: dict[str, Any], tenant: str, invoice_dates: Mapping[str, str | None]
) -> list[Item]:
    """A deposit's prepayment row (it waits for its customer), and a row per invoice it is
    applied to (each waits for the prepayment and the invoice).

    An allocation is dated as Xero dates it – the later of the deposit's and the invoice's
    dates – so the start date judges it by that day: a deposit taken before the start date for
    a stay invoiced after it is an allocation in the window whose deposit is not (the
    ``credit_before_start`` gate and its two ways out). ``invoice_dates``: each invoice's date
    where known (``None``: unknown, the deposit's date stands)."""
    text = payload_json(payload)
    base = {
        "tenant_id": tenant,
        "location_id": payload["location_id"],
        "payload": payload,
        "payload_text": text,
        "number": payload["number"],
    }
    items = [
        Item(
            kind="deposit",
            host_id=payload["id"],
            payload_hash=_deposit_part_hash(payload, None),
            doc_date=payload["paid_date"],
            dep_contact=payload["client_id"],
            **base,
        )
    ]
    for allocation in payload["allocations"]:
        invoice_id = allocation["invoice_id"]
        invoice_date = invoice_dates.get(invoice_id)
        items.append(
            Item(
                kind="deposit_allocation",
                host_id=f"{payload['id']}:{invoice_id}",
                payload_hash=_deposit_part_hash(payload, allocation),
                doc_date=max(payload["paid_date"], invoice_date or payload["paid_date"]),
                dep_credit_note=payload["id"],
                dep_invoice=invoice_id,
                dep_invoice_date=invoice_date,
                **base,
            )
        )
    return items


def _deposit_part_hash(payload: Mapping[str, Any], allocation: Mapping[str, Any] | None) -> str:
    """The hash of what one part of a deposit sends: the prepayment (without its allocations),
    or one allocation. A deposit is recorded again each time it is applied to an invoice; that
    must not read as an edit of the prepayment, or of the allocations Xero already has (Xero
    edits neither: an edit would fail them for an admin)."""
    part = {k: v for k, v in payload.items() if k not in ("allocations", "updated_at")}
    if allocation is not None:
        part["allocation"] = dict(allocation)
    return text_hash(payload_json(part))


REFUND_SOURCES: tuple[tuple[str, str], ...] = (
    ("credit_note_id", "credit_note_refund"),
    ("payment_id", "overpayment_refund"),
    ("deposit_id", "deposit_refund"),
)
"""A refund's source field and the ledger kind it makes (exactly one is set)."""


def refund_source(payload: Mapping[str, Any]) -> tuple[str, str]:
    """``(kind, source host id)`` of a validated refund: the credit it comes out of."""
    for field_name, kind in REFUND_SOURCES:
        if payload.get(field_name):
            return kind, str(payload[field_name])
    raise ValueError(f"refund {payload.get('id')} names no credit it comes out of")


def refund_item(payload: dict[str, Any], tenant: str) -> Item:
    """A refund's row: it waits for the credit it comes out of (``dep_credit_note``)."""
    kind, source = refund_source(payload)
    text = payload_json(payload)
    return Item(
        kind=kind,
        host_id=payload["id"],
        tenant_id=tenant,
        location_id=payload["location_id"],
        payload=payload,
        payload_text=text,
        payload_hash=text_hash(text),
        doc_date=payload["paid_date"],
        number=payload["number"],
        dep_credit_note=source,
    )


def payout_items(payload: dict[str, Any], tenant: str) -> list[Item]:
    """A payout's fee row (when the processor kept fees) and its transfer row: both wait for
    every payment and refund the payout settles (the ``payments`` gate, checked when sent)."""
    text = payload_json(payload)
    digest = text_hash(text)
    kinds = ["payout_fee", "payout"] if Decimal(payload["fees"]) > 0 else ["payout"]
    return [
        Item(
            kind=kind,
            host_id=payload["id"],
            tenant_id=tenant,
            location_id=payload["location_id"],
            payload=payload,
            payload_text=text,
            payload_hash=digest,
            doc_date=payload["paid_date"],
            number=payload["number"],
        )
        for kind in kinds
    ]


def item_facts(item: Item, include_before_start: bool | None = None) -> Facts:
    """An item as the rules read a row (not written yet: no id, waiting, no Xero id)."""
    return Facts(
        id=0,
        kind=item.kind,
        host_id=item.host_id,
        tenant_id=item.tenant_id,
        location_id=item.location_id,
        state=State.WAITING,
        gate=None,
        doc_date=item.doc_date,
        dep_contact=item.dep_contact,
        dep_invoice=item.dep_invoice,
        dep_credit_note=item.dep_credit_note,
        include_before_start=item.include_before_start
        if include_before_start is None
        else include_before_start,
        xero_id=None,
        payload_hash=item.payload_hash,
        operation="create",
        number=item.number,
        dep_invoice_date=item.dep_invoice_date,
    )


def new_row(item: Item, gate: rules.Gate | None, priority: int = 0) -> NewRow:
    """The ledger row to insert for an item held by ``gate`` (``None``: ready)."""
    return NewRow(
        kind=item.kind,
        host_id=item.host_id,
        tenant_id=item.tenant_id,
        location_id=item.location_id,
        state=State.READY if gate is None else State.WAITING,
        gate=gate.name if gate else None,
        detail=gate.detail if gate else None,
        payload=item.payload_text,
        payload_hash=item.payload_hash,
        doc_date=item.doc_date,
        number=item.number,
        dep_contact=item.dep_contact,
        dep_invoice=item.dep_invoice,
        dep_credit_note=item.dep_credit_note,
        include_before_start=item.include_before_start,
        priority=priority,
        dep_invoice_date=item.dep_invoice_date,
    )


def chunks(stream: Iterator[Any], size: int) -> Iterator[list[Any]]:
    """A stream in lists of ``size`` (the last one shorter): one transaction each."""
    chunk: list[Any] = []
    for record in stream:
        chunk.append(record)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
