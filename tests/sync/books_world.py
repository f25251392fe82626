"""A practice whose records are in the in-process sandbox, for the reconciliation's reading
tests: Sydney connected to the sandbox's first organisation, a few customers, invoices and
payments sent by the real worker, and the bookkeeper's API to change the books behind the
add-on's back (no token, not counted as the add-on's calls)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from support.admin_practice import SandboxPractice, sandbox_practice
from support.cli_practice import line

from pm_xero_plugin.ledger import Row
from pm_xero_plugin.ledger.types import XeroEvent
from pm_xero_plugin.sync.books import XeroBooks

BASE = "http://sandbox.test"


@dataclass
class World:
    """The practice, its books, and the bookkeeper's hands."""

    p: SandboxPractice
    tenant: str
    books: XeroBooks

    @property
    def ledger(self) -> Any:
        return self.p.engine.ledger

    @property
    def sandbox(self) -> Any:
        return self.p.xero.sandbox

    def sync(self) -> None:
        """The worker sends what is ready, until nothing is."""
        self.p.xero.runtime.worker.run(until_idle=True, max_seconds=20.0)

    def rows(self, kind: str) -> list[Row]:
        return [
            r
            for r in self.ledger.rows_of_tenant(self.tenant, [kind], limit=10_000)
            if r.xero_id is not None
        ]

    def app_calls(self) -> list[dict[str, Any]]:
        """The add-on's own Accounting calls to the organisation (not the bookkeeper's)."""
        return [
            r
            for r in self.sandbox.requests
            if r.get("by") is None
            and r.get("tenant") == self.tenant
            and "/api.xro/2.0/" in str(r.get("path"))
        ]

    def reads_since(self, mark: int) -> list[dict[str, Any]]:
        return [r for r in self.app_calls()[mark:] if r["method"] == "GET"]

    def bookkeeper(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        """What a person does in Xero's web app (``/sandbox/xero/{tenant}/…``)."""
        http = self.p.xero.runtime.http
        answer = http.request(method, f"{BASE}/sandbox/xero/{self.tenant}/{path}", json=body)
        assert answer.status_code == 200, answer.text
        data: dict[str, Any] = answer.json()
        return data

    def later(self, seconds: float = 60.0) -> None:
        """Time passes in Xero (the sandbox's clock stamps what changes) and in the host."""
        from datetime import timedelta

        self.sandbox.clock.advance(seconds)
        self.p.host.clock.advance(timedelta(seconds=seconds))


def event(
    w: World, category: str, resource_id: str, event_date: str, tenant: str = ""
) -> XeroEvent:
    """A webhook event as ``pages/webhooks.py`` keeps it (no ``eventId``: its digest)."""
    tenant = tenant or w.tenant
    key = hashlib.sha256(f"{tenant}|{category}|{resource_id}|{event_date}".encode()).hexdigest()
    return XeroEvent(
        key=key,
        tenant_id=tenant,
        category=category,
        event_type="UPDATE",
        resource_id=resource_id,
        event_date=event_date,
        received_at=datetime(2025, 3, 1, 9, 0, tzinfo=UTC),
    )


def updated(w: World, path: str, key: str) -> str:
    """Xero's UpdatedDateUTC of a document, as the sandbox's webhook would date its event."""
    [doc] = w.bookkeeper("GET", path)[key]
    return str(doc["UpdatedDateUTC"])


def add_customers(world: World, count: int, *, first: int = 1) -> list[str]:
    """Customers with an invoice of 100.00 each and a payment of 40.00 on it; the invoice ids."""
    host = world.p.host
    invoices = []
    for n in range(first, first + count):
        host.save_client(
            {
                "id": f"c{n}",
                "number": n,
                "location_id": "syd",
                "first_name": "Ann",
                "last_name": f"Lee{n}",
                "email": f"ann{n}@example.com",
            }
        )
        invoice = host.create_invoice(
            {"client_id": f"c{n}", "location_id": "syd", "lines": [line("100.00")]}
        )
        host.record_payment(
            {
                "client_id": f"c{n}",
                "location_id": "syd",
                "allocations": [{"invoice_id": invoice["id"], "amount": "40.00"}],
            }
        )
        invoices.append(str(invoice["id"]))
    return invoices


@contextmanager
def synced(root: Path, customers: int = 3, *, day_limit: int = 5000) -> Iterator[World]:
    """The practice with ``customers`` customers' records in the sandbox."""
    with sandbox_practice(root, {"syd": 0}) as p:
        runtime = p.xero.runtime
        books = XeroBooks(p.engine, runtime.client, runtime.connection_for, day_limit=day_limit)
        world = World(p, p.tenants["syd"], books)
        p.host.start_contact_sync(None)
        p.host.backfill(None, None)
        add_customers(world, customers)
        world.sync()
        yield world
