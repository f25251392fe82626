"""A ledger busy for a moment: this process's own write (a back-sync or reconciliation batch on
another thread) is a passing warning in its own words; another process holding the write lock is
the error it was, with what to do."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from pm_xero_plugin.core.health import Condition, ledger_error_condition
from pm_xero_plugin.ledger import SqliteLedger
from pm_xero_plugin.ledger.interface import LedgerBusy, LedgerBusyHere


@contextmanager
def held_by_a_thread_of_this_process(ledger: SqliteLedger) -> Iterator[None]:
    """Another thread of this process writes (a back-sync batch) for the duration."""
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with ledger.transaction():
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert holding.wait(10)
        yield
    finally:
        release.set()
        thread.join(10)


@contextmanager
def held_by_another_process(ledger: SqliteLedger) -> Iterator[None]:
    """Another connection (as another process would) holds the ledger's write lock."""
    other = sqlite3.connect(ledger.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


def _refused(ledger: SqliteLedger) -> LedgerBusy:
    with pytest.raises(LedgerBusy) as refused, ledger.transaction(0.05):
        pass
    return refused.value


def test_a_wait_for_this_processs_own_write_is_a_warning_that_records_wait_in_order(
    ledger: SqliteLedger,
) -> None:
    with held_by_a_thread_of_this_process(ledger):
        busy = _refused(ledger)
    assert isinstance(busy, LedgerBusyHere)
    condition = ledger_error_condition(busy, ledger.path)
    assert condition.severity == "warning"
    assert condition.message == (
        "the add-on is busy writing its ledger (a back-sync or reconciliation batch)"
    )
    assert "records wait a moment and are written in order" in condition.action
    assert "another process" not in condition.message + condition.action


def test_another_process_holding_the_write_lock_is_an_error_saying_to_stop_it(
    ledger: SqliteLedger,
) -> None:
    with held_by_another_process(ledger):
        busy = _refused(ledger)
    assert not isinstance(busy, LedgerBusyHere)
    condition = ledger_error_condition(busy, ledger.path)
    assert condition == Condition(
        "ledger_unwritable",
        f"the add-on cannot write its ledger: it is locked by another process at {ledger.path}",
        "stop the other process holding it (a second add-on or a backup tool); nothing is "
        "lost: records are kept and written once it can be",
    )
    assert condition.severity == "error"
