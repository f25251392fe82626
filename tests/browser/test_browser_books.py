"""The reconciliation page in a real browser: a served practice whose ledger keeps a report with
a difference on one of its records; the admin opens the page from the dashboard's Books panel,
presses "Accept Xero's version" and sees the difference move to the decided ones, with the
action's sentence on top."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from support.browser_world import ADMIN_LOGIN, BrowserWorld, served_world, sign_in

from pm_xero_plugin.core.books import (
    REPORT_META_KEY,
    BooksReport,
    DayTotal,
    Difference,
    TenantBooks,
    load_report,
)
from pm_xero_plugin.ledger import NewRow

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


@pytest.fixture
def world(tmp_path: Path, xero_spec_path: Path) -> Iterator[BrowserWorld]:
    with served_world(tmp_path, xero_spec_path, background_jobs=False, clients=5) as served:
        yield served


def keep_voided_invoice(world: BrowserWorld) -> str:
    """An invoice of the first organisation's voided there by a bookkeeper, as a pass would
    report it; the difference's key. Its row is put in the ledger by hand, where the worker
    leaves it (rejected: an accept decides on Xero's side, whatever the row's state)."""
    tenant = world.organisations[0]
    location = str(world.locations[0]["id"])
    ledger = world.engine.ledger
    payload = json.dumps({"id": "inv-77", "number": 77})
    ledger.insert(
        [
            NewRow(
                "invoice",
                "inv-77",
                tenant,
                location,
                "rejected",
                payload,
                "hash-77",
                doc_date=world.history_to.isoformat(),
                number=77,
                message="kept by hand for the test",
            )
        ]
    )
    row = ledger.find("invoice", "inv-77", tenant)
    assert row is not None
    difference = Difference(
        tenant_id=tenant,
        location_id=location,
        kind="invoice",
        host_id="inv-77",
        row_id=row.id,
        difference="voided_in_xero",
        label="INV77 Ann Lee",
        day=world.history_to.isoformat(),
        host="AUTHORISED, total 120.00",
        xero="VOIDED",
        actions=("accept",),
        fix="void INV77 in Pet Manager too",
        host_hash=row.payload_hash,
    )
    day = world.history_to.isoformat()
    report = BooksReport(
        generated_at="2025-03-03T09:00:00+00:00",
        tenants=[
            TenantBooks(
                tenant_id=tenant,
                name=world.org_name(tenant),
                checked=1,
                read_at="2025-03-03T08:59:00+00:00",
                calls_today=3,
                call_budget=1000,
                totals=[DayTotal(tenant, location, day, "invoice", 1, "120.00", 1, "0.00")],
                differences=[difference],
                differences_total=1,
            )
        ],
    )
    ledger.set_meta(REPORT_META_KEY, report.to_json())
    return difference.key


def test_the_admin_accepts_a_difference_and_sees_it_decided(
    world: BrowserWorld, context: Any
) -> None:
    key = keep_voided_invoice(world)
    page = context.new_page()
    sign_in(page, world, ADMIN_LOGIN)
    page.goto(world.page_url("dashboard"))
    panel = page.locator("section.books-panel")
    expect(panel).to_contain_text("1 open difference")
    panel.get_by_role("link", name="Reconciliation with Xero").click()
    page.wait_for_url(re.compile(r"/books$"))

    difference = page.locator(f'article.difference[data-key="{key}"]')
    expect(difference).to_contain_text("Voided in Xero")
    expect(difference).to_contain_text("void INV77 in Pet Manager too")
    difference.get_by_role("button", name="Accept Xero's version").click()
    page.wait_for_url(re.compile(r"/books\?"))

    expect(page.locator(".flash")).to_contain_text("Accepted Xero's version of INV77 Ann Lee")
    expect(page.locator(f'article.difference[data-key="{key}"]')).to_have_count(0)
    decided = page.locator("details.decided")
    expect(decided).to_contain_text("1 decided")
    decided.locator("summary").click()
    expect(decided.locator(f'li[data-key="{key}"]')).to_contain_text(
        "Xero's version accepted by Alex Admin"
    )
    expect(page.locator('[data-differences="none"]')).to_be_visible()

    kept = load_report(world.engine.ledger.meta)
    assert kept is not None
    [decided_one] = kept.tenants[0].differences
    assert (decided_one.decided, decided_one.decided_by) == ("accepted", "Alex Admin")
