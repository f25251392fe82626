"""The reconciliation wired into the add-on: XeroBooks built with the runtime's client, the
webhook endpoint public and keeping events in the practice's ledger, and a burst of webhook
deliveries handled by one pass on the job thread – never on the request."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from support.ledger_helpers import START, SYDNEY

from hookspecs.pages import SCOPE_KEY, PublicContext, Receive, Scope, Send
from hookspecs.refhost import ManualClock, RefHost
from pm_xero_plugin import addon as addon_module
from pm_xero_plugin import plugin
from pm_xero_plugin.pages.webhooks import WEBHOOK_PATH

KEY = "xero-webhook-key-0123456789abcdef"


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RefHost]:
    for name, value in {
        "PM_XERO_CLIENT_ID": "app",
        "PM_XERO_CLIENT_SECRET": "secret",
        "PM_XERO_URL": "http://127.0.0.1:9",  # never reached: no organisation is connected
        "PM_XERO_WORKER": "off",
        "PM_XERO_WEBHOOK_KEY": KEY,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(addon_module, "BOOKS_WAKE_DELAY", 0.2)
    made = RefHost(tmp_path / "pm", clock=ManualClock(START), load_entrypoints=False)
    made.add_location(SYDNEY)
    made.register(plugin, name="xero")
    made.start()
    yield made
    made.stop()
    made.close()


def _delivery(n: int) -> bytes:
    when = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
    return json.dumps(
        {
            "events": [
                {
                    "resourceUrl": f"https://api.xero.com/api.xro/2.0/Contacts/{n}",
                    "resourceId": f"00000000-0000-4000-8000-{n:012d}",
                    "eventDateUtc": when,
                    "eventType": "UPDATE",
                    "eventCategory": "CONTACT",
                    "tenantId": "aef86862-2015-4b6b-88bc-d89032cecc50",
                    "tenantType": "ORGANISATION",
                }
            ],
            "firstEventSequence": n,
            "lastEventSequence": n,
            "entropy": f"E{n}",
        }
    ).encode()


def _signed(body: bytes) -> dict[str, str]:
    digest = hmac.new(KEY.encode(), body, hashlib.sha256).digest()
    return {
        "x-xero-signature": base64.b64encode(digest).decode(),
        "content-type": "application/json",
    }


def _public(app: Any, practice_id: str) -> Any:
    async def forwarded(scope: Scope, receive: Receive, send: Send) -> None:
        await app({**scope, SCOPE_KEY: PublicContext(practice_id)}, receive, send)

    return forwarded


def test_the_add_on_reconciles_through_the_runtime_s_client(host: RefHost) -> None:
    added = plugin.get_addon()
    runtime = plugin.get_runtime()

    assert added is not None
    assert runtime is not None
    assert added.books is not None
    assert added.books.client is runtime.client


def test_the_webhook_endpoint_is_a_public_path_of_the_plugin_s_app() -> None:
    app = plugin.web_app()

    assert app.public_paths == (WEBHOOK_PATH,)
    assert app.is_public(WEBHOOK_PATH)


def test_a_burst_of_webhook_deliveries_is_kept_and_handled_by_one_pass_on_the_job_thread(
    host: RefHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hookspecs.host import practice_id_of

    added = plugin.get_addon()
    assert added is not None
    assert added.books is not None
    passes: list[str] = []
    real = added.books.events_pass

    def counted() -> Any:
        passes.append(threading.current_thread().name)
        return real()

    monkeypatch.setattr(added.books, "events_pass", counted)
    client = TestClient(_public(added.web_app(), practice_id_of(host) or "practice-1"))

    answers = [
        client.post(WEBHOOK_PATH, content=body, headers=_signed(body))
        for body in (_delivery(n) for n in range(1, 6))
    ]

    assert [a.status_code for a in answers] == [200] * 5
    assert passes == []  # nothing ran on the request
    ledger = added.engine.ledger if added.engine is not None else None
    assert ledger is not None
    deadline = time.monotonic() + 5.0
    while ledger.xero_event_counts()["pending"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert added.jobs.wait(timeout=5.0)
    counts = ledger.xero_event_counts()
    assert (counts["pending"], counts.get("unknown_tenant")) == (0, 5)  # no such organisation
    assert passes == ["pm-xero-jobs"]


def test_an_unsigned_call_to_the_webhook_endpoint_is_refused_and_wakes_nothing(
    host: RefHost,
) -> None:
    from hookspecs.host import practice_id_of

    added = plugin.get_addon()
    assert added is not None
    client = TestClient(_public(added.web_app(), practice_id_of(host) or "practice-1"))

    answer = client.post(WEBHOOK_PATH, content=_delivery(1))

    assert answer.status_code == 401
    assert added.engine is not None
    assert added.engine.ledger.xero_event_counts()["pending"] == 0
    assert addon_module.BOOKS_EVENTS not in added.jobs.pending()


def test_an_admin_s_reconcile_returns_at_once_and_runs_on_the_job_thread(
    host: RefHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PM_XERO_JOBS", "background")
    added = plugin.get_addon()
    assert added is not None
    assert added.books is not None
    started = threading.Event()
    release = threading.Event()
    ran_on: list[str] = []
    real = added.books.run_pass

    def slow_pass(**kwargs: Any) -> Any:
        ran_on.append(threading.current_thread().name)
        started.set()
        release.wait(5.0)  # a read of Xero's books that takes its time
        return real(**kwargs)

    monkeypatch.setattr(added.books, "run_pass", slow_pass)

    said = plugin.admin_action(plugin="xero", action="reconcile", params={}, practice_id=None)

    assert said is not None
    assert said["ok"], said
    assert "started" in said["message"]
    assert started.wait(5.0)
    assert ran_on == ["pm-xero-jobs"]  # not the caller's thread
    release.set()
    assert added.jobs.wait(timeout=5.0)
