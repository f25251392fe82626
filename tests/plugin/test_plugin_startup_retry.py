"""A ledger that cannot be opened is said in words with what to do, records arriving meanwhile
go to the spool, and start-up is tried again in the background until it opens; a ledger started
afresh while organisations were connected is a warning on health."""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.ledger_helpers import LONDON, START, SYDNEY, client, invoice, settings

from hookspecs.refhost import ManualClock, RefHost
from pm_xero_plugin import plugin
from pm_xero_plugin.core import handoff
from pm_xero_plugin.core.engine import Engine
from pm_xero_plugin.ledger.migrations import MIGRATIONS
from pm_xero_plugin.xero.tokens import TokenSet, TokenStore


@pytest.fixture(autouse=True)
def _quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handoff, "FIRST_DELAY", 0.05)
    monkeypatch.setattr(handoff, "MAX_DELAY", 0.2)


@pytest.fixture
def host(tmp_path: Path) -> Iterator[RefHost]:
    """A host with the add-on registered and not started (the test prepares its data folder)."""
    made = RefHost(tmp_path / "pm", clock=ManualClock(START), load_entrypoints=False)
    made.add_location(SYDNEY)
    made.add_location(LONDON)
    made.register(plugin, name="xero")
    yield made
    made.stop()
    made.close()


def _ledger(host: RefHost) -> Path:
    return host.data_dir("xero") / "ledger.sqlite3"


def _condition(host: RefHost, name: str) -> dict[str, Any] | None:
    status = host.sync_status()
    assert status is not None
    return next((c for c in status["health"] if c["condition"] == name), None)


def _wait_for_engine(timeout: float = 15.0) -> Engine:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        engine = plugin.get_engine()
        if engine is not None:
            return engine
        time.sleep(0.02)
    raise AssertionError("the add-on never started")


def fired_invoice(n: int) -> dict[str, Any]:
    """A complete invoice as the host hands it over (``host.fire`` stores nothing, so only the
    spool can bring it to the ledger: the start-up's reconciliation cannot find it)."""
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


def test_a_garbage_ledger_is_said_in_words_records_are_spooled_and_start_up_retries(
    host: RefHost,
) -> None:
    _ledger(host).write_bytes(b"not a ledger at all " * 500)
    host.start()

    assert plugin.get_engine() is None
    status = host.sync_status()
    assert status is not None
    assert "damaged or is not a ledger" in status["error"]
    condition = _condition(host, "ledger_unopened")
    assert condition is not None
    assert f"at {_ledger(host)}" in condition["message"]
    assert "restore it from a backup, or move it aside" in condition["action"]
    assert "matches what Xero already holds by number" in condition["action"]

    assert host.save_plugin_settings("xero", settings()) == []
    host.save_client(client("c1", 1))
    host.fire("on_invoice_created", invoice=fired_invoice(1))
    host.fire("on_invoice_created", invoice=fired_invoice(2))
    status = host.sync_status()
    assert status is not None
    assert status["records_waiting"]["waiting"] >= 3
    assert status["records_waiting"]["only_in_memory"] == 1, "only the settings save"
    spool = host.data_dir("xero") / handoff.SPOOL_NAME
    hooks = [json.loads(line)["hook"] for line in spool.read_text().splitlines()]
    assert hooks == ["on_client_saved", "on_invoice_created", "on_invoice_created"]
    assert host.hook_failures == []

    shutil.move(_ledger(host), _ledger(host).with_name("ledger.damaged"))

    engine = _wait_for_engine()
    assert plugin.wait_for_records(timeout=15)
    for n in (1, 2):
        assert engine.ledger.find("invoice", f"i{n}", "T1") is not None, n
    assert engine.ledger.find("contact", "c1", "T1") is not None
    assert _condition(host, "ledger_unopened") is None


def test_a_ledger_of_a_newer_schema_says_upgrade_and_is_left_untouched(host: RefHost) -> None:
    conn = sqlite3.connect(_ledger(host))
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    host.start()

    assert plugin.get_engine() is None
    condition = _condition(host, "ledger_unopened")
    assert condition is not None
    assert (
        "written by a newer version of the add-on "
        f"(schema 99; this one reads up to {len(MIGRATIONS)})" in condition["message"]
    )
    assert condition["action"].startswith("upgrade the add-on, or restore the ledger")
    conn = sqlite3.connect(_ledger(host))
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 99
    conn.close()


def test_a_ledger_started_afresh_while_organisations_are_connected_is_a_warning(
    host: RefHost,
) -> None:
    tokens = TokenStore(host.data_dir("xero") / "tokens.sqlite3", host.secret("xero"))
    tokens.save("shared", TokenSet("access", "refresh", time.time() + 1800))
    host.start()

    condition = _condition(host, "ledger_started_afresh")
    assert condition is not None
    assert condition["severity"] == "warning"
    assert condition["message"].startswith(
        "the ledger was started afresh while organisations were connected"
    )
    assert "matched by their number" in condition["action"]

    host.stop()
    host.start()  # the same ledger again: nothing new to say

    assert _condition(host, "ledger_started_afresh") is None


def test_a_first_start_with_no_connection_is_no_warning(host: RefHost) -> None:
    host.start()

    status = host.sync_status()
    assert status is not None
    assert _condition(host, "ledger_started_afresh") is None


def test_a_ledger_another_process_holds_at_start_up_does_not_hold_the_host(
    host: RefHost,
) -> None:
    host.start()
    assert host.save_plugin_settings("xero", settings()) == []
    host.save_client(client("c1", 1))
    host.stop()
    other = sqlite3.connect(_ledger(host), isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    try:
        started = time.perf_counter()
        host.start()
        assert time.perf_counter() - started < 5, "not the worker's 30 s"
        assert plugin.get_engine() is None
        condition = _condition(host, "ledger_unopened")
        assert condition is not None
        assert "locked by another process" in condition["message"]
        host.fire("on_invoice_created", invoice=fired_invoice(1))
    finally:
        other.execute("ROLLBACK")
        other.close()

    engine = _wait_for_engine()
    assert plugin.wait_for_records(timeout=15)
    assert engine.ledger.find("invoice", "i1", "T1") is not None
