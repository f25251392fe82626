"""A record whose hand-off fails for a passing reason (a locked or full disk) is not lost: the
hand-off keeps it and its background thread writes it once the ledger takes writes – no later
hook is needed, and a later hook's record queues behind it."""

from __future__ import annotations

import sqlite3

import pytest
from pytest_mock import MockerFixture
from support.ledger_helpers import Practice, client, invoice

from pm_xero_plugin import plugin
from pm_xero_plugin.core import handoff
from pm_xero_plugin.core.engine import Engine


@pytest.fixture(autouse=True)
def _quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handoff, "FIRST_DELAY", 0.05)
    monkeypatch.setattr(handoff, "MAX_DELAY", 0.2)


def test_a_record_refused_by_a_locked_ledger_is_recorded_without_a_later_hook(
    practice: Practice, mocker: MockerFixture
) -> None:
    practice.setup()
    practice.host.save_client(client("c1", 1))
    real = Engine.record_invoice
    calls = {"n": 0}

    def locked_once(self: Engine, raw: object, event: str = "created") -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise sqlite3.OperationalError("database is locked")
        real(self, raw, event)

    mocker.patch.object(Engine, "record_invoice", locked_once)

    practice.host.create_invoice(invoice("i1", 1, "c1", "2025-03-01"))
    assert practice.ledger.find("invoice", "i1", "T1") is None
    assert practice.host.hook_failures == [], "the host never sees the failure"

    assert plugin.wait_for_records(timeout=10)
    assert practice.ledger.find("invoice", "i1", "T1") is not None

    practice.host.create_invoice(invoice("i2", 2, "c1", "2025-03-02"))

    assert practice.ledger.find("invoice", "i1", "T1") is not None
    assert practice.ledger.find("invoice", "i2", "T1") is not None
