"""``PM_XERO_LEDGER`` set to something PostgreSQL cannot read stops the add-on in words on the
dashboard (its password never shown) and keeps the records – never a silent fall-back to a
SQLite file the fleet's workers would not see."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from support.ledger_helpers import START, client

from hookspecs.refhost import ManualClock, RefFleet, RefHost
from pm_xero_plugin import plugin


def test_an_unreadable_ledger_url_is_said_and_records_are_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PM_XERO_LEDGER", "postgresql://u:s3cretpw@[::1/db")
    host = RefHost(tmp_path / "pm", clock=ManualClock(START), load_entrypoints=False)
    host.register(plugin, name="xero")
    host.start()
    try:
        host.save_client(client("c1", 1))
        status = host.sync_status()
        assert status is not None
        assert "PM_XERO_LEDGER" in status["error"]
        assert "s3cretpw" not in repr(status)
        assert status["records_waiting"]["waiting"] == 1
        assert not (tmp_path / "pm" / "plugins" / "xero" / "ledger.sqlite3").exists()
        assert not host.hook_failures
    finally:
        host.stop()


def test_a_practices_first_call_is_not_held_by_a_postgresql_that_does_not_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that takes the connection and never answers (here: a socket that listens and
    never accepts) would hold a practice's first call for the driver's connect timeout; the
    practice opens off the caller's thread and the call is kept."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        monkeypatch.setenv("PM_XERO_LEDGER", f"postgresql://pm@127.0.0.1:{port}/ledger")
        fleet = RefFleet(tmp_path / "fleet", clock=ManualClock(START), load_entrypoints=False)
        fleet.register(plugin, name="xero")
        host = fleet.add_practice("north")
        fleet.start()
        try:
            started = time.monotonic()
            host.save_client(client("c1", 1))
            took = time.monotonic() - started
            assert took < plugin.FIRST_OPEN_WAIT + 2.0, took  # not the 10 s connect timeout
            assert not host.hook_failures
            addon = plugin.get_addon("north")
            assert addon is not None
            assert addon.kept.waiting() == 1
        finally:
            silent.close()  # the pending connection is refused: the opening gives up at once
            fleet.stop()
