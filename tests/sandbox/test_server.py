"""The two ways to run it: served on loopback, and the ``pm-xero sandbox`` command."""

from __future__ import annotations

import re
import signal
import subprocess
from pathlib import Path

import httpx
import pytest
from support.sandbox_helpers import Api, connect, start_sandbox_cli

from pm_xero_plugin.sandbox import Sandbox

pytestmark = pytest.mark.slow


def test_served_on_loopback_speaks_http(sandbox: Sandbox) -> None:
    with sandbox.serve(port=0) as server, httpx.Client(base_url=server.url, timeout=5) as c:
        assert server.url.startswith("http://127.0.0.1:")
        api = Api(c, connect(c))
        assert api.contact()["Name"] == "Jane Pawson"
        home = c.get("/")
        assert "sandbox-client" in home.text
        assert "sandbox-secret" in home.text
        state = c.get("/sandbox/state").json()
        assert state[api.tenant]["contacts"][0]["Name"] == "Jane Pawson"
        requests = c.get("/sandbox/requests").json()
        assert requests[-1]["path"] == "/sandbox/state" or requests[-1]["path"] == "/"
        assert any(r["path"] == "/api.xro/2.0/Contacts" and r["status"] == 200 for r in requests)


def test_served_sandbox_drops_the_connection_for_a_lost_response(sandbox: Sandbox) -> None:
    with sandbox.serve(port=0) as server, httpx.Client(base_url=server.url, timeout=5) as c:
        api = Api(c, connect(c))
        sandbox.faults(api.tenant).script.append("lost")
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadTimeout)):
            api.put("/Contacts", {"Contacts": [{"Name": "Dropped"}]})
        assert len(sandbox.org(api.tenant).contacts) == 1


def test_cli_prints_where_it_listens_serves_and_exits_0_on_sigterm(spec_path: str) -> None:
    proc, url, out = start_sandbox_cli(
        "--time-scale",
        "60",
        "--orgs",
        "3",
        spec_path=spec_path,
        cwd=Path(__file__).resolve().parents[2],
        stderr=subprocess.PIPE,
    )
    try:
        assert "sandbox-client" in out
        assert "sandbox-secret" in out
        assert "time scale:    60" in out
        assert out.count("tenant:") == 3
        with httpx.Client(base_url=url, timeout=5) as c:
            tokens = connect(c)
            assert len(tokens.tenant_ids) == 3
            assert c.get("/api.xro/2.0/Organisation", headers=tokens.headers()).status_code == 200
            assert f"balances:      {url}/sandbox/balances/<tenant id>" in out
            books = c.get(f"/sandbox/balances/{tokens.tenant_ids[0]}")
            assert books.json() == {"balances": {}}  # a new organisation's books are empty
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def _start_cli(state: Path, spec_path: str) -> tuple[subprocess.Popen[str], str, str]:
    """Start ``pm-xero sandbox --state``; return the process, its URL and its printed output."""
    return start_sandbox_cli("--time-scale", "0", "--state", str(state), spec_path=spec_path)


def test_cli_with_state_resumes_books_and_tokens_after_being_killed(
    tmp_path: Path, spec_path: str
) -> None:
    state = tmp_path / "sandbox.json"
    proc, url, first_out = _start_cli(state, spec_path)
    try:
        assert f"state:         {state}" in first_out
        with httpx.Client(base_url=url, timeout=5) as c:
            tokens = connect(c)
            Api(c, tokens).contact("Kept Owner", "C7")
        proc.send_signal(signal.SIGKILL)  # no chance to save on the way out
        proc.wait(timeout=5)
        proc, url, second_out = _start_cli(state, spec_path)
        tenants = re.findall(r"tenant:\s+(\S+)", first_out)
        assert tenants
        assert re.findall(r"tenant:\s+(\S+)", second_out) == tenants
        with httpx.Client(base_url=url, timeout=5) as c:
            refreshed = c.post(
                "/connect/token",
                data={"grant_type": "refresh_token", "refresh_token": tokens.refresh_token},
                auth=("sandbox-client", "sandbox-secret"),
            )
            assert refreshed.status_code == 200, refreshed.text
            tokens.access_token = refreshed.json()["access_token"]
            contacts = Api(c, tokens).get("/Contacts", where='ContactNumber=="C7"').json()
            assert [x["Name"] for x in contacts["Contacts"]] == ["Kept Owner"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
