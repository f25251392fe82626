"""Reconciliation with Xero's books (issue 16): what reading Xero's side costs in calls and time.

A practice of ``documents`` documents (contacts, invoices, payments and credit notes in the
proportions 10 : 50 : 30 : 10) is already in one sandbox organisation *and* in the ledger as
synced – built directly, fast: through the sandbox's bookkeeper API in-process (no limits, not
counted as the app's calls) and straight into the ledger's SQLite file with their Xero ids, never
through the worker. The organisation is connected the way an admin connects it (bench/world.py:
the authorisation-code redirect, the codes from its chart, a tiny generated practice synced
first). Then, through the add-on's own :class:`~pm_xero_plugin.sync.books.XeroBooks` and Xero
client, with the sandbox enforcing Xero's real limits (60 calls a minute, 5 concurrent, 5,000 a
day) on its clock:

* **full read**: the first reconciliation, which reads everything – Xero calls per 1,000
  documents checked (the sandbox's exact counter), and the time it takes in sandbox seconds
  (the sandbox's clock runs ``time_scale`` times real time, so the add-on's own work counts
  ``time_scale`` times over: a bound, not a flattering figure);
* **incremental**: 1% of the documents changed in Xero by a bookkeeper (emails, voids, deleted
  payments, edited credit notes), the sandbox clock an hour on, a pass – calls per 1,000
  documents checked;
* **webhooks**: 1,000 events of documents a bookkeeper changed, kept as the endpoint keeps them,
  handled – calls used;
* **comparison**: the pure comparison of the ledger's rows with Xero's copies, CPU seconds.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.world import World, world

__all__ = ["bench_books"]

SHARES = {"contact": 10, "invoice": 50, "payment": 30, "credit_note": 10}
"""Of every 100 documents, how many of each kind."""
BATCH = 500
"""Documents per bookkeeper call while the practice is built (not the add-on's calls)."""
EVENTS = 1000
CHANGED_SHARE = 0.01
DAY_LIMIT = 5000
SANDBOX_BASE = "http://sandbox.bench"


class _Bookkeeper:
    """The sandbox's bookkeeper API, in-process (what a person does in Xero's web app)."""

    def __init__(self, w: World, tenant_id: str) -> None:
        self.client = httpx.Client(
            transport=httpx.WSGITransport(app=w.sandbox.app), base_url=SANDBOX_BASE, timeout=60
        )
        self.root = f"/sandbox/xero/{tenant_id}"

    def call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        answer = self.client.request(method, f"{self.root}/{path}", json=body)
        if answer.status_code != 200:
            raise RuntimeError(f"{method} {path}: {answer.status_code} {answer.text[:500]}")
        found: dict[str, Any] = answer.json()
        return found

    def put_many(self, endpoint: str, elements: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for start in range(0, len(elements), BATCH):
            chunk = elements[start : start + BATCH]
            out += self.call("PUT", endpoint, {endpoint: chunk})[endpoint]
        return out


def _codes(w: World, tenant_id: str) -> tuple[str, str]:
    """A revenue account and a bank account of the organisation's chart."""
    accounts = w.sandbox.org(tenant_id).accounts
    revenue = next(a["Code"] for a in accounts if a.get("Type") == "REVENUE" and a.get("Code"))
    bank = next(a["Code"] for a in accounts if a.get("Type") == "BANK" and a.get("Code"))
    return str(revenue), str(bank)


def _counts(documents: int) -> dict[str, int]:
    return {kind: documents * share // 100 for kind, share in SHARES.items()}


def _build(w: World, tenant_id: str, location_id: str, documents: int) -> dict[str, Any]:
    """The practice in Xero (bookkeeper API) and in the ledger (straight into SQLite)."""
    from pm_xero_plugin.mapping.config import OrgMapping
    from pm_xero_plugin.mapping.contacts import contact_name
    from pm_xero_plugin.sync.books import XeroBooks

    books = XeroBooks(w.engine, w.runtime.client, w.runtime.connection_for, day_limit=DAY_LIMIT)
    _tolerance, prefixes = books._mapping(tenant_id)
    mapping = OrgMapping(tenant_id, location_id, prefixes=prefixes)
    n = _counts(documents)
    keeper = _Bookkeeper(w, tenant_id)
    revenue, bank = _codes(w, tenant_id)
    day0 = date(2025, 1, 1)

    clients = []
    for i in range(n["contact"]):
        client = {
            "id": f"bc{i}",
            "number": 900_000 + i,
            "location_id": location_id,
            "first_name": f"Bench{i}",
            "last_name": "Owner",
            "email": f"owner{i}@bench.example",
        }
        clients.append(client)
    made = keeper.put_many(
        "Contacts",
        [{"Name": contact_name(c, mapping), "EmailAddress": c["email"]} for c in clients],
    )
    contact_ids = [m["ContactID"] for m in made]

    def line(amount: Decimal) -> list[dict[str, Any]]:
        return [
            {
                "Description": "Night",
                "Quantity": 1,
                "UnitAmount": float(amount),
                "AccountCode": revenue,
            }
        ]

    invoices = []
    for k in range(n["invoice"]):
        c = k % len(clients)
        day = (day0 + timedelta(days=k % 365)).isoformat()
        total = Decimal(50 + k % 200) + Decimal("0.50")
        invoices.append(
            {
                "id": f"bi{k}",
                "number": 900_000 + k,
                "location_id": location_id,
                "client_id": clients[c]["id"],
                "date": day,
                "due_date": day,
                "total": str(total),
                "status": "open",
                "_contact": contact_ids[c],
            }
        )
    made = keeper.put_many(
        "Invoices",
        [
            {
                "Type": "ACCREC",
                "Contact": {"ContactID": inv["_contact"]},
                "Date": inv["date"],
                "DueDate": inv["due_date"],
                "InvoiceNumber": f"BENCH-{inv['number']}",
                "LineAmountTypes": "NoTax",
                "LineItems": line(Decimal(inv["total"])),
                "Status": "AUTHORISED",
            }
            for inv in invoices
        ],
    )
    invoice_ids = [m["InvoiceID"] for m in made]

    payments = []
    for k in range(n["payment"]):
        inv = invoices[k]
        payments.append(
            {
                "id": f"bp{k}",
                "number": 900_000 + k,
                "location_id": location_id,
                "client_id": inv["client_id"],
                "paid_date": inv["date"],
                "amount": inv["total"],
                "method": "card",
                "allocations": [{"invoice_id": inv["id"], "amount": inv["total"]}],
            }
        )
    made = keeper.put_many(
        "Payments",
        [
            {
                "Invoice": {"InvoiceID": invoice_ids[k]},
                "Account": {"Code": bank},
                "Date": p["paid_date"],
                "Amount": float(Decimal(p["amount"])),
            }
            for k, p in enumerate(payments)
        ],
    )
    payment_ids = [m["PaymentID"] for m in made]

    notes = []
    for k in range(n["credit_note"]):
        c = (k * 7) % len(clients)
        notes.append(
            {
                "id": f"bn{k}",
                "number": 900_000 + k,
                "location_id": location_id,
                "client_id": clients[c]["id"],
                "date": (day0 + timedelta(days=k % 365)).isoformat(),
                "total": "10.00",
                "_contact": contact_ids[c],
            }
        )
    made = keeper.put_many(
        "CreditNotes",
        [
            {
                "Type": "ACCRECCREDIT",
                "Contact": {"ContactID": cn["_contact"]},
                "Date": cn["date"],
                "LineAmountTypes": "NoTax",
                "LineItems": line(Decimal(cn["total"])),
                "Status": "AUTHORISED",
            }
            for cn in notes
        ],
    )
    note_ids = [m["CreditNoteID"] for m in made]

    now = w.clock.now().timestamp()

    def rows() -> Iterator[tuple[Any, ...]]:
        for c, xid in zip(clients, contact_ids, strict=True):
            yield ("contact", c["id"], None, c["number"], None, None, c, xid)
        for inv, xid in zip(invoices, invoice_ids, strict=True):
            clean = {k: v for k, v in inv.items() if not k.startswith("_")}
            yield (
                "invoice",
                inv["id"],
                inv["date"],
                inv["number"],
                inv["client_id"],
                None,
                clean,
                xid,
            )
        for p, xid in zip(payments, payment_ids, strict=True):
            invoice_id = p["allocations"][0]["invoice_id"]
            yield (
                "payment",
                f"{p['id']}:{invoice_id}",
                p["paid_date"],
                p["number"],
                p["client_id"],
                invoice_id,
                p,
                xid,
            )
        for cn, xid in zip(notes, note_ids, strict=True):
            clean = {k: v for k, v in cn.items() if not k.startswith("_")}
            yield (
                "credit_note",
                cn["id"],
                cn["date"],
                cn["number"],
                cn["client_id"],
                None,
                clean,
                xid,
            )

    # Straight into the rows table (the passes read rows_of_tenant; the status counts, which
    # nothing here reads, are left as they were)
    ledger_path = w.host.data_dir("xero") / "ledger.sqlite3"
    conn = sqlite3.connect(str(ledger_path), isolation_level=None, timeout=30)
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO rows (kind, host_id, tenant_id, location_id, state, doc_date, number, "
        "dep_contact, dep_invoice, payload, payload_hash, xero_id, created_at, updated_at) "
        "VALUES (?,?,?,?,'synced',?,?,?,?,?,?,?,?,?)",
        [
            (
                kind,
                host_id,
                tenant_id,
                location_id,
                day,
                number,
                contact,
                invoice,
                text := json.dumps(payload, sort_keys=True),
                hashlib.sha256(text.encode()).hexdigest(),
                xid.lower(),
                now,
                now,
            )
            for kind, host_id, day, number, contact, invoice, payload, xid in rows()
        ],
    )
    conn.execute("COMMIT")
    conn.close()
    return {
        "counts": n,
        "contact_ids": contact_ids,
        "invoice_ids": invoice_ids,
        "payment_ids": payment_ids,
        "note_ids": note_ids,
        "books": books,
        "keeper": keeper,
    }


def _change(built: dict[str, Any], share: float, offset: int) -> list[tuple[str, str, str]]:
    """A bookkeeper's changes to ``share`` of the documents, in the practice's proportions
    (contacts' emails, unpaid invoices voided, payments deleted, credit notes' references);
    ``(eventCategory, resource id, eventDateUtc)`` of the documents changed, as Xero's webhooks
    name them."""
    keeper: _Bookkeeper = built["keeper"]
    n = built["counts"]
    changed: list[tuple[str, str, str]] = []

    def pick(ids: list[str], count: int, start: int = 0) -> list[str]:
        return ids[start + offset : start + offset + count]

    def stamp(element: dict[str, Any]) -> str:
        from pm_xero_plugin.sandbox.webhooks import event_date
        from pm_xero_plugin.xero.dates import parse_xero_datetime

        return event_date(parse_xero_datetime(element["UpdatedDateUTC"]))

    for cid in pick(built["contact_ids"], max(1, int(n["contact"] * share))):
        [c] = keeper.call(
            "POST", f"Contacts/{cid}", {"EmailAddress": f"new.{cid[:8]}@bench.example"}
        )["Contacts"]
        changed.append(("CONTACT", cid, stamp(c)))
    unpaid_from = n["payment"]  # invoices after the paid ones have no payment
    for iid in pick(built["invoice_ids"], max(1, int(n["invoice"] * share)), unpaid_from):
        [i] = keeper.call("POST", f"Invoices/{iid}", {"Status": "VOIDED"})["Invoices"]
        changed.append(("INVOICE", iid, stamp(i)))
    for k, pid in enumerate(pick(built["payment_ids"], max(1, int(n["payment"] * share)))):
        keeper.call("POST", f"Payments/{pid}", {"Status": "DELETED"})
        iid = built["invoice_ids"][offset + k]
        [i] = keeper.call("GET", f"Invoices/{iid}")["Invoices"]
        changed.append(("INVOICE", iid, stamp(i)))
    for nid in pick(built["note_ids"], max(1, int(n["credit_note"] * share))):
        [cn] = keeper.call("POST", f"CreditNotes/{nid}", {"Reference": "edited by the bookkeeper"})[
            "CreditNotes"
        ]
        changed.append(("CREDITNOTE", nid, stamp(cn)))
    return changed


def _calls(w: World, tenant_id: str, run: Any) -> tuple[int, float, float, Any]:
    """Run ``run``; the organisation's Accounting calls it made, sandbox and real seconds."""
    calls, sandbox_at, real_at = w.sandbox.api_calls(tenant_id), w.clock.now(), time.perf_counter()
    out = run()
    return (
        w.sandbox.api_calls(tenant_id) - calls,
        (w.clock.now() - sandbox_at).total_seconds(),
        time.perf_counter() - real_at,
        out,
    )


def _pure_comparison(w: World, books: Any, tenant_id: str) -> tuple[Any, float]:
    """The comparison alone (:class:`~pm_xero_plugin.core.differences.Comparison`, pure): the
    organisation's rows and copies read first, then compared; its result and CPU seconds."""
    from pm_xero_plugin.core.differences import Comparison
    from pm_xero_plugin.mapping.xero_copies import COPY_KINDS
    from pm_xero_plugin.xero.kinds import SEND_ORDER

    ledger = w.engine.ledger
    copies = {kind: ledger.xero_copies(tenant_id, kind) for kind in COPY_KINDS}
    pages, after = [], 0
    while True:
        page = ledger.rows_of_tenant(tenant_id, SEND_ORDER, after_id=after, limit=1000)
        pages.append(page)
        if len(page) < 1000:
            break
        after = page[-1].id
    tolerance, prefixes = books._mapping(tenant_id)
    marks = ledger.books_marks(tenant_id)
    started = time.process_time()
    comparison = Comparison(
        tenant_id, copies=copies, marks=marks, tolerance=tolerance, prefixes=prefixes
    )
    for page in pages:
        comparison.add(page)
    result = comparison.finish()
    return result, time.process_time() - started


def measure(documents: int, root: Path, time_scale: float) -> dict[str, Any]:
    """Every measurement on one practice of ``documents`` documents (see the module)."""
    from pm_xero_plugin.ledger.types import XeroEvent
    from pm_xero_plugin.pages.webhooks import event_key

    with world(root, clients=4, time_scale=time_scale) as w:
        w.runtime.worker.run(until_idle=True)  # the tiny generated practice, synced first
        location_id, tenant_id = sorted(w.tenants.items())[0]
        built_at = time.perf_counter()
        built = _build(w, tenant_id, location_id, documents)
        build_s = time.perf_counter() - built_at
        books = built["books"]
        w.clock.advance(3600)  # the practice was built an hour before the first reconciliation

        full_calls, full_sandbox_s, full_real_s, full = _calls(
            w, tenant_id, lambda: books.run_pass(read=True, full=True, tenant_ids=[tenant_id])
        )
        [first] = full.tenants
        if first.incomplete or first.differences_total:
            raise RuntimeError(
                f"the first reconciliation is not clean: {first.incomplete}; "
                f"{first.differences_total} differences, e.g. {first.differences[:3]}"
            )
        checked = first.checked

        w.clock.advance(3600)
        changed = _change(built, CHANGED_SHARE, 0)
        w.clock.advance(3600)
        inc_calls, inc_sandbox_s, _inc_real_s, inc = _calls(
            w, tenant_id, lambda: books.run_pass(read=True, tenant_ids=[tenant_id])
        )
        [second] = inc.tenants

        # webhooks: 1,000 documents changed by the bookkeeper, their events kept as the
        # endpoint keeps them, then handled (no read)
        share = EVENTS / sum(built["counts"].values())
        later = _change(built, share, len(changed))[:EVENTS]
        received = w.clock.now()
        events = []
        for category, resource, when in later:
            raw = {
                "tenantId": tenant_id,
                "eventCategory": category,
                "eventType": "UPDATE",
                "resourceId": resource,
                "eventDateUtc": when,
            }
            events.append(
                XeroEvent(event_key(raw), tenant_id, category, "UPDATE", resource, when, received)
            )
        w.engine.ledger.add_xero_events(events)
        ev_calls, _ev_sandbox_s, _ev_real_s, handled = _calls(
            w, tenant_id, lambda: books.handle_events(limit=len(events))
        )
        outcomes = w.engine.ledger.xero_event_counts()

        pass_at = time.process_time()
        books._compare(tenant_id)  # the pass's comparison: rows and copies read, compared
        pass_compare_cpu_s = time.process_time() - pass_at
        compared, compare_cpu_s = _pure_comparison(w, books, tenant_id)
        budget = books.call_budget(tenant_id)
    per_1000 = 1000 / checked
    return {
        "documents": sum(built["counts"].values()),
        "by_kind": built["counts"],
        "checked": checked,
        "build_s": round(build_s, 1),
        "time_scale": time_scale,
        "full_calls": full_calls,
        "full_calls_per_1000": full_calls * per_1000,
        "full_sandbox_s": full_sandbox_s,
        "full_real_s": full_real_s,
        "call_budget": budget,
        "day_limit": DAY_LIMIT,
        "changed": len(changed),
        "incremental_calls": inc_calls,
        "incremental_calls_per_1000": inc_calls * 1000 / second.checked,
        "incremental_sandbox_s": inc_sandbox_s,
        "incremental_differences": second.differences_total,
        "events": len(events),
        "events_handled": handled,
        "events_calls": ev_calls,
        "event_outcomes": outcomes,
        "compare_rows": compared.checked,
        "compare_cpu_s": compare_cpu_s,
        "pass_compare_cpu_s": pass_compare_cpu_s,
    }


def bench_books(documents: int = 50_000, time_scale: float = 2.0) -> dict[str, Any]:
    """:func:`measure` in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="bench-books-") as tmp:
        return measure(documents, Path(tmp), time_scale)


if __name__ == "__main__":
    out = bench_books(int(sys.argv[1]) if len(sys.argv) > 1 else 5_000)
    print(json.dumps(out, indent=1, default=str))
