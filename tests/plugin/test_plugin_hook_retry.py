"""A record whose hand-off fails for a passing reason (a locked or full disk) is not lost: the
hook keeps it and tries again before the next hook's own work."""

from __future__ import annotations

import sqlite3

from pytest_mock import MockerFixture
from support.ledger_helpers import Practice, client, invoice

from pm_xero_plugin.core.engine import Engine


def test_a_record_refused_by_a_locked_ledger_is_recorded_at_the_next_hook(
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

    practice.host.create_invoice(invoice("i2", 2, "c1", "2025-03-02"))

    assert practice.ledger.find("invoice", "i1", "T1") is not None
    assert practice.ledger.find("invoice", "i2", "T1") is not None
