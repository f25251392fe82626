"""``pm-xero demo --serve``: the practice the demo synced, served on loopback until SIGTERM."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from support.demo_helpers import clean_env, pm_xero

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

DEMO = (sys.executable, "-m", "pm_xero_plugin.cli.main", "demo")
SMALLEST = ("--live-rounds", "0")
SERVE = ("--serve", "--port", "0")
SERVING = re.compile(r"Serving the practice at (http://127\.0\.0\.1:\d+)/")


def _wait_for_url(proc: subprocess.Popen[str], log: Path, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = SERVING.search(log.read_text())
        if found:
            return found.group(1)
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"no URL printed (exit {proc.poll()}):\n{log.read_text()[-3000:]}")


def _signed_in(url: str, user: str) -> httpx.Client:
    client = httpx.Client(base_url=url, follow_redirects=False, timeout=20)
    answer = client.post("/login", data={"user": user, "password": "password"})
    assert answer.status_code == 303, answer.text
    return client


def test_demo_serve_serves_the_practice_connects_through_the_pages_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    errors = tmp_path / "stderr.txt"
    with errors.open("w") as stderr:
        proc = subprocess.Popen(
            [*DEMO, "--data-dir", str(tmp_path / "demo"), *SMALLEST, "--json", *SERVE],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=clean_env(PYTHONUNBUFFERED="1"),
        )
        try:
            url = _wait_for_url(proc, errors, timeout=240)
            assert "alex / password" in errors.read_text()
            assert "sam / password" in errors.read_text()
            admin = _signed_in(url, "alex")
            dashboard = admin.get("/plugins/xero/dashboard")
            assert dashboard.status_code == 200, dashboard.text[-2000:]
            settings = admin.get("/plugins/xero/settings")
            assert settings.status_code == 200, settings.text[-2000:]
            _connect_again_through_the_pages(admin, settings.text, url)
            _a_bookkeepers_edit_in_xero_reaches_the_books_page(admin, errors, url)
            staff = _signed_in(url, "sam")
            assert staff.get("/plugins/xero/dashboard").status_code == 403
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            out, _ = proc.communicate(timeout=15)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, errors.read_text()[-3000:]
    assert time.monotonic() - started < 10
    assert json.loads(out)["synced"]  # --json: stdout is still the one summary
    assert "stopped serving the practice" in errors.read_text()
    with pytest.raises(httpx.TransportError):
        httpx.get(url + "/login", timeout=2)


def _connect_again_through_the_pages(admin: httpx.Client, settings: str, url: str) -> None:
    """Press a location's "Connect to Xero": the sandbox's consent sends the browser back to the
    served pages' callback (registered with it), which completes the flow."""
    action = re.search(r'action="((?:http://[^/"]+)?/plugins/xero/connect/[a-z0-9_-]+)"', settings)
    assert action is not None, settings
    token = re.search(r'name="csrf" value="([^"]+)"', settings)
    assert token is not None
    to_xero = admin.post(action.group(1), data={"csrf": token.group(1)})
    assert to_xero.status_code == 303, to_xero.text
    sent = httpx.URL(to_xero.headers["location"]).params["redirect_uri"]
    assert sent == f"{url}/plugins/xero/connect/callback"
    consent = httpx.get(to_xero.headers["location"], follow_redirects=False, timeout=20)
    assert consent.status_code == 302, consent.text  # not "Invalid redirect_uri"
    back = consent.headers["location"]
    assert back.startswith(f"{url}/plugins/xero/connect/callback?")
    finished = admin.get(back)
    assert finished.status_code == 303, finished.text
    assert "/plugins/xero/" in finished.headers["location"]


def test_demo_serve_on_a_busy_port_is_one_line_and_exit_1_before_anything_runs(
    tmp_path: Path,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        run = pm_xero(
            "demo", "--data-dir", str(tmp_path / "demo"), "--serve", "--port", str(port), timeout=60
        )
    assert run.returncode == 1
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert f"--port {port}" in lines[0]
    assert "already in use" in lines[0]
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "demo" / "demo.json").exists()


def test_demo_port_without_serve_is_bad_input(tmp_path: Path) -> None:
    run = pm_xero("demo", "--data-dir", str(tmp_path / "demo"), "--port", "8080", timeout=60)
    assert run.returncode == 2
    assert "--port is the port of --serve" in run.stderr
    assert not (tmp_path / "demo").exists()


BOOKKEEPER = re.compile(
    r"curl -X POST (http://127\.0\.0\.1:\d+)/sandbox/xero/([0-9a-f-]+)/Contacts/"
)


def _a_bookkeepers_edit_in_xero_reaches_the_books_page(
    admin: httpx.Client, errors: Path, url: str
) -> None:
    """The demo subscribed its sandbox to the served webhook endpoint: a contact's email edited
    "in Xero" (the sandbox's bookkeeper API, as the demo prints it) arrives as a signed webhook,
    and the Books page lists the difference – no reconciliation asked for."""
    said = errors.read_text()
    assert f"the sandbox sends them to {url}/plugins/xero/webhooks/xero" in said, said[-3000:]
    found = BOOKKEEPER.search(said)
    assert found is not None, said[-3000:]
    xero, tenant = found.groups()
    contacts = httpx.get(f"{xero}/sandbox/xero/{tenant}/Contacts", timeout=20).json()["Contacts"]
    ours = next(c for c in contacts if str(c.get("ContactNumber") or "").startswith("C"))
    edited = httpx.post(
        f"{xero}/sandbox/xero/{tenant}/Contacts/{ours['ContactID']}",
        json={"EmailAddress": "moved@example.com"},
        timeout=20,
    )
    assert edited.status_code == 200, edited.text
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        books = admin.get("/plugins/xero/books")
        assert books.status_code == 200, books.text[-2000:]
        if "moved@example.com" in books.text:
            return
        time.sleep(0.5)
    raise AssertionError(f"the edit never reached the Books page:\n{books.text[-3000:]}")
