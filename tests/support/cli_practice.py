"""A small practice on disk for the CLI tests: a reference host run once with the Xero add-on
(settings saved, contacts synced, one invoice failed, one payment held before the start date),
then stopped, so the verbs meet a data directory exactly as an operator would."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from hookspecs.refhost import ManualClock, RefHost
from pm_xero_plugin import plugin
from pm_xero_plugin.cli.main import main
from pm_xero_plugin.core.engine import Engine
from pm_xero_plugin.core.gates import open_ledger
from pm_xero_plugin.ledger import Row, SqliteLedger
from support.ledger_helpers import LONDON, METHODS, START, SYDNEY, TAX_RATES

START_DATE = "2025-02-01"

ACCOUNTS: list[dict[str, Any]] = [
    {"Code": "200", "Name": "Sales", "Status": "ACTIVE", "Type": "REVENUE", "Class": "REVENUE"},
    {"Code": "201", "Name": "Boarding", "Status": "ACTIVE", "Type": "REVENUE", "Class": "REVENUE"},
    {"Code": "090", "Name": "Bank", "Status": "ACTIVE", "Type": "BANK", "Class": "ASSET"},
    {
        "Code": "092",
        "Name": "Card clearing",
        "Status": "ACTIVE",
        "Type": "CURRENT",
        "Class": "ASSET",
        "EnablePaymentsToAccount": True,
    },
    {"Code": "610", "Name": "Receivable", "Status": "ACTIVE", "Type": "CURRENT", "Class": "ASSET"},
    {"Code": "860", "Name": "Rounding", "Status": "ACTIVE", "Type": "CURRENT", "Class": "ASSET"},
]


class FakeAccounts:
    """A chart of accounts from memory, so the account codes verify as ``ok``."""

    def accounts(self, tenant_id: str) -> list[dict[str, Any]]:
        return list(ACCOUNTS)

    def tax_rates(self, tenant_id: str) -> list[dict[str, Any]]:
        return list(TAX_RATES)

    def tracking_categories(self, tenant_id: str) -> list[dict[str, Any]]:
        return []


def codes() -> dict[str, Any]:
    return {
        "income": {"default": "200", "boarding": "201"},
        "credit_notes": "200",
        "payments": {
            m: "090" if m in ("cash", "bank_transfer", "voucher") else "092" for m in METHODS
        },
        "overpayments": "610",
        "rounding": "860",
        "tax_types": {"10": "OUTPUT", "0": "EXEMPTOUTPUT"},
    }


def settings(locations: dict[str, str], start_date: str | None = START_DATE) -> dict[str, Any]:
    return {
        "enabled": True,
        "organisation_mode": "per_location",
        "locations": {
            loc: {"tenant_id": tenant, "connection_enabled": True}
            for loc, tenant in locations.items()
        },
        "account_codes": {tenant: codes() for tenant in sorted(set(locations.values()))},
        "start_date": start_date,
    }


def line(price: str) -> dict[str, Any]:
    return {
        "description": "Boarding night",
        "category": "boarding",
        "quantity": "1",
        "unit_price": price,
        "tax_rate": "10",
    }


def fill(host: RefHost) -> None:
    """The practice's records (hooks fire if the host runs). Sydney, start date 2025-02-01:

    * invoices #1 2025-01-31 100.00 (the day before: out), #2 2025-02-01 50.00 (on the day: in),
      #3 2025-02-10 25.50; London #4 2025-02-05 40.00;
    * payments #1 2025-02-03 99.00 to invoice #1 (held: its invoice is before the start date),
      #2 2025-02-11 30.00 paying 25.50 of #3 (4.50 overpaid), #3 2025-01-31 1.00 to #1 (out);
    * credit note #1 2025-02-12 5.00 against invoice #2.
    """
    host.add_location(SYDNEY)
    host.add_location(LONDON)
    for cid, number, loc in (("c1", 1, "syd"), ("c2", 2, "syd"), ("c3", 3, "lon")):
        host.save_client(
            {
                "id": cid,
                "number": number,
                "location_id": loc,
                "first_name": "Ann",
                "last_name": f"Lee{number}",
            }
        )
    for iid, number, cid, loc, day, price in (
        ("i1", 1, "c1", "syd", "2025-01-31", "100.00"),
        ("i2", 2, "c1", "syd", "2025-02-01", "50.00"),
        ("i3", 3, "c2", "syd", "2025-02-10", "25.50"),
        ("i4", 4, "c3", "lon", "2025-02-05", "40.00"),
    ):
        host.create_invoice(
            {
                "id": iid,
                "number": number,
                "client_id": cid,
                "location_id": loc,
                "date": day,
                "due_date": day,
                "lines": [line(price)],
            }
        )
    for pid, number, cid, day, amount, allocations in (
        ("p1", 1, "c1", "2025-02-03", "99.00", [("i1", "99.00")]),
        ("p2", 2, "c2", "2025-02-11", "30.00", [("i3", "25.50")]),
        ("p3", 3, "c1", "2025-01-31", "1.00", [("i1", "1.00")]),
    ):
        host.record_payment(
            {
                "id": pid,
                "number": number,
                "client_id": cid,
                "location_id": "syd",
                "paid_date": day,
                "method": "card",
                "amount": amount,
                "allocations": [{"invoice_id": i, "amount": a} for i, a in allocations],
            }
        )
    host.create_credit_note(
        {
            "id": "n1",
            "number": 1,
            "client_id": "c1",
            "location_id": "syd",
            "invoice_id": "i2",
            "date": "2025-02-12",
            "lines": [line("5.00")],
        }
    )


@dataclass
class PracticeDir:
    """What the tests need to know about the data directory they run the verbs against."""

    root: Path
    failed_row: int
    held_row: int
    synced_row: int
    rows: dict[str, int] = field(default_factory=dict)

    def ledger(self) -> SqliteLedger:
        return open_ledger(self.root / "plugins" / "xero" / "ledger.sqlite3")

    def row(self, row_id: int) -> Row:
        led = self.ledger()
        try:
            row = led.get(row_id)
        finally:
            led.close()
        assert row is not None
        return row


@contextmanager
def contact_synced_host(root: Path) -> Iterator[tuple[RefHost, Engine]]:
    """The practice's host running with the add-on for the block: filled, Sydney mapped to T1
    and London to T2, both connected with the fake chart, the contact sync started; stopped
    afterwards, so the verbs then meet its data directory."""
    host = RefHost(root, clock=ManualClock(START), load_entrypoints=False)
    host.register(plugin, name="xero")
    host.start()
    try:
        fill(host)
        assert host.save_plugin_settings("xero", settings({"syd": "T1", "lon": "T2"})) == []
        engine = plugin.get_engine()
        assert engine is not None
        engine.set_accounts_source(FakeAccounts())
        for tenant in ("T1", "T2"):
            engine.set_connection(None, tenant, True)
        host.start_contact_sync(None)
        yield host, engine
    finally:
        host.stop()


def run_verb(practice: PracticeDir, *args: str) -> tuple[int, str]:
    """``pm-xero ARGS… --data-dir <practice>`` in-process: its exit status and output."""
    result = CliRunner().invoke(main, [*args, "--data-dir", str(practice.root)])
    return result.exit_code, result.output


def build_practice(root: Path) -> PracticeDir:
    """Run the host once: settings, contact sync, a play worker (invoice #3 fails), stop."""
    with contact_synced_host(root) as (host, engine):
        host.backfill(None, None)
        led = engine.ledger
        for _ in range(5):
            now = host.now()
            moved = 0
            for tenant in led.tenants_with_ready_work(now):
                for kind in (
                    "contact",
                    "invoice",
                    "credit_note",
                    "allocation",
                    "payment",
                    "overpayment",
                ):
                    for row in led.claim(tenant, kind, worker_id="test", now=now):
                        led.mark_sent([row.id], f"k{row.id}")
                        if (row.kind, row.host_id) == ("invoice", "i3"):
                            led.mark_failed(
                                row.id,
                                "Account code '999' is not a valid code",
                                field="AccountCode",
                            )
                        else:
                            led.mark_synced(row.id, f"X-{row.kind}-{row.host_id}")
                        moved += 1
            if not moved:
                break
        failed = led.find("invoice", "i3", "T1")
        held = led.find("payment", "p1:i1", "T1")
        synced = led.find("invoice", "i2", "T1")
        assert failed is not None
        assert failed.state == "failed"
        assert held is not None, held
        assert held.gate == "invoice_before_start", held
        assert synced is not None
        assert synced.state == "synced"
        return PracticeDir(root, failed.id, held.id, synced.id)


def unsent_practice(root: Path, tenant: str) -> None:
    """Sydney mapped to ``tenant`` (a sandbox's organisation: its chart has 093 for cards),
    contact sync and backfill pressed, no Xero app yet (so nothing was sent)."""
    host = RefHost(root, clock=ManualClock(START), load_entrypoints=False)
    host.register(plugin, name="xero")
    host.start()
    try:
        fill(host)
        saved = settings({"syd": tenant})
        saved["account_codes"][tenant]["payments"]["card"] = "093"
        saved["account_codes"][tenant]["payments"]["eftpos"] = "093"
        assert host.save_plugin_settings("xero", saved) == []
        host.start_contact_sync(None)
        host.backfill(None, None)
    finally:
        host.stop()
