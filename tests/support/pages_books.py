"""Books for the dashboard and record page tests: a practice (``support.ledger_helpers``) with
customers, invoices synced under Xero-shaped ids, and failures with Xero's words."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from html import unescape
from pathlib import Path

from hookspecs.refhost import ManualClock
from support.ledger_helpers import START, Practice, client, invoice

ARCHIVED = "Account code '299' is not a valid code for this document."


@contextmanager
def open_practice(root: Path) -> Iterator[Practice]:
    """A practice on the reference host (Sydney → T1, London → T2), closed afterwards."""
    practice = Practice(root / "pm", ManualClock(START))
    try:
        yield practice
    finally:
        practice.close()


def text_of(html: str) -> str:
    """A page's words, without tags (what a person reads)."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def synced_books(practice: Practice, invoices: int = 3) -> dict[str, str]:
    """Two customers (Oliver King, Mia Wong), ``invoices`` invoices of Sydney synced with Xero
    ids (odd ones Oliver's); returns host id -> Xero id."""
    practice.setup()
    practice.host.save_client(client("c1", 1, first_name="Oliver", last_name="King"))
    practice.host.save_client(client("c2", 2, first_name="Mia", last_name="Wong"))
    practice.host.start_contact_sync()
    practice.drain()
    ids = {}
    for n in range(1, invoices + 1):
        practice.host.create_invoice(
            invoice(f"i{n}", 100 + n, "c1" if n % 2 else "c2", f"2025-02-{n:02d}", total="110.00")
        )
    now = practice.host.now()
    for row in practice.ledger.claim("T1", "invoice", worker_id="w", now=now, limit=500):
        xero_id = str(uuid.uuid4())
        body = f'{{"InvoiceNumber": "INV{row.number}", "Total": "110.00"}}'
        practice.ledger.mark_sent([row.id], "k", requests={row.id: body})
        practice.ledger.mark_synced(row.id, xero_id, {"ok": True})
        ids[row.host_id] = xero_id
    return ids


def failed_invoice(practice: Practice, host_id: str, number: int) -> int:
    """An invoice of Oliver's that Xero refused (an archived account code); its row id."""
    practice.host.create_invoice(invoice(host_id, number, "c1", "2025-02-20"))
    now = practice.host.now()
    [row] = [
        r
        for r in practice.ledger.claim("T1", "invoice", worker_id="w", now=now)
        if r.host_id == host_id
    ]
    practice.ledger.mark_sent([row.id], "k", requests={row.id: '{"InvoiceNumber": "INV9"}'})
    practice.ledger.mark_failed(
        row.id, ARCHIVED, field="LineItems[0].AccountCode", hint="Pick an active account code"
    )
    return row.id
