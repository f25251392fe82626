"""The host's side of the hand-off never loses a record and never holds the host.

A full ledger keeps every record (no try count while the cause lasts) and writes them, in order,
once it takes writes again – no later hook needed; a restart while records wait in the spool
replays them at the next ``pm_startup``; a hook returns within half a second while another
process holds the ledger's write lock, and its record lands once the lock is released.

Records here are fired with ``host.fire`` (the host stores nothing) where a start-up follows:
the start-up's reconciliation with the host's records would otherwise find them, and the test
would not tell whether the spool did its job.
"""

from __future__ import annotations

import json
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from support.ledger_helpers import LONDON, START, SYDNEY, Practice, client, invoice, settings

from hookspecs.refhost import ManualClock, RefHost
from pm_xero_plugin import plugin
from pm_xero_plugin.core import handoff
from pm_xero_plugin.ledger import SqliteLedger

FULL = "database or disk is full"


@pytest.fixture(autouse=True)
def _quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handoff, "FIRST_DELAY", 0.05)
    monkeypatch.setattr(handoff, "MAX_DELAY", 0.2)


@pytest.fixture
def full_disk(monkeypatch: pytest.MonkeyPatch) -> dict[str, bool]:
    """While ``on``: every row the ledger is asked to insert raises SQLite's "disk is full"."""
    state = {"on": False}
    real = SqliteLedger.insert_new

    def insert_new(self: SqliteLedger, rows: Any) -> list[bool]:
        if state["on"]:
            raise sqlite3.OperationalError(FULL)
        return real(self, rows)

    monkeypatch.setattr(SqliteLedger, "insert_new", insert_new)
    return state


def fired_invoice(n: int) -> dict[str, Any]:
    """A complete invoice as the host would hand it over (for ``host.fire``, which fills
    nothing in and stores nothing)."""
    return invoice(
        f"i{n}",
        n,
        "c1",
        "2025-03-01",
        currency="AUD",
        line_amount_types="inclusive",
        total="100.00",
        status="open",
        updated_at="2025-03-01T09:00:00+00:00",
    )


def _health(status: dict[str, Any] | None, name: str) -> dict[str, Any] | None:
    assert status is not None
    return next((c for c in status["health"] if c["condition"] == name), None)


def test_a_full_ledger_keeps_every_record_through_many_hooks_and_writes_them_once_it_recovers(
    practice: Practice, full_disk: dict[str, bool]
) -> None:
    practice.setup()
    practice.host.save_client(client("c1", 1))
    full_disk["on"] = True
    for n in range(1, 13):  # 12 records, each kept through 11+ later hooks (the old limit: 5)
        practice.host.create_invoice(invoice(f"i{n}", n, "c1", "2025-03-01"))
    practice.host.update_invoice({"id": "i1", "reference": "second version"})
    time.sleep(0.5)  # several background retries fail too

    assert practice.host.hook_failures == []
    assert all(practice.ledger.find("invoice", f"i{n}", "T1") is None for n in range(1, 13))
    condition = _health(practice.host.sync_status(), "ledger_unwritable")
    assert condition is not None
    ledger_path = practice.host.data_dir("xero") / "ledger.sqlite3"
    assert (
        f"the add-on cannot write its ledger: disk full at {ledger_path}" in (condition["message"])
    )
    assert "13 records from Pet Manager waiting" in condition["message"]
    assert "free space on that disk" in condition["action"]

    full_disk["on"] = False  # space freed: no further hook

    assert plugin.wait_for_records(timeout=15)
    for n in range(1, 13):
        assert practice.ledger.find("invoice", f"i{n}", "T1") is not None, n
    first = practice.ledger.find("invoice", "i1", "T1")
    assert first is not None
    assert first.payload["reference"] == "second version", "written in order: the edit last"
    assert _health(practice.host.sync_status(), "ledger_unwritable") is None
    spool = practice.host.data_dir("xero") / handoff.SPOOL_NAME
    assert spool.stat().st_size == 0, "emptied once everything is in the ledger"


def test_records_kept_while_the_ledger_is_full_go_to_a_private_spool_file(
    practice: Practice, full_disk: dict[str, bool]
) -> None:
    practice.setup()
    practice.host.save_client(client("c1", 1))
    full_disk["on"] = True
    practice.host.create_invoice(invoice("i1", 1, "c1", "2025-03-01"))

    spool = practice.host.data_dir("xero") / handoff.SPOOL_NAME
    lines = [json.loads(line) for line in spool.read_text().splitlines()]
    assert [(line["hook"], line["record"]["id"]) for line in lines] == [
        ("on_invoice_created", "i1")
    ]
    assert stat.S_IMODE(spool.stat().st_mode) == 0o600
    full_disk["on"] = False
    assert plugin.wait_for_records(timeout=15)


_CHILD = """
import json, os, sqlite3, sys
from hookspecs.refhost import ManualClock, RefHost
from pm_xero_plugin import plugin
from pm_xero_plugin.ledger import SqliteLedger

root, start, invoices = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
def full(self, rows):
    raise sqlite3.OperationalError("database or disk is full")
from datetime import datetime
host = RefHost(root, clock=ManualClock(datetime.fromisoformat(start)), load_entrypoints=False)
host.register(plugin, name="xero")
host.start()
SqliteLedger.insert_new = SqliteLedger.insert = full
for record in invoices:
    host.fire("on_invoice_created", invoice=record)
assert host.hook_failures == [], host.hook_failures
print("fired", flush=True)
os._exit(0)  # the process dies: no pm_shutdown, nothing written but what the hooks wrote
"""


def test_records_spooled_when_the_process_dies_are_written_at_the_next_start_up(
    tmp_path: Path,
) -> None:
    root = tmp_path / "pm"
    host = RefHost(root, clock=ManualClock(START), load_entrypoints=False)
    host.add_location(SYDNEY)
    host.add_location(LONDON)
    host.register(plugin, name="xero")
    host.start()
    assert host.save_plugin_settings("xero", settings()) == []
    host.save_client(client("c1", 1))
    host.stop()
    host.close()

    records = [fired_invoice(n) for n in range(1, 4)]
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(root), START.isoformat(), json.dumps(records)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "fired" in done.stdout
    spool = root / "plugins" / "xero" / handoff.SPOOL_NAME
    assert len(spool.read_text().splitlines()) == 3

    again = RefHost(root, clock=ManualClock(START), load_entrypoints=False)
    again.register(plugin, name="xero")
    again.start()
    try:
        engine = plugin.get_engine()
        assert engine is not None
        for n in range(1, 4):
            assert engine.ledger.find("invoice", f"i{n}", "T1") is not None, n
        assert spool.stat().st_size == 0
    finally:
        again.stop()
        again.close()


_HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.read()  # until the test closes it
conn.execute("ROLLBACK")
"""


def test_a_hook_returns_within_half_a_second_while_another_process_holds_the_ledger(
    practice: Practice,
) -> None:
    practice.setup()
    practice.host.save_client(client("c1", 1))
    path = practice.host.data_dir("xero") / "ledger.sqlite3"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        took = []
        for n in (1, 2, 3):
            started = time.perf_counter()
            practice.host.create_invoice(invoice(f"i{n}", n, "c1", "2025-03-01"))
            took.append(time.perf_counter() - started)

        assert max(took) < 0.5, took
        assert practice.host.hook_failures == []
        assert practice.ledger.find("invoice", "i1", "T1") is None
        condition = _health(practice.host.sync_status(), "ledger_unwritable")
        assert condition is not None
        assert "locked by another process" in condition["message"]
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)

    assert plugin.wait_for_records(timeout=15)
    for n in (1, 2, 3):
        assert practice.ledger.find("invoice", f"i{n}", "T1") is not None, n
    assert _health(practice.host.sync_status(), "ledger_unwritable") is None


def test_a_replay_of_a_record_the_ledger_already_has_changes_nothing(practice: Practice) -> None:
    """A process killed between the ledger's commit and the spool's "done" replays that record
    at the next start-up: the ledger holds it unchanged, so nothing moves (no update is sent)."""
    practice.setup()
    practice.host.save_client(client("c1", 1))
    practice.host.start_contact_sync()
    practice.host.create_invoice(invoice("i1", 1, "c1", "2025-03-01"))
    assert practice.drain() >= 2
    stored = practice.host.get_record("invoices", "i1")
    assert stored is not None
    before = practice.ledger.find("invoice", "i1", "T1")
    assert before is not None
    assert before.state == "synced"
    practice.host.stop()
    spool = practice.host.data_dir("xero") / handoff.SPOOL_NAME
    lines = [
        {"seq": 1, "hook": "on_client_saved", "record": practice.host.get_record("clients", "c1")},
        {"seq": 2, "hook": "on_invoice_created", "record": stored},
    ]
    spool.write_text("".join(json.dumps(line) + "\n" for line in lines))

    practice.host.start()

    after = practice.ledger.find("invoice", "i1", "T1")
    assert after is not None
    assert (after.state, after.operation, after.updated_at) == (
        before.state,
        before.operation,
        before.updated_at,
    )
    contact = practice.ledger.find("contact", "c1", "T1")
    assert contact is not None
    assert contact.state == "synced"
    assert spool.stat().st_size == 0
