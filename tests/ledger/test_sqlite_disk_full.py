"""A full disk inside a transaction: SQLite has already rolled back, and the error the caller
(and the health) sees is SQLite's own ``database or disk is full``, not a failed ROLLBACK."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from pm_xero_plugin.core.health import ledger_error_condition
from pm_xero_plugin.ledger import SqliteLedger


@contextmanager
def _no_room(ledger: SqliteLedger) -> Iterator[None]:
    """The ledger may not grow by a page (SQLITE_FULL, as on a full disk), then may again."""
    conn = ledger._conn  # SQLite's own page cap is the test's full disk
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count={pages}")
    try:
        yield
    finally:
        conn.execute("PRAGMA max_page_count=4294967294")


def test_a_full_disk_inside_a_transaction_raises_the_full_disk_not_a_failed_rollback(
    ledger: SqliteLedger,
) -> None:
    with (  # noqa: PT012 - the error is the transaction's, after its second write
        _no_room(ledger),
        pytest.raises(sqlite3.OperationalError) as refused,
        ledger.transaction(),
    ):
        ledger.set_meta("small", "v")
        ledger.set_meta("big", "x" * 1_000_000)
    assert "full" in str(refused.value)
    condition = ledger_error_condition(refused.value, ledger.path)
    assert "disk full at" in condition.message
    assert ledger.meta("small") is None, "the whole transaction was rolled back"
    ledger.set_meta("after", "v")  # the ledger takes writes again once there is room
    assert ledger.meta("after") == "v"


def test_a_full_disk_in_a_single_write_raises_the_full_disk(ledger: SqliteLedger) -> None:
    with _no_room(ledger), pytest.raises(sqlite3.OperationalError, match="full"):
        ledger.set_meta("big", "x" * 1_000_000)
    assert ledger.meta("big") is None
