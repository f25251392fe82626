"""Xero's webhooks end to end on this side: the refhost's served web front (uvicorn on loopback)
forwards ``POST /plugins/xero/webhooks/xero`` without a session to the add-on's app, whose
route keeps the events in a real SQLite ledger through :class:`LedgerWebhookSink` and wakes a
pass – while the add-on's pages still need the sign-in.

The plugin here builds its ``PluginApp`` as the add-on's ``web_app`` does once wired
(``build_app(..., webhooks=LedgerWebhookSink(...))`` and ``public_paths=(WEBHOOK_PATH,)``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest

from hookspecs import hookimpl
from hookspecs.pages import PluginApp
from hookspecs.refhost import ManualClock, RefHost, serve_web
from pm_xero_plugin.core.engine import Engine
from pm_xero_plugin.core.gates import open_ledger
from pm_xero_plugin.ledger import SqliteLedger
from pm_xero_plugin.pages.app import build_app
from pm_xero_plugin.pages.webhooks import REPLAY_WINDOW, WEBHOOK_PATH, LedgerWebhookSink, signature

KEY = "served-webhook-key"
NOW = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
TENANT = "c2cc9b6e-9458-4c7d-93cc-f02b81b0594f"
URL_PATH = f"/plugins/xero{WEBHOOK_PATH}"


class WiredXero:
    """The add-on's pages with the webhook endpoint, on a real ledger."""

    def __init__(self, ledger: SqliteLedger, host: RefHost) -> None:
        self.woken = threading.Event()
        engine = cast(Engine, SimpleNamespace(ledger=ledger))
        self.sink = LedgerWebhookSink(
            lambda: engine, lambda: KEY, clock=lambda: NOW, wake=self.woken.set
        )
        self.host = host

    @hookimpl
    def web_app(self) -> PluginApp:
        app = build_app(
            engine=lambda: None,
            runtime=lambda: None,
            secret=lambda: self.host.secret("xero"),
            practice_id=lambda: self.host.practice_id,
            webhooks=self.sink,
        )
        return PluginApp(name="xero", title="Xero", app=app, public_paths=(WEBHOOK_PATH,))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[RefHost, SqliteLedger, WiredXero]]:
    host = RefHost(
        tmp_path / "pm",
        clock=ManualClock(NOW),
        load_entrypoints=False,
        practice_id="practice-7",
    )
    ledger = open_ledger(tmp_path / "ledger.sqlite3", clock=lambda: NOW)
    plugin = WiredXero(ledger, host)
    host.register(plugin, name="xero")
    host.start()
    try:
        yield host, ledger, plugin
    finally:
        host.stop()
        host.close()
        ledger.close()


def delivery(*resources: str, when: datetime = NOW - timedelta(seconds=30)) -> bytes:
    return json.dumps(
        {
            "events": [
                {
                    "resourceUrl": f"https://api.xero.com/api.xro/2.0/Invoices/{resource}",
                    "resourceId": resource,
                    "tenantId": TENANT,
                    "tenantType": "ORGANISATION",
                    "eventCategory": "INVOICE",
                    "eventType": "UPDATE",
                    "eventDateUtc": when.replace(tzinfo=None).isoformat(timespec="milliseconds"),
                }
                for resource in resources
            ],
            "firstEventSequence": 1,
            "lastEventSequence": max(len(resources), 1),
            "entropy": "S0m3r4Nd0mt3xt",
        }
    ).encode()


def post(client: httpx.Client, body: bytes, sig: str | None) -> Any:
    headers = {"content-type": "application/json"}
    if sig is not None:
        headers["x-xero-signature"] = sig
    return client.post(URL_PATH, content=body, headers=headers)


def test_xeros_webhooks_reach_the_ledger_without_a_session_and_the_pages_still_need_one(
    world: tuple[RefHost, SqliteLedger, WiredXero],
) -> None:
    host, ledger, plugin = world
    key = KEY.encode()
    body = delivery("inv-1", "inv-2")
    with serve_web(host, port=0) as web, httpx.Client(base_url=web.url, timeout=10) as client:
        assert post(client, delivery(), signature(delivery(), key)).status_code == 200  # ITR
        assert ledger.pending_xero_events() == []
        for forged in (None, signature(body, b"other"), signature(delivery("inv-3"), key)):
            assert post(client, body, forged).status_code == 401
        assert ledger.pending_xero_events() == []
        assert not plugin.woken.is_set()

        answer = post(client, body, signature(body, key))
        assert (answer.status_code, answer.content) == (200, b"")
        assert plugin.woken.wait(5)
        pending = ledger.pending_xero_events()
        assert sorted(e.resource_id for e in pending) == ["inv-1", "inv-2"]
        assert {(e.tenant_id, e.category, e.received_at) for e in pending} == {
            (TENANT, "INVOICE", NOW)
        }

        plugin.woken.clear()
        assert post(client, body, signature(body, key)).status_code == 200  # a retry
        assert len(ledger.pending_xero_events()) == 2
        assert not plugin.woken.is_set()  # nothing new, no pass woken

        old = delivery("inv-9", when=NOW - REPLAY_WINDOW - timedelta(hours=1))
        assert post(client, old, signature(old, key)).status_code == 401
        assert len(ledger.pending_xero_events()) == 2

        page = client.get("/plugins/xero/dashboard", follow_redirects=False)
        assert page.status_code == 303
        assert page.headers["location"].startswith("/login?next=")
        for trick in (f"{URL_PATH}/", f"{URL_PATH}/../settings", "/plugins/xero/webhooks/%78ero"):
            assert client.post(trick, content=body).status_code == 401, trick
    assert ledger.xero_event_counts()["pending"] == 2


def test_a_ledger_locked_by_another_writer_gets_503_in_time_and_the_events_land_after(
    world: tuple[RefHost, SqliteLedger, WiredXero],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A backup tool or another worker holding SQLite's write lock: Xero gets its 503 well within
    its 5 s (and retries); the write waiting on the lock lands once it is free, and wakes a pass."""
    import sqlite3

    from pm_xero_plugin.pages import webhooks

    monkeypatch.setattr(webhooks, "ANSWER_WITHIN", 0.3)
    host, ledger, plugin = world
    body = delivery("inv-1")
    other = sqlite3.connect(tmp_path / "ledger.sqlite3", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with serve_web(host, port=0) as web, httpx.Client(base_url=web.url, timeout=10) as client:
            answer = post(client, body, signature(body, KEY.encode()))
            assert answer.status_code == 503
            assert answer.elapsed < timedelta(seconds=2)
            other.execute("ROLLBACK")
            assert plugin.woken.wait(10)
            assert [e.resource_id for e in ledger.pending_xero_events()] == ["inv-1"]
            assert post(client, body, signature(body, KEY.encode())).status_code == 200  # retry
            assert len(ledger.pending_xero_events()) == 1
    finally:
        other.close()


def test_the_add_ons_own_app_takes_its_webhook_path_past_the_hosts_sign_in(
    started_host: RefHost,
) -> None:
    """The add-on as the host loads it: its ``PluginApp`` lists the path, and the route answers
    (an empty 401: no key is set up here) where any other path gets the host's sign-in."""
    from starlette.testclient import TestClient

    from hookspecs.refhost.web import WebFront

    client = TestClient(WebFront(started_host), follow_redirects=False)
    body = delivery("inv-1")
    answer = client.post(
        URL_PATH, content=body, headers={"x-xero-signature": signature(body, b"k")}
    )
    assert (answer.status_code, answer.content) == (401, b"")
    assert client.get(URL_PATH).status_code == 405  # the route's own answer, no sign-in page
    refused = client.post("/plugins/xero/settings", content=b"")
    assert refused.status_code == 401
    assert refused.text == "Sign in to Pet Manager first."
