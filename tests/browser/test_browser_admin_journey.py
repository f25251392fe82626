"""An admin's whole journey in a real browser, on a fresh practice: sign in, switch the add-on on,
connect each location through the sandbox's consent page, pick the account codes, run the
contact sync, preview and confirm a start date, and watch the dashboard reach "Up to date"; then
an account archived in Xero fails a new invoice with Xero's words and the hint, the admin fixes it
and retries, and the invoice is synced.

Each page on the way is photographed (into ``$PM_XERO_SCREENSHOTS`` when set: the README's are
``PM_XERO_SCREENSHOTS=docs/screenshots``; else into the test's temporary folder). What the
pages say is checked against the sandbox's books and the host's records, never against the
add-on's own ledger alone.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from support.browser_world import (
    ADMIN_LOGIN,
    SCREENSHOT_MAX_HEIGHT,
    BrowserWorld,
    screenshots_dir,
    sign_in,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

CONFIRM = (
    "I understand: records from this date are sent to Xero, and the date cannot be moved later"
)
SETTLE_MS = 45_000
"""How long the self-refreshing pages may take to show the worker's progress."""


class Journey:
    """The admin's browser tab, photographing each page and keeping every page's HTML."""

    def __init__(self, world: BrowserWorld, page: Page, screenshots: Path) -> None:
        self.world = world
        self.page = page
        self.screenshots = screenshots
        self.html: list[tuple[str, str]] = []

    def keep(self) -> None:
        """Keep the page's HTML as it is now (checked for secrets at the end)."""
        self.html.append((self.page.url, self.page.content()))

    def photograph(self, name: str) -> None:
        self.screenshots.mkdir(parents=True, exist_ok=True)
        height = int(self.page.evaluate("document.documentElement.scrollHeight"))
        width = int(self.page.evaluate("document.documentElement.scrollWidth"))
        self.page.screenshot(
            path=str(self.screenshots / f"{name}.png"),
            full_page=True,
            clip={"x": 0, "y": 0, "width": width, "height": min(height, SCREENSHOT_MAX_HEIGHT)},
        )
        self.keep()

    def tab(self, label: str) -> None:
        """Follow one of the add-on's tabs at the top of every page."""
        self.page.get_by_role("link", name=label, exact=True).first.click()
        self.keep()


# -- the steps -----------------------------------------------------------------------------------


def switch_on(journey: Journey) -> None:
    page, world = journey.page, journey.world
    page.goto(f"{world.url}/plugins")
    row = page.locator("tr[data-plugin='xero']")
    expect(row).to_contain_text("Off")
    row.get_by_role("button", name="Switch on").click()
    expect(page.locator("tr[data-plugin='xero']")).to_contain_text("On")
    assert world.host.is_enabled("xero")
    journey.keep()


def connect_location(journey: Journey, location: Any, tenant_id: str, *, photograph: bool) -> None:
    """ "Connect to Xero" on the location's tab, consent on the sandbox's page, and back."""
    page, world = journey.page, journey.world
    page.goto(world.page_url("settings"))
    page.locator("nav.loc-tabs").get_by_role("link", name=location["name"], exact=True).click()
    expect(page.locator("#location")).to_contain_text(location["name"])
    page.get_by_role("button", name="Connect to Xero").click()
    # Xero's (the sandbox's) consent page: another origin.
    expect(page).to_have_url(re.compile("^" + re.escape(world.sandbox_server.url)))
    organisation = world.org_name(tenant_id)
    expect(page.get_by_text(organisation).first).to_be_visible()
    page.get_by_label(organisation).check()
    if photograph:
        journey.photograph("consent")
    page.get_by_role("button", name="Allow access").click()
    # Back on the add-on's settings, the organisation linked to this location.
    if page.get_by_role("button", name="Use this organisation").count():
        page.get_by_label(re.compile(re.escape(organisation))).check()
        page.get_by_role("button", name="Use this organisation").click()
    expect(page).to_have_url(re.compile(re.escape(world.page_url("settings"))))
    linked = page.locator("#organisation")
    expect(linked).to_contain_text(organisation)
    expect(linked).to_contain_text("connected")
    assert world.host.settings("xero")["locations"][location["id"]]["tenant_id"] == tenant_id
    journey.keep()


def _choose(page: Page, name: str, option: str) -> None:
    """Pick, in the select named ``name``, the option whose text starts with ``option``."""
    select = page.locator(f"select[name='{name}']")
    value = select.locator(
        "option", has_text=re.compile("^" + re.escape(option))
    ).first.get_attribute("value")
    assert value, f"{name}: no option {option!r}"
    select.select_option(value)


INCOME = {
    "default": "200 – Sales",
    "boarding": "201 – Boarding",
    "daycare": "202 – Daycare",
    "grooming": "203 – Grooming",
    "retail": "204 – Retail",
    "extras": "205 – Extras",
}


def pick_codes(journey: Journey, location: Any, tenant_id: str, *, photograph: bool) -> None:
    """The account codes chosen from the organisation's chart, as the admin reads them."""
    page, world = journey.page, journey.world
    page.goto(world.page_url("settings"))
    page.locator("nav.loc-tabs").get_by_role("link", name=location["name"], exact=True).click()
    base = f"account_codes.{tenant_id}"
    for category, option in INCOME.items():
        _choose(page, f"{base}.income.{category}", option)
    _choose(page, f"{base}.credit_notes", "200 – Sales")
    payments = page.locator(f"select[name^='{base}.payments.']")
    for index in range(payments.count()):
        name = str(payments.nth(index).get_attribute("name"))
        _choose(page, name, "090 – Business Bank")
    _choose(page, f"{base}.overpayments", "610 – Accounts Receivable")
    _choose(page, f"{base}.rounding", "860 – Rounding")
    taxes = page.locator(f"select[name^='{base}.tax_types.']")
    for index in range(taxes.count()):
        name = str(taxes.nth(index).get_attribute("name"))
        rate = name.rsplit(".", 1)[-1]
        option = "GST Free" if rate in ("rounding", "0") else "GST on Income"
        _choose(page, name, option)
    enable = page.get_by_label(re.compile("Enable this location's connection"))
    enable.check()
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator("#form-errors")).to_have_count(0)
    expect(page.get_by_text(re.compile("saved", re.I)).first).to_be_visible()
    saved = world.host.settings("xero")["account_codes"][tenant_id]
    assert saved["income"]["default"] == "200"
    assert saved["payments"], saved
    if photograph:
        journey.photograph("settings")
    else:
        journey.keep()


def contact_sync(journey: Journey) -> None:
    page, world = journey.page, journey.world
    journey.tab("Contact sync")
    page.get_by_role("button", name="Start contact sync").click()
    # The page follows the sync by itself (no reload) until each organisation's is done.
    states = page.locator("#contact-sync tr[data-tenant] [data-state]")
    expect(states).to_have_count(len(world.organisations))
    for index in range(len(world.organisations)):
        expect(states.nth(index)).to_have_attribute("data-state", "up_to_date", timeout=SETTLE_MS)
    world.wait_for("the contacts to reach Xero", lambda: world.unsettled() == 0)
    for tenant_id in world.organisations:
        in_xero = len(world.sandbox.inspect()[tenant_id]["contacts"])
        assert in_xero, "no contact reached Xero"
        row = page.locator(f"#contact-sync tr[data-tenant='{tenant_id}']")
        expect(row).to_contain_text(f"{in_xero} of {in_xero}")
    journey.photograph("contacts")


def start_syncing(journey: Journey) -> str:
    """Preview a start date (the counts and totals shown are the host's), confirm, start."""
    page, world = journey.page, journey.world
    start = (world.history_to - timedelta(days=13)).isoformat()
    journey.tab("Start syncing data")
    page.get_by_label("Start date").fill(start)
    page.get_by_role("button", name="Preview").click()
    expect(page.locator(f"section.preview[data-start-date='{start}']")).to_be_visible()
    tenants = world.host.settings("xero")["locations"]
    for loc in world.locations:
        invoices = [
            i
            for i in world.host.iter_history("invoices", loc["id"])
            if str(i["date"]) >= start and i["status"] != "voided"
        ]
        assert invoices, f"{loc['name']} has no invoice after the start date"
        tenant_id = tenants[loc["id"]]["tenant_id"]
        row = page.locator(f".preview [data-tenant='{tenant_id}'] tr[data-kind='invoice']")
        expect(row).to_have_attribute("data-count", str(len(invoices)))
        total = sum(Decimal(str(i["total"])) for i in invoices)
        assert Decimal(str(row.get_attribute("data-total"))) == total
    journey.photograph("start")
    page.get_by_label(CONFIRM).check()
    page.get_by_role("button", name="Start syncing data").click()
    journey.keep()
    return start


def dashboard_up_to_date(journey: Journey, start: str) -> None:
    page, world = journey.page, journey.world
    journey.tab("Accounting dashboard")
    # No reload: the dashboard refreshes by itself while the worker sends, until every
    # organisation's data sync says so.
    expect(page.locator("[data-data-sync]")).to_have_text(
        ["Up to date"] * len(world.organisations), timeout=SETTLE_MS
    )
    assert world.unsettled() == 0
    prefix = world.host.settings("xero")["prefixes"]["invoice"]
    in_xero = {
        str(i["InvoiceNumber"])
        for book in world.sandbox.inspect().values()
        for i in book["invoices"]
    }
    for loc in world.locations:
        for invoice in world.host.iter_history("invoices", loc["id"]):
            if str(invoice["date"]) >= start and invoice["status"] != "voided":
                assert f"{prefix}{invoice['number']}" in in_xero, invoice["number"]
    journey.photograph("dashboard")


def failure_fixed_and_retried(journey: Journey) -> None:
    """An account archived in Xero under the mapping: the next invoice fails with Xero's words
    and the hint; restored in Xero, "Retry" sends it."""
    page, world = journey.page, journey.world
    location = world.locations[0]
    tenant_id = world.host.settings("xero")["locations"][location["id"]]["tenant_id"]
    code = world.host.settings("xero")["account_codes"][tenant_id]["income"]["boarding"]
    world.account(tenant_id, code)["Status"] = "ARCHIVED"  # by the accountant, in Xero
    invoice = world.new_invoice(location["id"], category="boarding")
    prefix = world.host.settings("xero")["prefixes"]["invoice"]
    number = f"{prefix}{invoice['number']}"

    # The admin looks at the dashboard again: the failure, with Xero's words and the hint (the
    # live part follows the worker by itself while the invoice is on its way).
    page.reload()
    failure = page.locator("article.failure", has_text=number)
    expect(failure).to_be_visible(timeout=SETTLE_MS)
    expect(failure).to_contain_text(f"Account code '{code}'")  # Xero's own words
    expect(failure).to_contain_text("Account codes")  # the hint: where to fix it
    journey.photograph("failure")

    world.account(tenant_id, code)["Status"] = "ACTIVE"  # restored in Xero
    failure.get_by_role("button", name="Retry").click()
    world.wait_for(
        "the retried invoice to reach Xero",
        lambda: any(
            i["InvoiceNumber"] == number for i in world.sandbox.inspect()[tenant_id]["invoices"]
        ),
    )
    page.goto(world.page_url("dashboard"))
    expect(page.locator("article.failure", has_text=number)).to_have_count(0)
    page.locator("table.records").get_by_role("link", name=number, exact=True).click()
    expect(page).to_have_url(re.compile(re.escape(world.page_url("records/"))))
    expect(page.locator("h1 [data-state]")).to_have_attribute("data-state", "synced")
    expect(page.locator("main")).to_contain_text(f"Account code '{code}'")  # its history
    journey.photograph("record")


def test_admin_connects_starts_syncing_and_recovers_from_a_failure_in_a_browser(
    fresh_world: BrowserWorld, context: Any, tmp_path: Path
) -> None:
    world = fresh_world
    journey = Journey(world, context.new_page(), screenshots_dir(tmp_path / "screenshots"))
    sign_in(journey.page, world, ADMIN_LOGIN)
    switch_on(journey)
    world.wait_for("the add-on to start", lambda: world.host.hook_failures == [] and _started())
    pairs = list(zip(world.locations, world.organisations, strict=True))
    for index, (location, tenant_id) in enumerate(pairs):
        connect_location(journey, location, tenant_id, photograph=index == 0)
    for index, (location, tenant_id) in enumerate(pairs):
        pick_codes(journey, location, tenant_id, photograph=index == len(pairs) - 1)
    contact_sync(journey)
    start = start_syncing(journey)
    dashboard_up_to_date(journey, start)
    failure_fixed_and_retried(journey)

    # Nothing secret was in any page the admin was shown.
    hidden = world.secrets()
    for url, html in journey.html:
        for what, value in hidden.items():
            assert value not in html, f"{what} appears in {url}"


def _started() -> bool:
    from pm_xero_plugin import plugin

    return plugin.get_engine() is not None and plugin.get_runtime() is not None
