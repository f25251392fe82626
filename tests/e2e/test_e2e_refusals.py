"""Xero refusing single elements: an archived account fails only the documents that use it
(with Xero's message and a fix hint) and a retry after the fix sends them once; a period lock
date holds documents as waiting, shown with the lock date, until Xero is unlocked."""

from __future__ import annotations

import json
from datetime import date

import pytest
from e2e_expect import check_books, expected
from e2e_world import START_DATE, World

pytestmark = pytest.mark.timeout(60)


def _codes(row_payload: dict[str, object], income: dict[str, str]) -> set[str]:
    lines = row_payload.get("lines")
    assert isinstance(lines, list)
    return {income.get(str(line.get("category")), income["default"]) for line in lines}


def test_archived_account_fails_only_its_documents_until_fixed(world: World) -> None:
    world.set_up(backfill=False)
    first, second = world.tenant_of(0), world.tenant_of(1)
    income = world.settings["account_codes"][first]["income"]
    code = income["retail"]
    assert code != income["default"]
    account = next(a for a in world.sandbox.org(first).accounts if a["Code"] == code)
    account["Status"] = "ARCHIVED"  # archived in Xero after the mapping was checked

    world.host.backfill(None, None)
    world.drain()

    failed = world.rows(state="failed")
    assert failed, "no document used the archived account"
    for row in failed:
        assert row.tenant_id == first and row.kind in ("invoice", "credit_note")
        assert code in _codes(row.payload, income)
        assert f"Account code '{code}'" in str(row.message)  # Xero's own words
        assert "Account codes" in str(row.hint)
    for row in world.rows(tenant_id=first, state="synced"):
        if row.kind in ("invoice", "credit_note"):
            assert code not in _codes(row.payload, income)
    assert not [r for r in world.rows(tenant_id=second) if r.state == "failed"]
    dashboard = json.dumps(world.host.sync_status(None))
    assert f"Account code '{code}'" in dashboard

    account["Status"] = "ACTIVE"  # the admin restores the account in Xero …
    assert world.engine.retry() == len(failed)  # … and presses retry
    world.drain()
    check_books(world, expected(world, START_DATE))


def test_lock_date_holds_documents_until_unlocked(world: World) -> None:
    world.set_up(backfill=False)
    first, second = world.tenant_of(0), world.tenant_of(1)
    lock = date(2025, 1, 20)
    world.sandbox.faults(first).lock_date = lock

    world.host.backfill(None, None)
    world.drain()

    held = world.rows(state="waiting", gate="lock_date")
    assert held
    for row in held:
        assert row.tenant_id == first
        assert row.doc_date is not None and date.fromisoformat(row.doc_date) <= lock
        assert "lock date" in str(row.detail) or "lock date" in str(row.message)
    assert not world.rows(state="failed")
    # Documents after the lock date went; nothing of the other organisation was held.
    synced = [r for r in world.rows(tenant_id=first, state="synced") if r.kind == "invoice"]
    assert synced and all(date.fromisoformat(str(r.doc_date)) > lock for r in synced)
    assert not [r for r in world.rows(tenant_id=second) if r.gate == "lock_date"]
    assert "20-Jan-2025" in json.dumps(world.host.sync_status(None))

    world.sandbox.faults(first).lock_date = None  # unlocked in Xero
    world.engine.retry()
    world.drain()
    check_books(world, expected(world, START_DATE))
