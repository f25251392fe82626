"""``pm-xero connect`` as a person runs it, a real process against a served sandbox: the
browser round trip (the test plays the admin's browser on the printed URL), the choice among
several organisations on a terminal, no browser and no redirect, and connecting all or
nothing – a connect that cannot be completed leaves the working connection as it was."""

from __future__ import annotations

import json
import os
import pty
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.cli_practice import unsent_practice
from support.cli_process import PM_XERO, cli_env, pm_xero

from hookspecs.refhost import RefHost
from pm_xero_plugin.sandbox import Sandbox
from pm_xero_plugin.xero.tokens import TokenStore

pytestmark = pytest.mark.slow


@dataclass
class Served:
    sandbox: Sandbox
    env: dict[str, str]

    @property
    def tenants(self) -> list[str]:
        return list(self.sandbox.tenant_ids)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served() -> Iterator[Served]:
    """Two organisations; the browser flow reaches both, a Custom Connection only the first."""
    redirect = f"http://127.0.0.1:{_free_port()}/callback"
    sandbox = Sandbox(orgs=2, redirect_uris=[redirect])
    server = sandbox.serve()
    env = {
        "PM_XERO_URL": server.url,
        "PM_XERO_CLIENT_ID": sandbox.client_id,
        "PM_XERO_CLIENT_SECRET": sandbox.client_secret,
        "PM_XERO_REDIRECT_URI": redirect,
        "BROWSER": "false",  # no browser on this machine: webbrowser.open() says so
    }
    try:
        yield Served(sandbox, env)
    finally:
        server.shutdown()


def _browser_connect(
    root: Path, served: Served, *args: str, answer: str | None = None
) -> tuple[int, str, str]:
    """``pm-xero connect syd ARGS`` with the test as the admin's browser: read the URL it
    prints, consent (the sandbox redirects to the loopback URI it serves), and – with
    ``answer`` – type it at the terminal prompt (stdin is a pseudo-terminal then)."""
    master = slave = None
    if answer is not None:
        master, slave = pty.openpty()
    proc = subprocess.Popen(
        [*PM_XERO, "connect", "syd", "--data-dir", str(root), *args],
        env=cli_env(served.env),
        stdin=slave if slave is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    seen = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if line.startswith("Waiting up to"):
                break
        url = next(line.strip() for line in seen if "/identity/connect/authorize?" in line)
        httpx.get(url, follow_redirects=True, timeout=10)
        if master is not None:
            os.write(master, answer.encode() if answer else b"")
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for fd in (master, slave):
            if fd is not None:
                os.close(fd)
    return proc.returncode, "".join(seen) + out, err


def _saved(root: Path) -> Any:
    host = RefHost(root, load_entrypoints=False)
    try:
        return host.settings("xero")["locations"]["syd"]
    finally:
        host.close()


def _tokens(root: Path) -> dict[str, list[str]]:
    """Connection key -> the organisations its stored tokens reach."""
    host = RefHost(root, load_entrypoints=False)
    try:
        store = TokenStore(root / "plugins" / "xero" / "tokens.sqlite3", host.secret("xero"))
        return {key: store.tenant_ids(key) for key in store.connection_keys()}
    finally:
        host.close()


def test_several_organisations_are_offered_as_a_numbered_choice_on_a_terminal(
    tmp_path: Path, served: Served
) -> None:
    root = tmp_path / "pm"
    unsent_practice(root, "T-old")
    first, second = served.tenants
    code, out, err = _browser_connect(root, served, answer="2\n")
    assert code == 0, (out, err)
    assert "No web browser could be started here: open the URL above yourself." in out
    assert "1) Sandbox Pets Ltd 1" in out
    assert "2) Sandbox Pets Ltd 2" in out
    assert f"Location syd now syncs to organisation {second}" in out
    assert _saved(root) == {"tenant_id": second, "connection_enabled": True}
    tokens = _tokens(root)
    assert list(tokens) == ["syd"]
    assert set(tokens["syd"]) == {first, second}


def test_no_redirect_within_the_timeout_is_one_line_and_changes_nothing(
    tmp_path: Path, served: Served
) -> None:
    root = tmp_path / "pm"
    unsent_practice(root, "T-old")
    done = pm_xero("connect", "syd", "--timeout", "2", "--data-dir", root, env=served.env)
    assert done.returncode == 1, done
    assert "Open this URL to connect syd to Xero:" in done.stdout
    assert "No web browser could be started here" in done.stdout
    assert "Waiting up to 2 s for Xero to send the browser back" in done.stdout
    assert done.stderr.strip().splitlines() == [
        "pm-xero connect: Xero was not connected: no redirect came back within 2 s; nothing was "
        "changed – run pm-xero connect again (or --timeout longer)"
    ]
    assert _saved(root) == {"tenant_id": "T-old", "connection_enabled": True}
    assert _tokens(root) == {}


def test_a_connect_that_cannot_complete_keeps_the_working_connection(
    tmp_path: Path, served: Served
) -> None:
    """The issue's case: a location syncing to one organisation is connected with a Custom
    Connection that reaches another. The move is refused (its records are in the first), the
    command fails saying so, and the location is still connected and still syncs."""
    root = tmp_path / "pm"
    first, second = served.tenants
    unsent_practice(root, second)
    code, out, err = _browser_connect(root, served, "--tenant", second)
    assert code == 0, (out, err)
    worker = pm_xero("worker", "--once", "--max-seconds", "60", "--data-dir", root, env=served.env)
    assert worker.returncode == 0, worker.stderr
    before = _tokens(root)
    assert set(before["syd"]) == {first, second}

    done = pm_xero("connect", "syd", "--client-credentials", "--data-dir", root, env=served.env)
    assert done.returncode == 1, done
    said = done.stderr.strip().splitlines()
    assert len(said) == 1, said
    assert f"cannot move to {first}" in said[0]
    assert "nothing was changed" in said[0]
    assert "previous connection still works" in said[0]
    assert _saved(root) == {"tenant_id": second, "connection_enabled": True}
    assert _tokens(root) == before, "the working tokens are untouched, no staging key is left"

    status = pm_xero("status", "--json", "--data-dir", root, env=served.env)
    [org] = [o for o in json.loads(status.stdout)["organisations"] if o["tenant_id"] == second]
    assert org["connected"] is True, org
    again = pm_xero("worker", "--once", "--max-seconds", "60", "--data-dir", root, env=served.env)
    assert again.returncode == 0, again
    assert "failed 0" in again.stdout.splitlines()[-1], again
