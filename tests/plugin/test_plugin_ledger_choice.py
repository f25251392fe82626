"""``PM_XERO_LEDGER`` set to something PostgreSQL cannot read stops the add-on in words on the
dashboard (its password never shown) and keeps the records – never a silent fall-back to a
SQLite file the fleet's workers would not see."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.ledger_helpers import START, client

from hookspecs.refhost import ManualClock, RefHost
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
