"""The browser tests' world: the sandbox and the reference host's web front, served on loopback.

Everything is real and runs on the real clock: the sandbox over HTTP (its clock running at real
speed, so Xero's rate-limit windows roll), the reference host with the Xero add-on and its worker
thread, the host's web front (login, plugin list, the add-on's pages mounted under
``/plugins/xero``) – and a headless Chromium driven by Playwright against it. The practice is
small (two locations, a few weeks of history) so that a back-sync drains in seconds.

The web front's port is chosen before the host starts: the add-on reads its redirect URI
(``PM_XERO_REDIRECT_URI``) at start-up, and the sandbox must have it registered (Xero compares
redirect URIs exactly).
"""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from hookspecs.refhost import RefHost, generate_practice
from hookspecs.refhost.web import RunningWeb, bind_loopback, serve_web
from pm_xero_plugin import plugin
from pm_xero_plugin.ledger.states import DEPENDENCY_GATES
from pm_xero_plugin.sandbox import Sandbox, SandboxClock
from pm_xero_plugin.sandbox.server import RunningServer
from support.addon_parts import running_engine, running_runtime

CHROMIUM = Path("/usr/bin/chromium")
"""Debian's chromium (``.ci/run`` installs it). Playwright's own browser download is never used."""
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
VIEWPORT = {"width": 1280, "height": 800}
SCREENSHOTS_ENV = "PM_XERO_SCREENSHOTS"
"""Set to a folder (``docs/screenshots`` for the README's) to keep the journey's screenshots
there; unset, they go to the test's own temporary folder, so a test run leaves the checkout as
it found it."""
SCREENSHOT_MAX_HEIGHT = 2200
"""A long page (the dashboard with its records list) is photographed down to this height."""


def screenshots_dir(fallback: Path) -> Path:
    """Where this run's screenshots go (see :data:`SCREENSHOTS_ENV`)."""
    chosen = os.environ.get(SCREENSHOTS_ENV)
    return Path(chosen) if chosen else fallback


PREFIX = "/plugins/xero"
ADMIN_LOGIN = "alex"
STAFF_LOGIN = "sam"
PASSWORD = "password"
"""The reference host's demo staff (``hookspecs.refhost.web.DEMO_STAFF``): alex is an admin,
sam is not."""
OPEN_STATES = ("ready", "sending", "retrying")


@dataclass
class BrowserWorld:
    """One served practice: the sandbox, the host, its web front; read back independently."""

    sandbox: Sandbox
    sandbox_server: RunningServer
    host: RefHost
    web: RunningWeb
    """The host's running web front (``.url``, ``.shutdown()``)."""
    client_secret: str
    organisations: list[str]
    """The sandbox's organisations (tenant ids), in creation order."""
    history_from: date
    history_to: date
    seen_tokens: set[str] = field(default_factory=set)

    @property
    def url(self) -> str:
        """The web front's root, e.g. ``http://127.0.0.1:40123``."""
        return str(self.web.url).rstrip("/")

    def page_url(self, path: str) -> str:
        """The URL of one of the add-on's pages (``"settings"``, ``"records/12"`` …)."""
        return f"{self.url}{PREFIX}/{path.lstrip('/')}"

    @property
    def locations(self) -> list[Mapping[str, Any]]:
        return list(self.host.locations())

    def org_name(self, tenant_id: str) -> str:
        return str(self.sandbox.inspect()[tenant_id]["name"])

    @property
    def engine(self) -> Any:
        """The add-on's engine (asserted started)."""
        return running_engine(self.host)

    @property
    def runtime(self) -> Any:
        """The add-on's Xero side (asserted present: the app is configured)."""
        return running_runtime(self.host)

    # -- reading the add-on's state -----------------------------------------------------------

    def unsettled(self) -> int:
        """Rows on their way to Xero: open, or waiting for another row to get there first."""
        return sum(
            r["n"]
            for r in self.engine.ledger.counts()
            if r["state"] in OPEN_STATES
            or (r["state"] == "waiting" and r["gate"] in DEPENDENCY_GATES)
        )

    def counts(self, state: str) -> int:
        return sum(r["n"] for r in self.engine.ledger.counts() if r["state"] == state)

    def wait_for(self, what: str, check: Callable[[], bool], seconds: float = 30.0) -> None:
        """Poll ``check`` (the worker runs on the real clock) until it holds."""
        deadline = time.monotonic() + seconds
        while not check():
            if time.monotonic() > deadline:
                status = self.host.sync_status(None) or {}
                raise AssertionError(
                    f"gave up waiting {seconds:.0f} s for {what}: {self.engine.ledger.counts()}; "
                    f"failures {status.get('failures')}; jobs {status.get('background_jobs')}; "
                    f"health {status.get('health')}"
                )
            time.sleep(0.1)

    def tokens(self) -> set[str]:
        """Every OAuth token the add-on holds now (read in plain text from its encrypted store)
        and every one seen before (tokens rotate on refresh)."""
        store = self.runtime.tokens
        for key in store.connection_keys():
            tokens = store.load(key)
            if tokens is None:
                continue
            for value in (tokens.access_token, tokens.refresh_token, tokens.id_token):
                if value:
                    self.seen_tokens.add(value)
        return set(self.seen_tokens)

    def secrets(self) -> dict[str, str]:
        """What no page may show: each token, the Xero app's client secret, the host's secret
        for the add-on (hex), by what it is."""
        found = {f"token {t[:6]}…": t for t in self.tokens()}
        found["the client secret"] = self.client_secret
        found["the host's secret for the add-on"] = self.host.secret("xero").hex()
        return found

    # -- the host's records --------------------------------------------------------------------

    def first_client(self, location_id: str) -> Mapping[str, Any]:
        return next(iter(self.host.iter_history("clients", location_id)))

    def new_invoice(self, location_id: str, category: str = "boarding") -> dict[str, Any]:
        """An invoice the front desk raises now (the add-on hears ``on_invoice_created``)."""
        client = self.first_client(location_id)
        line = {
            "description": "Night in the big kennel",
            "category": category,
            "quantity": "1",
            "unit_price": "55.00",
            "tax_rate": "10",
        }
        return self.host.create_invoice(
            {"location_id": location_id, "client_id": client["id"], "lines": [line]}
        )

    def account(self, tenant_id: str, code: str) -> dict[str, Any]:
        """The live account in the sandbox's chart (a test archives it as an accountant would
        in Xero: the organisation changed under the add-on's feet)."""
        found: dict[str, Any] = next(
            a for a in self.sandbox.org(tenant_id).accounts if a["Code"] == code
        )
        return found


def sign_in(page: Page, world: BrowserWorld, user: str) -> None:
    """Sign in on the host's own login page, as a person does."""
    page.goto(f"{world.url}/login")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/plugins"))


@contextmanager
def served_world(
    tmp_path: Path,
    spec_path: Path,
    *,
    background_jobs: bool,
    plugin_on: bool = True,
    locations: int = 2,
    clients: int = 60,
    history_days: int = 28,
) -> Iterator[BrowserWorld]:
    """Serve a fresh practice: sandbox, host (add-on registered, not connected), web front.

    :param background_jobs: run the add-on's long actions (contact sync, back-sync) on its job
        thread, as in production, so a page can show them progressing (the suite otherwise runs
        them inside the hook).
    :param plugin_on: ``False``: the admin has not switched the add-on on yet.
    """
    sock = bind_loopback(0)  # bound now: the redirect URI names its port before the host starts
    web_root = f"http://127.0.0.1:{sock.getsockname()[1]}"
    client_secret = "sandbox-" + secrets.token_urlsafe(24)
    sandbox = Sandbox(
        orgs=2,
        client_secret=client_secret,
        spec_path=spec_path,
        clock=SandboxClock(datetime.now(UTC).replace(microsecond=0), time_scale=1.0),
        seed=13,
        redirect_uris=[f"{web_root}{PREFIX}/connect/callback"],
    )
    sandbox_server = sandbox.serve(port=0)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PM_XERO_URL", sandbox_server.url)
        env.setenv("PM_XERO_CLIENT_ID", sandbox.client_id)
        env.setenv("PM_XERO_CLIENT_SECRET", client_secret)
        env.setenv("PM_XERO_REDIRECT_URI", f"{web_root}{PREFIX}/connect/callback")
        env.setenv("PM_XERO_WORKER", "thread")
        env.setenv("PM_XERO_JOBS", "background" if background_jobs else "inline")
        host = RefHost(tmp_path / "pm", load_entrypoints=False)
        host.register(plugin, name="xero")
        today = datetime.now(UTC).date()
        history_from, history_to = today - timedelta(days=history_days), today - timedelta(days=1)
        generate_practice(
            host, seed=29, locations=locations, clients=clients, start=history_from, end=history_to
        )
        if not plugin_on:
            host.disable_plugin("xero")
        host.start()
        web = serve_web(host, sock=sock)
        world = BrowserWorld(
            sandbox=sandbox,
            sandbox_server=sandbox_server,
            host=host,
            web=web,
            client_secret=client_secret,
            organisations=list(sandbox.seeded),
            history_from=history_from,
            history_to=history_to,
        )
        try:
            yield world
        finally:
            web.shutdown()
            host.stop()
            host.close()
            sandbox_server.shutdown()
    assert host.hook_failures == [], host.hook_failures
