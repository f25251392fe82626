"""The reconciliation's end-to-end world: a synced practice whose Xero sends webhooks.

Everything is real and on the real clock, as in :mod:`support.browser_world` (whose
:class:`BrowserWorld` it builds on): the sandbox served on loopback, checking every answer against
Xero's spec; the reference host with the add-on, its worker thread and its job thread; the host's
web front on loopback, where Xero's webhooks arrive at ``/plugins/xero/webhooks/xero``. The add-on
has ``PM_XERO_WEBHOOK_KEY``, the sandbox is subscribed with that key (its intent-to-receive check
passed), both locations are connected and a small practice is back-synced – with the webhooks
its own writes made handled – before a test starts.

What a bookkeeper does in Xero goes through the sandbox's bookkeeper API
(``/sandbox/xero/{tenant}/…``), as a person in Xero's web app: no token, not the add-on's calls.
``pm-xero reconcile`` runs as a process on the host's data directory, as an operator runs it
beside the running host.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from hookspecs.refhost import RefHost, generate_practice
from hookspecs.refhost.web import bind_loopback, serve_web
from pm_xero_plugin import plugin
from pm_xero_plugin.demo import practice
from pm_xero_plugin.sandbox import Sandbox, SandboxClock
from pm_xero_plugin.sandbox.spec_check import SpecViolation, load_xero_spec, validate_httpx_request
from pm_xero_plugin.sandbox.webhooks import new_key
from support.browser_world import PREFIX, BrowserWorld
from support.cli_process import pm_xero

WEBHOOK_PATH = f"{PREFIX}/webhooks/xero"
BOOKKEEPER = "/sandbox/xero"


@dataclass
class BooksWorld:
    """A served, synced practice with webhooks (see the module); read back independently."""

    served: BrowserWorld
    webhook_key: str = field(repr=False)
    tenants: dict[str, str]
    """Location id → its organisation's tenant id."""
    violations: list[str] = field(default_factory=list)
    """Requests the add-on sent that break Xero's spec."""

    @property
    def sandbox(self) -> Sandbox:
        return self.served.sandbox

    @property
    def host(self) -> RefHost:
        return self.served.host

    @property
    def engine(self) -> Any:
        return self.served.engine

    @property
    def data_dir(self) -> Path:
        """The host's data directory (what ``--data-dir`` names)."""
        return Path(self.host.root)

    @property
    def webhook_url(self) -> str:
        return self.served.url + WEBHOOK_PATH

    # -- Xero, as the bookkeeper and as an independent reader ----------------------------------

    def bookkeeper(
        self, method: str, tenant_id: str, path: str, body: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """One change (or read) in Xero's web app; its answer, asserted 200."""
        url = f"{self.served.sandbox_server.url}{BOOKKEEPER}/{tenant_id}/{path.lstrip('/')}"
        answer = httpx.request(method, url, json=body, timeout=10.0)
        assert answer.status_code == 200, f"{method} {path}: {answer.status_code} {answer.text}"
        found: dict[str, Any] = answer.json()
        return found

    def deliveries(self) -> list[dict[str, Any]]:
        """The sandbox's webhook deliveries (``GET /sandbox/webhooks``), newest first."""
        answer = httpx.get(f"{self.served.sandbox_server.url}/sandbox/webhooks", timeout=10.0)
        assert answer.status_code == 200, answer.text
        view: list[dict[str, Any]] = answer.json()["deliveries"]
        return view

    def post_webhook(self, body: bytes, signature: str | None) -> httpx.Response:
        """A call to the add-on's webhook endpoint over HTTP, as anyone on the network can."""
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["x-xero-signature"] = signature
        return httpx.post(self.webhook_url, content=body, headers=headers, timeout=10.0)

    # -- the add-on ----------------------------------------------------------------------------

    def event_counts(self) -> dict[str, int]:
        counts: dict[str, int] = self.engine.ledger.xero_event_counts()
        return counts

    def kept_report(self) -> str | None:
        """The report the last pass kept (the ledger's meta), as JSON text."""
        from pm_xero_plugin.core.books import REPORT_META_KEY

        text: str | None = self.engine.ledger.meta(REPORT_META_KEY)
        return text

    def reconcile(self, *args: str) -> tuple[int, dict[str, Any]]:
        """``pm-xero reconcile --json --data-dir <the host's> ARGS…`` as a process, beside the
        running host; its exit status and report."""
        done = pm_xero(
            "reconcile",
            "--json",
            "--data-dir",
            self.data_dir,
            *args,
            env=self.cli_env(),
            timeout=60,
        )
        assert done.returncode in (0, 1), f"exit {done.returncode}: {done.stdout}{done.stderr}"
        report: dict[str, Any] = json.loads(done.stdout)
        return done.returncode, report

    def cli_env(self) -> dict[str, str]:
        """The Xero app the host runs with, for an operator's verb."""
        return {
            "PM_XERO_URL": self.served.sandbox_server.url,
            "PM_XERO_CLIENT_ID": self.sandbox.client_id,
            "PM_XERO_CLIENT_SECRET": self.served.client_secret,
        }

    def check_request(self, request: httpx.Request, spec: Any) -> None:
        if request.method in ("PUT", "POST"):
            try:
                validate_httpx_request(spec, request)
            except SpecViolation as exc:
                self.violations.append(str(exc))


def open_differences(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A ``--json`` report's open differences, every organisation's."""
    return [d for t in report["tenants"] for d in t["differences"] if d["decided"] is None]


@contextmanager
def books_world(
    tmp_path: Path, spec_path: Path, *, clients: int = 60, history_days: int = 28
) -> Iterator[BooksWorld]:
    """Serve a practice with webhooks set up, connected and back-synced (see the module).

    Like :func:`support.browser_world.served_world`, with the webhook key in the add-on's
    environment, answers checked against Xero's spec, and the journey to a first sync done
    the way the demo does it (no browser)."""
    sock = bind_loopback(0)
    web_root = f"http://127.0.0.1:{sock.getsockname()[1]}"
    client_secret = "sandbox-" + secrets.token_urlsafe(24)
    key = new_key()
    sandbox = Sandbox(
        orgs=2,
        client_secret=client_secret,
        spec_path=spec_path,
        clock=SandboxClock(datetime.now(UTC).replace(microsecond=0), time_scale=1.0),
        seed=17,
        redirect_uris=[f"{web_root}{PREFIX}/connect/callback"],
        check_responses=True,
    )
    sandbox_server = sandbox.serve(port=0)
    spec = load_xero_spec(spec_path)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PM_XERO_URL", sandbox_server.url)
        env.setenv("PM_XERO_CLIENT_ID", sandbox.client_id)
        env.setenv("PM_XERO_CLIENT_SECRET", client_secret)
        env.setenv("PM_XERO_REDIRECT_URI", f"{web_root}{PREFIX}/connect/callback")
        env.setenv("PM_XERO_WEBHOOK_KEY", key)
        env.setenv("PM_XERO_WORKER", "thread")
        env.setenv("PM_XERO_JOBS", "inline")
        host = RefHost(tmp_path / "pm", load_entrypoints=False)
        host.register(plugin, name="xero")
        today = datetime.now(UTC).date()
        history_from, history_to = today - timedelta(days=history_days), today - timedelta(days=1)
        generate_practice(
            host, seed=29, locations=2, clients=clients, start=history_from, end=history_to
        )
        host.start()
        web = serve_web(host, sock=sock)
        served = BrowserWorld(
            sandbox=sandbox,
            sandbox_server=sandbox_server,
            host=host,
            web=web,
            client_secret=client_secret,
            organisations=list(sandbox.seeded),
            history_from=history_from,
            history_to=history_to,
        )
        locations = [str(loc["id"]) for loc in served.locations]
        world = BooksWorld(served, key, dict(zip(locations, sandbox.seeded, strict=True)))
        try:
            served.runtime.client.request_hook = lambda r: world.check_request(r, spec)
            _subscribe(world)
            _first_sync(world)
            yield world
        finally:
            web.shutdown()
            host.stop()
            host.close()
            sandbox_server.shutdown()
    assert host.hook_failures == [], host.hook_failures
    assert world.violations == [], "requests that break Xero's spec:\n" + "\n".join(
        world.violations[:5]
    )
    assert sandbox.response_violations == [], "sandbox answers that break Xero's spec:\n" + (
        "\n".join(sandbox.response_violations[:5])
    )


def _subscribe(world: BooksWorld) -> None:
    """The developer portal's webhook, with the key the add-on has: Xero's intent-to-receive
    check must pass (a signed call 200, a wrongly signed one 401)."""
    answer = httpx.put(
        f"{world.served.sandbox_server.url}/sandbox/webhooks",
        json={"url": world.webhook_url, "key": world.webhook_key},
        timeout=15.0,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "OK", answer.json()["status"]


def _first_sync(world: BooksWorld) -> None:
    """Both locations connected, codes chosen, contacts and the history synced."""
    served = world.served
    with httpx.Client(timeout=10.0) as browser:
        for location_id, tenant_id in world.tenants.items():
            practice.authorize(served.runtime, location_id, browser, tenant_id)
    codes = {t: practice.account_codes(served.runtime, t) for t in world.tenants.values()}
    settings = practice.practice_settings(
        served.locations, world.tenants, codes, served.history_from.isoformat()
    )
    assert world.host.save_plugin_settings("xero", settings) == []
    world.host.start_contact_sync(None)
    served.wait_for("the contacts", lambda: served.unsettled() == 0)
    world.host.backfill(None, None)
    served.wait_for("the back-sync", lambda: served.unsettled() == 0)
    assert served.counts("failed") == 0, served.host.sync_status(None)
