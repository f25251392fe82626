"""What the add-on's pages refuse, tried from a real browser against the served host.

* A member of staff who is not an admin gets 403 on every page and every action of the add-on –
  every route its app has, found from the app itself, so a route added later is covered – and
  nothing changes, even with an admin's CSRF token in hand.
* A state-changing request without the page's CSRF token is refused: a fetch from the add-on's
  own page, a form on another origin of the same site (the browser sends the session cookie, so
  only the token stops it), and a form on another site.
* After a practice is connected, synced and has a failure, no OAuth token, client secret or the
  host's secret appears in the HTML of any page.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect
from starlette.routing import Mount, Route
from support.browser_world import (
    ADMIN_LOGIN,
    PREFIX,
    STAFF_LOGIN,
    BrowserWorld,
    served_world,
    sign_in,
)

from pm_xero_plugin import plugin
from pm_xero_plugin.demo import practice
from pm_xero_plugin.pages.webhooks import WEBHOOK_PATH

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

ACTIONS = (
    "retry",
    "resolve",
    "exclude",
    "include_parent",
    "link_contact",
    "create_distinct",
    "refresh_accounts",
    "disconnect",
)
"""Every admin action (``hookspecs.spec.admin_action``), tried at ``/actions/{action}``."""


@pytest.fixture(scope="module")
def synced_world(
    tmp_path_factory: pytest.TempPathFactory, xero_spec_path: Path
) -> Iterator[BrowserWorld]:
    """A practice after the journey (set up without the browser, as the demo does it): both
    locations connected, codes chosen, contacts and a back-sync in Xero, and one invoice failed
    on an account archived in Xero."""
    tmp_path = tmp_path_factory.mktemp("secured")
    with served_world(tmp_path, xero_spec_path, background_jobs=False) as world:
        tenants = dict(
            zip([loc["id"] for loc in world.locations], world.organisations, strict=True)
        )
        with httpx.Client(timeout=10.0) as browser:
            for location_id, tenant_id in tenants.items():
                practice.authorize(world.runtime, location_id, browser, tenant_id)
        codes = {t: practice.account_codes(world.runtime, t) for t in tenants.values()}
        settings = practice.practice_settings(world.locations, tenants, codes, None)
        assert world.host.save_plugin_settings("xero", settings) == []
        world.host.start_contact_sync(None)
        world.wait_for("the contacts", lambda: world.unsettled() == 0)
        start = world.history_to - timedelta(days=13)
        settings = {**settings, "start_date": start.isoformat()}
        assert world.host.save_plugin_settings("xero", settings) == []
        world.host.backfill(None, None)
        world.wait_for("the back-sync", lambda: world.unsettled() == 0)
        location_id, tenant_id = next(iter(tenants.items()))
        code = codes[tenant_id]["income"]["boarding"]
        world.account(tenant_id, code)["Status"] = "ARCHIVED"
        world.new_invoice(location_id, category="boarding")
        world.wait_for("the failure", lambda: world.counts("failed") > 0)
        world.account(tenant_id, code)["Status"] = "ACTIVE"
        world.tokens()  # the tokens as they are now (rotated ones are kept as seen)
        yield world


def _routes() -> list[Route | Mount]:
    """Every route of the add-on's app, as its ``web_app`` hook builds it."""
    addon = plugin.get_addon()  # the practice's own app, behind the one web_app() dispatches to
    assert addon is not None
    starlette_app: Any = addon.web_app().app  # the guard's inner app
    return [r for r in starlette_app.routes if isinstance(r, Route | Mount)]


def _values(world: BrowserWorld) -> dict[str, list[str]]:
    """Real values for each path parameter the app's routes have."""
    ledger = world.engine.ledger
    rows = [str(r[0]) for r in ledger._q("SELECT id FROM rows ORDER BY id LIMIT 3")]
    failed = [str(r[0]) for r in ledger._q("SELECT id FROM rows WHERE state = 'failed'")]
    return {
        "location_id": [loc["id"] for loc in world.locations],
        "row_id": [*failed, *rows],
        "action": list(ACTIONS),
        "path": ["app.css", "app.js"],
    }


def every_request(world: BrowserWorld) -> list[tuple[str, str]]:
    """(method, URL) of every page and action the add-on serves, parameters filled in."""
    values = _values(world)
    found: list[tuple[str, str]] = []
    for route in _routes():
        methods = (
            sorted(getattr(route, "methods", None) or {"GET"})
            if isinstance(route, Route)
            else ["GET"]
        )
        path = route.path if isinstance(route, Route) else route.path + "/{path}"
        names = re.findall(r"{(\w+)(?::\w+)?}", path)
        unknown = [n for n in names if n not in values]
        assert not unknown, f"{path}: give the test a value for {unknown}"
        filled = [path]
        for name in names:
            filled = [
                re.sub(r"{" + name + r"(?::\w+)?}", value, p)
                for p in filled
                for value in values[name]
            ]
        found += [(m, f"{world.url}{PREFIX}{p}") for m in methods if m != "HEAD" for p in filled]
    return found


def _state(world: BrowserWorld) -> dict[str, Any]:
    """What an action could change: the switch, the settings, connections, rows by state."""
    return {
        "enabled": world.host.is_enabled("xero"),
        "settings": json.dumps(world.host.settings("xero"), sort_keys=True),
        "connected": [world.runtime.connection_ok(loc["id"]) for loc in world.locations],
        "counts": world.engine.ledger.counts(),
    }


def test_staff_who_are_not_admins_get_403_on_every_page_and_action(
    synced_world: BrowserWorld, browser: Any
) -> None:
    world = synced_world
    # An admin's token, to show that a stolen token does not make sam an admin.
    admin = browser.new_context()
    staff = browser.new_context()
    try:
        admin_page = admin.new_page()
        sign_in(admin_page, world, ADMIN_LOGIN)
        admin_page.goto(world.page_url("settings"))
        token = admin_page.locator("input[name='csrf']").first.get_attribute("value")
        assert token
        page = staff.new_page()
        sign_in(page, world, STAFF_LOGIN)
        before = _state(world)
        requests = every_request(world)
        assert len({url for _, url in requests}) > 10, requests
        for method, url in requests:
            if method == "GET":
                answer = staff.request.get(url, max_redirects=0)
            else:
                answer = staff.request.fetch(
                    url,
                    method=method,
                    form={"csrf": token, "tenant_id": world.organisations[0]},
                    max_redirects=0,
                )
            if url.endswith(PREFIX + WEBHOOK_PATH):
                # Xero's webhooks: public, proven by a signature, never by a session
                assert answer.status == 401, f"{method} {url}: {answer.status}"
                continue
            assert answer.status == 403, f"{method} {url}: {answer.status} {answer.text()[:200]}"
            assert "admin" in answer.text(), answer.text()
        # In the browser too: the page says why, and shows nothing of the add-on.
        page.goto(world.page_url("dashboard"))
        expect(page.locator("body")).to_contain_text("Only an admin")
        assert "Up to date" not in page.content()
        # Nor may sam flip the host's switch: no button, and a POST with sam's own host token
        # (from the sign-out form) is refused.
        page.goto(f"{world.url}/plugins")
        expect(page.locator("tr[data-plugin='xero']").get_by_role("button")).to_have_count(0)
        host_token = page.locator("input[name='csrf']").first.get_attribute("value")
        assert host_token
        answer = staff.request.post(
            f"{world.url}/plugins",
            form={"csrf": host_token, "plugin": "xero", "enabled": "off"},
            max_redirects=0,
        )
        assert answer.status == 403, answer.text()
        assert _state(world) == before
    finally:
        admin.close()
        staff.close()


def test_a_post_without_the_csrf_token_is_refused_from_any_origin(
    synced_world: BrowserWorld, context: Any
) -> None:
    world = synced_world
    location = world.locations[0]
    disconnect = f"{world.url}{PREFIX}/connect/{location['id']}/disconnect"
    page = context.new_page()
    sign_in(page, world, ADMIN_LOGIN)
    page.goto(world.page_url(f"settings?location={location['id']}"))
    before = _state(world)

    # From the add-on's own page: a fetch without the token, and with a made-up one.
    statuses = page.evaluate(
        """async (url) => {
            const plain = await fetch(url, {method: "POST",
                headers: {"Content-Type": "application/x-www-form-urlencoded"}, body: ""});
            const forged = await fetch(url, {method: "POST",
                headers: {"Content-Type": "application/x-www-form-urlencoded",
                          "X-CSRF-Token": "1.deadbeef"}, body: "csrf=1.deadbeef"});
            return [plain.status, forged.status, await plain.text()];
        }""",
        disconnect,
    )
    assert statuses[:2] == [403, 403], statuses
    assert "security token" in statuses[2]

    # From another origin of the same site (another port on loopback: the browser sends the
    # session cookie along) and from another site: a form that submits itself.
    for attacker in ("http://127.0.0.1:9/attack", "http://attacker.example/attack"):
        form = (
            f'<form id="f" method="post" action="{disconnect}">'
            '<input name="confirm" value="1"></form>'
            "<script>document.getElementById('f').submit()</script>"
        )
        context.route(attacker, _serving(form))
        with page.expect_response(disconnect) as answered:
            page.goto(attacker)
        answer = answered.value
        if "127.0.0.1" in attacker:  # the cookie went along: only the missing token stops it
            assert answer.status == 403, (attacker, answer.status)
            assert "security token" in answer.text()
        else:  # SameSite=Lax kept the cookie back (401), or the add-on refused it (403)
            assert answer.status in (401, 403), (attacker, answer.status)
    assert _state(world) == before, "a request without the token changed something"

    # The control: the same button pressed on the page (its form carries the token) works.
    page.goto(world.page_url(f"settings?location={location['id']}"))
    page.on("dialog", lambda dialog: dialog.accept())  # should the page ask "are you sure?"
    page.get_by_role("button", name="Disconnect").click()
    expect(page).to_have_url(re.compile(re.escape(world.page_url("settings"))))
    expect(page.locator("body")).not_to_contain_text("Refused")
    assert not world.runtime.connection_ok(location["id"])


def _serving(html: str) -> Any:
    """A route handler answering with ``html`` (the attacker's page, without a server)."""

    def fulfil(route: Any) -> None:
        route.fulfill(body=html, content_type="text/html")

    return fulfil


def test_no_token_or_secret_appears_in_any_page(synced_world: BrowserWorld, context: Any) -> None:
    world = synced_world
    page = context.new_page()
    sign_in(page, world, ADMIN_LOGIN)
    shown: dict[str, str] = {}
    gets = [url for method, url in every_request(world) if method == "GET"]
    gets += [world.page_url(f"settings?location={loc['id']}") for loc in world.locations]
    gets += [world.page_url("dashboard?state=failed"), world.page_url("dashboard?q=INV")]
    gets += [f"{world.url}/plugins"]
    for url in gets:
        answer = context.request.get(url)
        shown[url] = answer.text()
    # And as the browser shows them, after the self-refreshing parts have been fetched.
    for name in ("settings", "contacts", "start", "dashboard"):
        page.goto(world.page_url(name))
        page.wait_for_load_state("networkidle")
        shown[f"{name} (rendered)"] = page.content()
    secrets = world.secrets()
    assert any(k.startswith("token") for k in secrets), "the add-on holds no token"
    for url, html in shown.items():
        for what, value in secrets.items():
            assert value not in html, f"{what} appears in {url}"
