"""On a PostgreSQL ledger the host's add-on keeps Xero's limits and each practice's tokens in the
database, as the fleet's workers do; a practice connected before the move keeps its connection."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from psycopg_pool import ConnectionPool
from support.fleet_practices import practices_on
from support.postgres import fresh_database

from pm_xero_plugin import plugin
from pm_xero_plugin.sync.shared_xero import import_file_tokens, limits_scope
from pm_xero_plugin.xero.pg_limits import PostgresRateLimiter
from pm_xero_plugin.xero.pg_tokens import PostgresTokenStore
from pm_xero_plugin.xero.tokens import TokenSet, TokenStore

SECRET = b"s" * 32


@pytest.fixture
def pool() -> Iterator[ConnectionPool]:
    with fresh_database() as url, ConnectionPool(url, min_size=1, max_size=4, open=True) as opened:
        yield opened


def test_a_practices_file_tokens_are_copied_once_into_the_shared_store(
    tmp_path: Path, pool: ConnectionPool
) -> None:
    file_store = TokenStore(tmp_path / "tokens.sqlite3", SECRET)
    file_store.save("syd", TokenSet("a1", "r1", time.time() + 1800), tenant_ids=["T1"])
    file_store.save("lon", TokenSet("a2", "r2", time.time() + 1800), tenant_ids=["T2"])
    file_store.mark_reconnect("lon", "Xero said the connection was removed")
    shared = PostgresTokenStore(pool, "north", SECRET)
    assert import_file_tokens(shared, tmp_path, SECRET) == 2
    syd = shared.load("syd")
    assert syd is not None
    assert syd.refresh_token == "r1"
    assert shared.tenant_ids("syd") == ["T1"]
    assert shared.reconnect_reason("lon") == "Xero said the connection was removed"
    assert import_file_tokens(shared, tmp_path, SECRET) == 0  # once: the database's copy rules
    assert PostgresTokenStore(pool, "south", SECRET).connection_keys() == []


def test_the_limits_of_two_xero_servers_are_kept_apart() -> None:
    assert limits_scope("http://127.0.0.1:8765/api.xro/2.0") != limits_scope(
        "http://127.0.0.1:8766/api.xro/2.0"
    )
    assert limits_scope("https://api.xero.com/api.xro/2.0") == "api.xero.com"


def test_the_host_add_on_on_postgresql_shares_limits_and_tokens_through_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PM_XERO_CLIENT_ID", "app")
    monkeypatch.setenv("PM_XERO_CLIENT_SECRET", "app-secret")
    monkeypatch.setenv("PM_XERO_URL", "http://127.0.0.1:9/")  # never called: no worker thread
    monkeypatch.setenv("PM_XERO_WORKER", "off")
    with practices_on("postgresql", tmp_path / "fleet", monkeypatch) as fleet:
        for practice_id in fleet.practices():
            runtime = plugin.get_runtime(practice_id)
            assert runtime is not None
            assert isinstance(runtime.limiter, PostgresRateLimiter)
            assert isinstance(runtime.tokens, PostgresTokenStore)
            assert runtime.tokens.practice_id == practice_id


def test_the_host_add_on_on_sqlite_keeps_its_own_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PM_XERO_CLIENT_ID", "app")
    monkeypatch.setenv("PM_XERO_CLIENT_SECRET", "app-secret")
    monkeypatch.setenv("PM_XERO_URL", "http://127.0.0.1:9/")
    monkeypatch.setenv("PM_XERO_WORKER", "off")
    with practices_on("sqlite", tmp_path / "fleet", monkeypatch) as fleet:
        runtime = plugin.get_runtime(fleet.practices()[0])
        assert runtime is not None
        assert isinstance(runtime.tokens, TokenStore)
        assert not isinstance(runtime.limiter, PostgresRateLimiter)
