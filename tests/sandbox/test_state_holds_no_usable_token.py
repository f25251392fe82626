"""The sandbox's state file holds no token anyone could use, and only its user may read it.

It keeps a SHA-256 of each issued token – as a real authorization server does – and checks the
presented token against it; the successor a rotated refresh token answers with during Xero's
grace is sealed under its predecessor. A state file written before hashing (tokens in clear) is
taken back, its tokens still work, and the next save holds none of them.
"""

from __future__ import annotations

import base64
import json
import stat
from datetime import UTC, datetime
from pathlib import Path

import httpx
from support.sandbox_helpers import Api, connect

from pm_xero_plugin.sandbox import Sandbox, SandboxClock
from pm_xero_plugin.sandbox.identity import token_hash
from pm_xero_plugin.sandbox.state_claim import claim_state

START = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


def _client(sandbox: Sandbox) -> httpx.Client:
    return httpx.Client(transport=sandbox.transport(), base_url="http://xero.sandbox")


def _refresh(client: httpx.Client, refresh_token: str) -> httpx.Response:
    return client.post(
        "/connect/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=("sandbox-client", "sandbox-secret"),
    )


def _forms(token: str) -> list[bytes]:
    raw = token.encode()
    return [raw, raw.hex().encode(), base64.b64encode(raw).rstrip(b"=")]


def test_the_state_file_holds_hashes_of_the_tokens_and_they_still_work_after_a_restart(
    tmp_path: Path,
) -> None:
    state = tmp_path / "sandbox.json"
    first = Sandbox(clock=SandboxClock(START), state_path=state)
    with _client(first) as client:
        tokens = connect(client)
        rotated = _refresh(client, tokens.refresh_token or "").json()
    issued = [tokens.access_token, tokens.refresh_token or "", rotated["access_token"]]
    issued.append(rotated["refresh_token"])
    saved = state.read_bytes()
    for token in issued:
        for form in _forms(token):
            assert form not in saved
    assert token_hash(rotated["refresh_token"]).encode() in saved
    assert stat.S_IMODE(state.stat().st_mode) == 0o600

    second = Sandbox(clock=SandboxClock(START), state_path=state)
    with _client(second) as client:
        api = Api(client, tokens)
        api.tokens.access_token = rotated["access_token"]
        assert api.get("/Contacts").status_code == 200  # checked against its hash
        again = _refresh(client, tokens.refresh_token or "")  # the grace, after a restart
        assert again.json()["refresh_token"] == rotated["refresh_token"]
        assert _refresh(client, "sbx_rt_guessed").json()["error"] == "invalid_grant"


def test_a_state_file_from_before_hashing_is_taken_back_and_rewritten_without_tokens(
    tmp_path: Path,
) -> None:
    state = tmp_path / "sandbox.json"
    first = Sandbox(clock=SandboxClock(START), state_path=state)
    with _client(first) as client:
        tokens = connect(client)
        rotated = _refresh(client, tokens.refresh_token or "").json()
    # Write the identity as it used to be saved: every token in clear.
    data = json.loads(state.read_text())
    identity = data["identity"]
    (access,) = [
        a for a in identity["access"] if a["token_hash"] == token_hash(tokens.access_token)
    ]
    access["token"] = tokens.access_token
    del access["token_hash"]
    for record in identity["refresh"]:
        if record["token_hash"] == token_hash(tokens.refresh_token or ""):
            record["token"] = tokens.refresh_token
            record["successor"] = rotated["refresh_token"]
        else:
            record["token"] = rotated["refresh_token"]
            record["successor"] = None
        record.pop("token_hash")
        record.pop("successor_hash")
        record.pop("successor_sealed")
        record["access_tokens"] = []
    state.write_text(json.dumps(data))

    second = Sandbox(clock=SandboxClock(START), state_path=state)
    with _client(second) as client:
        api = Api(client, tokens)
        assert api.get("/Contacts").status_code == 200
        again = _refresh(client, tokens.refresh_token or "")
        assert again.json()["refresh_token"] == rotated["refresh_token"]
    second.save()
    saved = state.read_bytes()
    for token in (tokens.access_token, tokens.refresh_token or "", rotated["refresh_token"]):
        assert token.encode() not in saved


def test_the_state_files_lock_and_published_url_are_the_users_only(tmp_path: Path) -> None:
    state = tmp_path / "new" / "sandbox.json"
    sandbox = Sandbox(clock=SandboxClock(START), state_path=state)
    with claim_state(state, "http://127.0.0.1:1") as _claim:
        sandbox.save()
        for path in state.parent.iterdir():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
    assert stat.S_IMODE(state.parent.stat().st_mode) == 0o700
