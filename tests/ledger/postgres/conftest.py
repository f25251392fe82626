"""Fixtures for the PostgreSQL ledger's own tests: a store on a fresh database, and views."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.ledger_helpers import START
from support.postgres import pg_ledger_url, pg_url  # noqa: F401 - fixtures

from pm_xero_plugin.core.gates import DependantGates
from pm_xero_plugin.ledger.postgres import PostgresLedger
from pm_xero_plugin.ledger.postgres_store import PgStore


@pytest.fixture
def store(pg_ledger_url: str) -> Iterator[PgStore]:  # noqa: F811 - the fixture above
    s = PgStore.open(pg_ledger_url, max_size=8)
    yield s
    s.close()


@pytest.fixture
def p1(store: PgStore) -> PostgresLedger:
    return store.ledger("p1", clock=lambda: START, dependants=DependantGates())


@pytest.fixture
def p2(store: PgStore) -> PostgresLedger:
    return store.ledger("p2", clock=lambda: START, dependants=DependantGates())
