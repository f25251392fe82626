"""What goes wrong with the server, in words: unreachable, busy, newer than this add-on."""

from __future__ import annotations

import socket
import threading

import psycopg
import pytest
from support.ledger_helpers import new_row

from pm_xero_plugin.ledger.interface import LedgerBusy, LedgerTooNew, LedgerUnavailable
from pm_xero_plugin.ledger.postgres import PostgresLedger
from pm_xero_plugin.ledger.postgres_schema import MIGRATIONS
from pm_xero_plugin.ledger.postgres_store import PgStore


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_server_is_unavailable_in_words_without_its_password() -> None:
    url = f"postgresql://pmx:s3cret-pw@127.0.0.1:{_closed_port()}/ledger"
    with pytest.raises(LedgerUnavailable) as info:
        PgStore.open(url)
    text = str(info.value)
    assert "pmx@127.0.0.1" in text
    assert "/ledger" in text
    assert "cannot be reached" in text
    assert "PM_XERO_LEDGER" in text
    assert "s3cret-pw" not in text
    assert not isinstance(info.value, LedgerBusy)


def test_a_lock_held_past_the_callers_wait_is_busy_and_writes_nothing(
    store: PgStore, p1: PostgresLedger, pg_ledger_url: str
) -> None:
    p1.insert([new_row(host_id="i1")])
    with psycopg.connect(pg_ledger_url, autocommit=True) as other, other.transaction():
        other.execute("LOCK TABLE rows IN EXCLUSIVE MODE")  # a backup tool, a migration
        with pytest.raises(LedgerBusy) as info, p1.transaction(timeout=0.2):
            p1.insert([new_row(host_id="i2")])
    assert "more than 0.2 s" in str(info.value)
    assert p1.find("invoice", "i2", "T1") is None


def test_every_pooled_connection_in_use_past_the_wait_is_busy(pg_url: str) -> None:
    small = PgStore.open(pg_url, max_size=1)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with small.transaction():
            held.set()
            release.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    try:
        assert held.wait(10)
        with pytest.raises(LedgerBusy) as info, small.ledger("p1").transaction(timeout=0.2):
            pass
        assert "no connection" in str(info.value)
    finally:
        release.set()
        t.join()
        small.close()


def test_a_database_of_a_newer_add_on_is_refused_untouched(pg_url: str) -> None:
    PgStore.open(pg_url, max_size=1).close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE schema_version SET version = %s", (len(MIGRATIONS) + 1,))
    with pytest.raises(LedgerTooNew) as info:
        PgStore.open(pg_url, max_size=1)
    assert info.value.version == len(MIGRATIONS) + 1
    assert "upgrade pm-xero-plugin" in str(info.value)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        found = conn.execute("SELECT version FROM schema_version").fetchall()
    assert found == [(len(MIGRATIONS) + 1,)]


def test_connections_the_server_dropped_are_unavailable_in_words_then_replaced(
    store: PgStore, p1: PostgresLedger, pg_ledger_url: str
) -> None:
    p1.insert([new_row(host_id="i1")])
    with psycopg.connect(pg_ledger_url, autocommit=True) as admin:  # a restart, a failover
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    failures: list[LedgerUnavailable] = []
    for _ in range(store.pool.get_stats().get("pool_size", 1) + 2):
        try:
            found = p1.find("invoice", "i1", "T1")
            break
        except LedgerUnavailable as exc:
            failures.append(exc)
    else:
        pytest.fail("the pool never replaced its dropped connections")
    assert found is not None
    assert failures
    assert all("is unavailable" in str(e) and store.server in str(e) for e in failures)
    assert not any(isinstance(e, LedgerBusy) for e in failures)
