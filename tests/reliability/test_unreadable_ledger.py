"""A ledger the add-on cannot read at start-up is said in words, and nothing the host saves
meanwhile is lost – across a restart of the host too.

A practice is synced; the host stops; its ledger file is then garbage, truncated to half, or
stamped by a newer schema. The host starts (the add-on's worker thread inside it) and the
dashboard must say what is wrong with which file and what to do – not "has not started yet".
A busy day at the practice follows, the host restarts with the ledger still unreadable, another
busy day. Every hook returns without raising. Then the admin moves the file aside, as the
dashboard says: with no restart, start-up is tried again by itself, the fresh ledger opens and
every record the host saved meanwhile has its row; after the admin's "Start contact sync" and
"Start syncing data" (a fresh ledger knows neither was done) every record in the window is in
Xero exactly once – what Xero already held matched by number, nothing failed.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from support.reliability_practice import (
    PLUGIN,
    Prepared,
    app_environment,
    exactly_once_problems,
    expected,
    found_in,
    make_sandbox,
    prepare,
)

from hookspecs.refhost import RefHost, live_day
from hookspecs.refhost.generator import day_rng
from hookspecs.refhost.store import KINDS
from hookspecs.refhost.testing import RecordingPlugin
from pm_xero_plugin import plugin
from pm_xero_plugin.core.engine import Engine
from pm_xero_plugin.sandbox import Sandbox

SEED = 20261203
SETTLE = 60.0
"""Seconds allowed for what the test waits on (start-up retried, records sent)."""

pytestmark = pytest.mark.slow


def _garbage(path: Path) -> None:
    path.write_bytes(os.urandom(64 * 1024))


def _truncated(path: Path) -> None:
    with path.open("r+b") as file:
        file.truncate(path.stat().st_size // 2)


def _newer_schema(path: Path) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA user_version = 999")
    finally:
        conn.close()


DAMAGE: dict[str, Callable[[Path], None]] = {
    "garbage": _garbage,
    "truncated": _truncated,
    "newer schema": _newer_schema,
}
SAID: dict[str, tuple[str, str]] = {
    # what the dashboard must say is wrong, and what it must say to do
    "garbage": ("damaged", "move it aside"),
    "truncated": ("damaged", "move it aside"),
    "newer schema": ("newer version", "upgrade"),
}


def _ledger_file(prepared: Prepared) -> Path:
    return prepared.root / "plugins" / PLUGIN / "ledger.sqlite3"


def _until(check: Callable[[], Any], seconds: float) -> Any:
    """Poll ``check`` until it returns something falsy or time runs out; its last answer."""
    deadline = time.monotonic() + seconds
    answer = check()
    while answer and time.monotonic() < deadline:
        time.sleep(0.2)
        answer = check()
    return answer


def _problems(prepared: Prepared, sandbox: Sandbox) -> list[str]:
    return exactly_once_problems(
        expected(prepared), found_in(sandbox, set(prepared.tenants.values()))
    )


@contextmanager
def _host(prepared: Prepared, recorder: RecordingPlugin | None = None) -> Iterator[RefHost]:
    host = RefHost(prepared.root, load_entrypoints=False)
    host.register(plugin, name=PLUGIN)
    if recorder is not None:
        host.register(recorder, name="recorder")
    host.start()
    try:
        yield host
    finally:
        host.stop()


def _busy_day(host: RefHost, days_ago: int) -> None:
    day = host.clock.now().date() - timedelta(days=days_ago)
    live_day(host, day, day_rng(SEED, day, {k: host.store.max_number(k) for k in KINDS}))


def _health_lines(host: RefHost) -> list[str]:
    status = host.sync_status() or {}
    return [f"{c.get('message')} | {c.get('action')}" for c in status.get("health") or []]


def _said(host: RefHost, path: Path, damage: str) -> list[str]:
    """The health lines naming the file with what is wrong and what to do (empty: not said)."""
    wrong, todo = SAID[damage]
    return [
        line
        for line in _health_lines(host)
        if str(path) in line and wrong in line.split(" | ")[0] and todo in line.split(" | ")[1]
    ]


def _rowless(engine: Engine, recorder: RecordingPlugin) -> list[str]:
    """The records the host handed over that have no row in the ledger."""
    missing: list[str] = []
    ledger = engine.ledger
    for hook, kwargs in recorder.calls:
        if hook in ("on_client_saved",):
            client = kwargs["client"]
            if not ledger.rows_for("contact", client["id"]):
                missing.append(f"customer C{client['number']}")
        elif hook.startswith("on_invoice_"):
            if not ledger.rows_for("invoice", kwargs["invoice"]["id"]):
                missing.append(f"invoice INV{kwargs['invoice']['number']} ({hook})")
        elif hook == "on_credit_note_created":
            if not ledger.rows_for("credit_note", kwargs["credit_note"]["id"]):
                missing.append(f"credit note CN{kwargs['credit_note']['number']}")
        elif hook == "on_payment_recorded":
            payment = kwargs["payment"]
            keys = [
                ("payment", f"{payment['id']}:{a['invoice_id']}") for a in payment["allocations"]
            ]
            if not any(
                ledger.rows_for(kind, key) for kind, key in keys or [("overpayment", payment["id"])]
            ):
                missing.append(f"payment PAY{payment['number']}")
    return missing


def _wait_for_engine() -> Engine | None:
    deadline = time.monotonic() + SETTLE
    while time.monotonic() < deadline:
        engine = plugin.get_engine()
        if engine is not None:
            return engine
        time.sleep(0.1)
    return None


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_an_unreadable_ledger_is_said_in_words_and_loses_nothing_saved_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    sandbox = make_sandbox(orgs=1, seed=SEED)
    monkeypatch.setenv("PM_XERO_JOBS", "background")
    with sandbox.serve(port=0) as server:
        prepared = prepare(
            tmp_path / "pm",
            sandbox,
            server.url,
            seed=3,
            locations=1,
            clients=10,
            days=30,
            window_days=20,
        )
        ledger_file = _ledger_file(prepared)
        with app_environment(server.url):
            os.environ["PM_XERO_WORKER"] = "thread"  # as in production; restored on the way out
            with _host(prepared):
                assert _until(lambda: _problems(prepared, sandbox), SETTLE) == []

            DAMAGE[damage](ledger_file)
            recorder = RecordingPlugin()
            with _host(prepared, recorder) as host:
                unsaid = _until(lambda: not _said(host, ledger_file, damage), 10.0)
                health_first = _health_lines(host)
                _busy_day(host, 2)
                host.stop()  # a restart with the ledger still unreadable
                host.start()
                unsaid_after_restart = not _said(host, ledger_file, damage)
                _busy_day(host, 1)
                # the practice's days come from the real date: a quiet one is followed by more
                # (within the window) until enough records were handed over meanwhile
                for days_ago in range(3, 9):
                    if sum(h.startswith("on_") for h, _ in recorder.calls) >= 10:
                        break
                    _busy_day(host, days_ago)
                failures = list(host.hook_failures)
                handed = [hook for hook, _ in recorder.calls if hook.startswith("on_")]

                aside = ledger_file.with_name("ledger.unreadable")
                aside.mkdir()
                for part in ledger_file.parent.glob("ledger.sqlite3*"):
                    part.rename(aside / part.name)
                engine = _wait_for_engine()
                assert engine is not None, f"start-up was not tried again: {_health_lines(host)}"
                assert plugin.wait_for_records(timeout=SETTLE)
                rowless = _rowless(engine, recorder)
                still_said = _until(lambda: _said(host, ledger_file, damage), 10.0)

                host.start_contact_sync(None)
                host.backfill(None, None)
                assert plugin.wait_for_jobs(timeout=SETTLE)
                left = _until(lambda: _problems(prepared, sandbox), SETTLE)
                failed = [
                    (r.kind, r.message)
                    for r in engine.ledger.find_rows(states=["failed"], limit=None)[0]
                ]

    assert not unsaid, f"the dashboard does not say what is wrong and what to do: {health_first}"
    assert not unsaid_after_restart, "after a restart the dashboard no longer says it"
    assert failures == [], "a hook raised into the host"
    assert len(handed) >= 10, handed
    assert rowless == [], f"records saved while the ledger was unreadable were lost: {rowless}"
    assert still_said == [], "the condition stays on the dashboard once the ledger opened"
    assert left == [], "\n".join(left)
    assert failed == []
