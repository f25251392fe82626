"""``transaction(timeout=…)``: the host's hooks wait a bounded time for the ledger – whether
another process or another thread of this one holds it – and the worker's long wait is kept;
opening a ledger says plainly when the file is no ledger."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from pm_xero_plugin.ledger import SqliteLedger
from pm_xero_plugin.ledger.interface import LedgerBusy, LedgerUnreadable


def test_a_bounded_write_gives_up_quickly_when_another_process_holds_the_lock(
    ledger: SqliteLedger,
) -> None:
    other = sqlite3.connect(ledger.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        started = time.perf_counter()
        with (
            pytest.raises(LedgerBusy, match="database is locked") as refused,
            ledger.transaction(0.2),
        ):
            ledger.set_meta("k", "v")
        assert time.perf_counter() - started < 1.0
        assert isinstance(refused.value, sqlite3.OperationalError)
    finally:
        other.execute("ROLLBACK")
        other.close()

    assert ledger.meta("k") is None, "nothing was written"


def test_an_unbounded_write_still_waits_for_the_lock_after_a_bounded_one_gave_up(
    ledger: SqliteLedger,
) -> None:
    other = sqlite3.connect(ledger.path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(LedgerBusy), ledger.transaction(0.05):
        pass
    threading.Timer(0.6, lambda: other.execute("ROLLBACK")).start()
    started = time.perf_counter()
    with ledger.transaction():  # the worker's long wait: it outlasts the other's 0.6 s
        ledger.set_meta("k", "v")
    assert time.perf_counter() - started >= 0.5
    assert ledger.meta("k") == "v"
    other.close()


def test_a_bounded_write_gives_up_quickly_when_another_thread_holds_the_ledger(
    ledger: SqliteLedger,
) -> None:
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with ledger.transaction():
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert holding.wait(10)
        started = time.perf_counter()
        with pytest.raises(LedgerBusy), ledger.transaction(0.2):
            pass
        assert time.perf_counter() - started < 1.0
    finally:
        release.set()
        thread.join(10)


def test_a_nested_bounded_transaction_joins_the_outer_one(ledger: SqliteLedger) -> None:
    with ledger.transaction(), ledger.transaction(0.0):
        ledger.set_meta("k", "v")
    assert ledger.meta("k") == "v"


def test_a_file_that_is_no_ledger_is_refused_as_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    path.write_bytes(b"garbage" * 1000)
    with pytest.raises(LedgerUnreadable, match="is not a ledger this add-on can read") as refused:
        SqliteLedger(path)
    assert isinstance(refused.value, sqlite3.DatabaseError), (
        "what catches SQLite's errors still does"
    )
    assert "file is not a database" in str(refused.value)


def test_an_up_to_date_ledger_opens_while_another_process_holds_its_write_lock(
    ledger: SqliteLedger,
) -> None:
    other = sqlite3.connect(ledger.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        started = time.perf_counter()
        second = SqliteLedger(ledger.path)
        assert time.perf_counter() - started < 1.0
        second.close()
    finally:
        other.execute("ROLLBACK")
        other.close()
