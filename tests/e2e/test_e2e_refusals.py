"""Xero refusing single elements: an archived account fails only the documents that use it
(with Xero's message and a fix hint) and a retry after the fix sends them once; a period lock
date holds documents as waiting, shown with the lock date, until Xero is unlocked."""

from __future__ import annotations

import json
from datetime import date

import pytest
from support.e2e_expect import check_books, expected
from support.e2e_world import START_DATE, World

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
        assert row.tenant_id == first
        assert row.kind in ("invoice", "credit_note")
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
        assert row.doc_date is not None
        assert date.fromisoformat(row.doc_date) <= lock
        assert "lock date" in str(row.detail) or "lock date" in str(row.message)
    assert not world.rows(state="failed")
    # Documents after the lock date went; nothing of the other organisation was held.
    synced = [r for r in world.rows(tenant_id=first, state="synced") if r.kind == "invoice"]
    assert synced
    assert all(date.fromisoformat(str(r.doc_date)) > lock for r in synced)
    assert not [r for r in world.rows(tenant_id=second) if r.gate == "lock_date"]
    assert "20-Jan-2025" in json.dumps(world.host.sync_status(None))

    world.sandbox.faults(first).lock_date = None  # unlocked in Xero
    world.engine.retry()
    world.drain()
    check_books(world, expected(world, START_DATE))


def test_contact_name_taken_in_xero_holds_that_contact_and_its_documents_until_renamed(
    world: World,
) -> None:
    world.connect_all()
    first = world.tenant_of(0)
    home = world.locations[0]["id"]
    invoiced = {
        i["client_id"]
        for i in world.host.iter_history("invoices", home, START_DATE)
        if i["status"] != "voided"
    }
    client = next(
        c
        for c in world.host.iter_history("clients", home)
        if c["location_id"] == home and c["id"] in invoiced
    )
    name = f"{client['first_name']} {client['last_name']} (C{client['number']})"
    runtime = world.runtime
    key = runtime.connection_for_any(first)
    # Someone typed this customer into Xero by hand, without a contact number.
    (made,) = runtime.client.send_batch(
        first, key, "PUT", "Contacts", [{"Name": name}], idempotency_key="by-hand-1"
    )
    assert made.ok
    settings = world.make_settings(None)
    world.save_settings(settings)
    world.host.start_contact_sync(None)
    world.drain()

    # Not adopted (no number of ours), not failed: held for the admin, with the one in Xero.
    (held_contact,) = world.rows(state="waiting", gate="contact_name_taken")
    assert (held_contact.kind, held_contact.host_id) == ("contact", client["id"])
    assert held_contact.tenant_id == first
    assert "already assigned to another contact" in str(held_contact.detail)
    assert held_contact.xero_match
    assert held_contact.xero_match["Name"] == name
    assert world.rows(state="failed") == []

    world.save_settings(dict(settings, start_date=START_DATE.isoformat()))
    world.host.backfill(None, None)
    world.drain()
    held = [r for r in world.rows(tenant_id=first) if r.dep_contact == client["id"]]
    assert held
    assert all(r.state == "waiting" and r.gate == "contact" for r in held)
    assert all("name is taken in Xero" in str(r.detail) for r in held)
    assert world.rows(state="failed") == []
    assert "already assigned to another contact" in json.dumps(world.host.sync_status(home))

    hand_made = next(c for c in world.sandbox.org(first).contacts.values() if c["Name"] == name)
    hand_made["Name"] = f"{name} – typed by hand"  # the admin renames it in Xero …
    assert world.engine.retry(kind="contact") == 1  # … and retries
    world.drain()
    check_books(world, expected(world, START_DATE))
