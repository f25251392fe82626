"""A verb on a practice whose ledger is PostgreSQL uses the limits and tokens kept there – the
ones the host's add-on stored when the admin connected – never a file of its own."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.postgres import fresh_database

from hookspecs.refhost import RefHost
from pm_xero_plugin.cli.ops import _runtime, open_data_dir
from pm_xero_plugin.sync.runtime import AppConfig
from pm_xero_plugin.xero.pg_limits import PostgresRateLimiter
from pm_xero_plugin.xero.pg_tokens import PostgresTokenStore
from pm_xero_plugin.xero.tokens import TokenStore

CONFIG = {
    "PM_XERO_CLIENT_ID": "app",
    "PM_XERO_CLIENT_SECRET": "app-secret",
    "PM_XERO_URL": "http://127.0.0.1:9/",
}


def _practice(root: Path) -> Path:
    RefHost(root, load_entrypoints=False).close()  # a host data directory, as the host leaves it
    return root


def test_a_verb_on_a_postgresql_practice_shares_its_limits_and_tokens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = AppConfig.from_env(CONFIG)
    assert config is not None
    with fresh_database() as url:
        monkeypatch.setenv("PM_XERO_LEDGER", url)
        with open_data_dir(_practice(tmp_path / "pm")) as opened:
            runtime = _runtime(opened, config)
            try:
                assert isinstance(runtime.limiter, PostgresRateLimiter)
                assert isinstance(runtime.tokens, PostgresTokenStore)
                assert runtime.tokens.practice_id == "practice-1"  # as the host's add-on
            finally:
                runtime.stop()


def test_a_verb_on_a_sqlite_practice_keeps_its_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PM_XERO_LEDGER", raising=False)
    config = AppConfig.from_env(CONFIG)
    assert config is not None
    with open_data_dir(_practice(tmp_path / "pm")) as opened:
        runtime = _runtime(opened, config)
        try:
            assert isinstance(runtime.tokens, TokenStore)
            assert not isinstance(runtime.limiter, PostgresRateLimiter)
        finally:
            runtime.stop()
