"""Shared mode as the admin's help page describes it: every location syncs to one organisation,
connected once from any tab, with nothing configured per location."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest
from support.e2e_world import START_DATE, World

pytestmark = pytest.mark.timeout(60)


def test_shared_mode_needs_no_per_location_settings_and_syncs_every_location(
    world: World,
) -> None:
    from pm_xero_plugin.demo.practice import account_codes

    organisation = world.organisations[0]
    world.connect(2, organisation)  # connected once, from the third location's tab
    settings = {
        "enabled": True,
        "organisation_mode": "shared",
        "tenant_id": organisation,
        "account_codes": {organisation: account_codes(world.runtime, organisation)},
        "start_date": None,
    }
    world.save_settings(settings)
    world.host.start_contact_sync(None)
    world.drain()
    world.save_settings(dict(settings, start_date=START_DATE.isoformat()))
    world.host.backfill(None, None)
    world.drain()

    invoices = [
        inv
        for loc in world.locations
        for inv in world.host.iter_history("invoices", loc["id"], START_DATE)
        if inv["status"] != "voided" and date.fromisoformat(inv["date"]) >= START_DATE
    ]
    assert {inv["location_id"] for inv in invoices} == {loc["id"] for loc in world.locations}
    book = world.sandbox.inspect()[organisation]
    in_xero = Counter(i["InvoiceNumber"] for i in book["invoices"])
    assert {f"INV{inv['number']}" for inv in invoices} <= set(in_xero)
    assert max(in_xero.values()) == 1, "an invoice reached Xero twice"
    assert all(r["state"] != "failed" for r in world.engine.ledger.counts())
