"""`pm-xero demo`, the main job, run as a user runs it: a real process, a real data dir."""

from __future__ import annotations

import collections
import json
from pathlib import Path
from typing import Any

import pytest
from support.demo_helpers import KINDS, demo, summary

pytestmark = pytest.mark.timeout(240)


def _books(data_dir: Path) -> dict[str, dict[str, list[Any]]]:
    state = json.loads((data_dir / "sandbox-state.json").read_text())
    books: dict[str, dict[str, list[Any]]] = {}
    for tenant_id, org in state["orgs"].items():
        books[tenant_id] = {}
        for kind in ("contacts", "invoices", "payments", "bank_transfers", "prepayments"):
            items = org[kind]
            items = list(items.values()) if isinstance(items, dict) else items
            books[tenant_id][kind] = [json.loads(i) if isinstance(i, str) else i for i in items]
    return books


def _unsettled(data_dir: Path) -> list[tuple[Any, ...]]:
    """Ledger rows that are neither synced nor held by a rule: shown when an assertion fails."""
    import sqlite3

    with sqlite3.connect(data_dir / "plugins" / "xero" / "ledger.sqlite3") as db:
        return db.execute(
            "SELECT id, kind, host_id, state, gate, detail, message, operation FROM rows "
            "WHERE state NOT IN ('synced', 'excluded') AND NOT (state = 'waiting' AND gate IN "
            "('before_start_date', 'invoice_before_start'))"
        ).fetchall()


def _no_duplicates(books: dict[str, dict[str, list[Any]]]) -> None:
    for tenant_id, org in books.items():
        keys = {
            # The processor a payout's fees are spent with ("Stripe") is a contact of no number.
            "contacts": [c["ContactNumber"] for c in org["contacts"] if c.get("ContactNumber")],
            "invoices": [i["InvoiceNumber"] for i in org["invoices"]],
            "payments": [
                (p.get("Reference"), (p.get("Invoice") or {}).get("InvoiceID"))
                for p in org["payments"]
                if p.get("Status") != "DELETED"
            ],
        }
        for kind, values in keys.items():
            twice = [v for v, n in collections.Counter(values).items() if n > 1]
            assert not twice, f"{kind} sent twice to {tenant_id}: {twice[:5]}"


def _money_flows_reached_their_books(
    found: dict[str, Any], books: dict[str, dict[str, list[Any]]]
) -> None:
    """The practice's payouts, deposits and refunds are counted beside the other kinds, and
    each payout is one transfer in its organisation's books, each deposit one prepayment."""
    for counts in found["eligible"].values():
        assert set(counts) == set(KINDS)
    synced = {k: sum(c[k] for c in found["synced"].values()) for k in KINDS}
    assert synced["payouts"] > 0
    assert synced["deposits"] > 0
    assert synced["refunds"] > 0
    for tenant_id, org in books.items():
        here = [loc for loc, tenant in found["tenants"].items() if tenant == tenant_id]
        assert len(org["bank_transfers"]) == sum(found["synced"][loc]["payouts"] for loc in here)
        assert len(org["prepayments"]) == sum(found["synced"][loc]["deposits"] for loc in here)


def test_demo_syncs_three_sites_into_two_organisations_and_resumes_without_resending(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "practice"
    first = summary(demo(data_dir, "--today", "2026-03-10", "--start-date", "2026-01-01"))

    assert set(first) == {
        "start_date",
        "tenants",
        "eligible",
        "synced",
        "failed",
        "api_calls",
        "live",
        "problems",
        "data_dir",
    }
    assert first["problems"] == []
    assert first["data_dir"] == str(data_dir)
    tenants = first["tenants"]
    assert len(tenants) == 3, "two share an organisation"
    assert len(set(tenants.values())) == 2, "two share an organisation"
    assert set(first["start_date"].values()) == {"2026-01-01"}
    for location, counts in first["eligible"].items():
        assert counts["invoices"] > 0
        assert counts["contacts"] > 0
        assert first["synced"][location] == counts, _unsettled(data_dir)
        assert first["failed"][location] == dict.fromkeys(KINDS, 0)
    books = _books(data_dir)
    assert set(books) == set(tenants.values())
    _no_duplicates(books)
    synced_invoices = sum(c["invoices"] for c in first["synced"].values())
    assert sum(len(org["invoices"]) for org in books.values()) == synced_invoices
    dates = [i["Date"]["$date"] for org in books.values() for i in org["invoices"]]
    assert min(dates) >= "2026-01-01", "nothing before the start date reaches Xero"
    _money_flows_reached_their_books(first, books)

    # A later day: the practice lives through the days between; only the new work is sent.
    second = summary(demo(data_dir, "--today", "2026-03-13"))
    for location, counts in second["eligible"].items():
        assert counts["invoices"] >= first["eligible"][location]["invoices"]
        assert second["synced"][location] == counts, _unsettled(data_dir)
    books = _books(data_dir)
    _no_duplicates(books)
    synced_invoices = sum(c["invoices"] for c in second["synced"].values())
    assert sum(len(org["invoices"]) for org in books.values()) == synced_invoices


def test_demo_refuses_a_start_date_later_than_what_already_synced(tmp_path: Path) -> None:
    data_dir = tmp_path / "practice"
    summary(demo(data_dir, "--today", "2026-03-10", "--start-date", "2026-02-01"))

    refused = demo(data_dir, "--today", "2026-03-10", "--start-date", "2026-02-15", json_out=False)

    assert refused.returncode == 2
    assert "cannot move later" in refused.stderr
    assert "2026-02-01" in refused.stderr
    # Checked before it is announced: no "back-syncing everything dated on or after it" first,
    # and nothing started on its behalf.
    assert "back-syncing" not in refused.stderr
    assert "contact sync" not in refused.stderr
    assert "Traceback" not in refused.stderr
