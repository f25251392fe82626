"""``pm-xero connect`` and ``pm-xero worker``: refused with a clear message without a Xero app,
and end to end against a served sandbox – connect a location (Custom Connection), preview with
look-ups, run a worker until idle, and see the dashboard move."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from support.cli_practice import START, PracticeDir, unsent_practice

from hookspecs.refhost import RefHost
from pm_xero_plugin.cli.main import main
from pm_xero_plugin.sandbox import Sandbox


def test_worker_without_a_xero_app_exits_2_naming_the_variables(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["worker", "--once", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "PM_XERO_CLIENT_ID" in result.output
    assert "PM_XERO_CLIENT_SECRET" in result.output


def test_connect_without_a_xero_app_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["connect", "syd", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "PM_XERO_CLIENT_ID" in result.output


def test_the_data_dir_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PM_XERO_DATA_DIR", str(tmp_path / "elsewhere"))
    result = CliRunner().invoke(main, ["status"])
    assert result.exit_code == 2
    assert "elsewhere" in result.output


@pytest.fixture
def served() -> Iterator[tuple[Sandbox, str]]:
    sandbox = Sandbox(orgs=1)
    server = sandbox.serve()
    yield sandbox, server.url
    server.shutdown()


def _json(args: list[str], root: Path) -> Any:
    result = CliRunner().invoke(main, [*args, "--json", "--data-dir", str(root)])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.mark.slow
def test_connect_preview_and_worker_against_a_served_sandbox(
    tmp_path: Path, served: tuple[Sandbox, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox, url = served
    tenant = sandbox.tenant_ids[0]
    root = tmp_path / "pm"
    unsent_practice(root, tenant)
    monkeypatch.setenv("PM_XERO_URL", url)
    monkeypatch.setenv("PM_XERO_CLIENT_ID", sandbox.client_id)
    monkeypatch.setenv("PM_XERO_CLIENT_SECRET", sandbox.client_secret)
    runner = CliRunner()

    result = runner.invoke(
        main, ["connect", "syd", "--client-credentials", "--data-dir", str(root)]
    )
    assert result.exit_code == 0, result.output
    assert tenant in result.output
    assert f"Location syd now syncs to organisation {tenant}" in result.output
    status = _json(["status"], root)
    [org] = [o for o in status["organisations"] if o["tenant_id"] == tenant]
    assert org["connected"] is True, org
    assert org["account_codes"]["state"] == "ok", org

    report = _json(["preview"], root)
    [mine] = [o for o in report["organisations"] if o["tenant_id"] == tenant]
    assert mine["looked_up"] is True
    assert mine["kinds"]["invoice"]["count"] == 2
    assert mine["kinds"]["invoice"]["already_in_xero"] == 0

    result = runner.invoke(
        main,
        ["worker", "--once", "--max-seconds", "30", "--batch-size", "1", "--data-dir", str(root)],
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("pm-xero worker: synced ")
    invoice_puts = [
        r for r in sandbox.requests if r["method"] == "PUT" and r["path"].endswith("/Invoices")
    ]
    assert len(invoice_puts) == 2, "--batch-size 1: one invoice per request"
    status = _json(["status"], root)
    sydney = next(s for s in status["sections"] if s["location_id"] == "syd")
    assert sydney["counts"]["invoice"]["synced"] == 2, status["failures"]
    assert sydney["counts"]["contact"]["synced"] == 2

    # what the add-on sent is now synced by it: not a duplicate in the next preview
    report = _json(["preview"], root)
    [mine] = [o for o in report["organisations"] if o["tenant_id"] == tenant]
    assert mine["kinds"]["invoice"]["already_synced"] == 2
    assert mine["kinds"]["invoice"]["already_in_xero"] == 0
    assert mine["warnings"] == []
    assert mine["kinds"]["invoice"]["in_xero"] == 2, "what the add-on synced is in Xero"
    text = runner.invoke(main, ["preview", "--data-dir", str(root)])
    mapped = text.output.split(tenant, 1)[1]  # the sandbox organisation's table (lon: none)
    invoices = next(line.split() for line in mapped.splitlines() if line.startswith("invoices"))
    assert invoices[-2:] == ["2", "2"], text.output  # synced 2, in Xero 2 (not 0)


@pytest.mark.slow
def test_sigterm_stops_a_running_worker_cleanly(
    tmp_path: Path, served: tuple[Sandbox, str]
) -> None:
    import os
    import signal
    import subprocess
    import sys

    sandbox, url = served
    root = tmp_path / "pm"
    unsent_practice(root, sandbox.tenant_ids[0])
    env = {
        **os.environ,
        "PM_XERO_URL": url,
        "PM_XERO_CLIENT_ID": sandbox.client_id,
        "PM_XERO_CLIENT_SECRET": sandbox.client_secret,
        "PM_XERO_DATA_DIR": str(root),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from pm_xero_plugin.cli.main import main; main()",
            "worker",
            "--progress-seconds",
            "0.2",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()  # its status line: it is running (signals handled)
        assert first.startswith("pm-xero worker: "), (first, proc.communicate())
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert out.startswith("pm-xero worker: synced 0, failed 0")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_browser_connect_with_several_organisations_and_no_terminal_lists_them_for_tenant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a terminal to ask on, several organisations are an error listing them (exit 2)
    and nothing is saved; --tenant then maps the chosen one."""
    import httpx

    redirect = f"http://127.0.0.1:{_free_port()}/callback"
    sandbox = Sandbox(orgs=2, redirect_uris=[redirect])  # Xero: registered URIs only
    server = sandbox.serve()
    root = tmp_path / "pm"
    try:
        unsent_practice(root, "T-old")
        monkeypatch.setenv("PM_XERO_URL", server.url)
        monkeypatch.setenv("PM_XERO_CLIENT_ID", sandbox.client_id)
        monkeypatch.setenv("PM_XERO_CLIENT_SECRET", sandbox.client_secret)
        monkeypatch.setenv("PM_XERO_REDIRECT_URI", redirect)
        opened: list[str] = []

        def browser(url: str) -> bool:  # the admin consents; the sandbox redirects back
            opened.append(url)
            httpx.get(url, follow_redirects=True, timeout=10)
            return True

        monkeypatch.setattr("webbrowser.open", browser)
        first, second = sandbox.tenant_ids
        result = CliRunner().invoke(main, ["connect", "syd", "--data-dir", str(root)])
        assert result.exit_code == 2, result.output
        assert opened
        assert opened[0] in result.output
        assert "Waiting up to 300 s" in result.output
        assert "several organisations" in result.output
        assert "--tenant" in result.output
        assert first in result.output
        assert second in result.output
        assert _saved_location(root) == {"tenant_id": "T-old", "connection_enabled": True}
        assert _token_keys(root) == [], "nothing is kept from a connect that did not finish"
        result = CliRunner().invoke(
            main, ["connect", "syd", "--tenant", second, "--data-dir", str(root)]
        )
        assert result.exit_code == 0, result.output
    finally:
        server.shutdown()
    assert _saved_location(root) == {"tenant_id": second, "connection_enabled": True}
    assert _token_keys(root) == ["syd"]


def _saved_location(root: Path, location: str = "syd") -> Any:
    host = RefHost(root, load_entrypoints=False)
    try:
        return host.settings("xero")["locations"][location]
    finally:
        host.close()


def _token_keys(root: Path) -> list[str]:
    from pm_xero_plugin.xero.tokens import TokenStore

    host = RefHost(root, load_entrypoints=False)
    try:
        store = TokenStore(root / "plugins" / "xero" / "tokens.sqlite3", host.secret("xero"))
        return store.connection_keys()
    finally:
        host.close()


@pytest.mark.slow
def test_a_foreground_worker_prints_a_status_line_while_it_works(tmp_path: Path) -> None:
    """Issue 9 item 15: a foreground worker says what it does as it goes – what reached Xero and
    what is still queued – on stderr, every --progress-seconds (the sandbox holds each call
    0.3 s, so the run lasts a few of them)."""
    from support.cli_process import pm_xero

    from pm_xero_plugin.sandbox import Limits

    sandbox = Sandbox(orgs=1, limits=Limits(call_seconds=0.3))
    server = sandbox.serve()
    root = tmp_path / "pm"
    env = {
        "PM_XERO_URL": server.url,
        "PM_XERO_CLIENT_ID": sandbox.client_id,
        "PM_XERO_CLIENT_SECRET": sandbox.client_secret,
    }
    try:
        unsent_practice(root, sandbox.tenant_ids[0])
        connected = pm_xero("connect", "syd", "--client-credentials", "--data-dir", root, env=env)
        assert connected.returncode == 0, connected.stderr
        done = pm_xero(
            "worker",
            "--once",
            "--threads",
            "1",
            "--batch-size",
            "1",
            "--progress-seconds",
            "0.3",
            "--data-dir",
            root,
            env=env,
        )
    finally:
        server.shutdown()
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("pm-xero worker: ")]
    assert len(lines) >= 2, done.stderr
    assert any("queued: " in line and " ready" in line for line in lines), lines
    synced = [int(line.split("synced ")[1].split(",")[0]) for line in lines]
    assert synced == sorted(synced), lines
    assert synced[-1] > 0, lines
    assert done.stdout.startswith("pm-xero worker: synced ")


def test_the_status_line_names_a_wait_on_an_organisations_limit(practice: PracticeDir) -> None:
    """Waiting on Xero's minute limit is a wait, said as one, for that organisation only."""
    from pm_xero_plugin.dashboard.worker_progress import WorkerProgress, describe_wait
    from pm_xero_plugin.sync.worker import WorkerStats
    from pm_xero_plugin.xero.ratelimit import RateLimiter

    led = practice.ledger()
    try:
        led.transition(practice.failed_row, "ready")  # T1 has ready work
        limiter = RateLimiter()
        limiter.record_429("T1", 57, "minute")

        class Running:
            stats = WorkerStats(synced=3, failed=1, api_calls=4)

        lines: list[str] = []
        progress = WorkerProgress(Running(), led, limiter, lambda: START, lines.append, every=1)
        progress.tick()
        progress.tick()  # unchanged: not printed again
    finally:
        led.close()
    assert len(lines) == 1, lines
    assert lines[0].startswith("pm-xero worker: synced 3, failed 1, retrying 0, 4 API calls")
    assert "queued: 1 ready" in lines[0]
    assert "waiting 57 s for Xero's minute limit on T1" in lines[0]
    assert "T2" not in lines[0]
    assert describe_wait("local-concurrent") is None
    assert describe_wait("local-day") == "Xero's daily limit"
