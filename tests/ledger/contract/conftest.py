"""The ledger contract's fixtures: one ``ledger`` per backend, each a fresh, empty ledger.

The tests here see a :class:`pm_xero_plugin.ledger.Ledger` and nothing else (no SQL, no method
of one backend), so a backend joins by adding its factory to :data:`BACKENDS`: SQLite (a file
in the test's temporary folder) and PostgreSQL (one practice's view of a fresh database on the
test server, :func:`support.postgres.fresh_database`; skipped where there is no PostgreSQL,
except in CI). Each ledger is opened with the core's :class:`DependantGates`, as the engine
opens it: settling a row moves what waited for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest
from support.ledger_helpers import START, new_row
from support.postgres import fresh_database

from pm_xero_plugin.core.gates import DependantGates
from pm_xero_plugin.ledger import Ledger, SqliteLedger


@contextmanager
def _sqlite(tmp_path: Path) -> Iterator[Ledger]:
    led = SqliteLedger(
        tmp_path / "ledger.sqlite3", clock=lambda: START, dependants=DependantGates()
    )
    try:
        yield led
    finally:
        led.close()


@contextmanager
def _postgresql(tmp_path: Path) -> Iterator[Ledger]:
    from pm_xero_plugin.ledger.postgres_store import PgStore

    with fresh_database(ledger=True) as url:
        store = PgStore.open(url, max_size=4)
        try:
            # Another practice shares the database, with the same organisation and keys:
            # nothing of it may show through (its rows, counts, organisations, settings).
            other = store.ledger("other-practice", clock=lambda: START)
            other.set_tenant("T1", connected=True)
            other.set_meta("start_date", "2020-01-01")
            customer = new_row(kind="contact", host_id="c1", number=1)
            customer.payload = '{"first_name": "Ann", "last_name": "Lee"}'
            other.insert(
                [
                    new_row(host_id="i1", doc_date="2025-02-01", number=1, dep_contact="c1"),
                    customer,
                    new_row(host_id="w9", state="waiting", gate="lock_date"),
                ]
            )
            led = store.ledger("p1", clock=lambda: START, dependants=DependantGates())
            yield led
            led.close()
        finally:
            store.close()


BACKENDS: dict[str, Callable[[Path], AbstractContextManager[Ledger]]] = {
    "sqlite": _sqlite,
    "postgresql": _postgresql,
}
"""Every ledger backend the contract runs against, by name."""


@pytest.fixture(params=sorted(BACKENDS))
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    with BACKENDS[request.param](tmp_path) as led:
        yield led
