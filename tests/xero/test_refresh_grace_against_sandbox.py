"""Token refresh against the sandbox's Xero-like grace (the previous refresh token keeps working
for 30 minutes after a rotation, as often as needed): the add-on's single-flight refresh still
rotates once for many threads in two "processes", and a lost refresh answer is retried with the
old token and lands on the same successor."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.xero_client_fakes import CONN, SECRET

from pm_xero_plugin.sandbox import Sandbox, SandboxTransport
from pm_xero_plugin.xero.auth import (
    OAuthConfig,
    TokenProvider,
    begin_authorization,
    handle_callback,
)
from pm_xero_plugin.xero.errors import TransientError
from pm_xero_plugin.xero.tokens import TokenStore


class _LosingTokenAnswers(SandboxTransport):
    """The sandbox, except that the next `lose` token answers never arrive (handled by the
    sandbox, then a timeout) – a refresh whose response was lost on the way back."""

    lose = 0

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lost: list[str] = []  # the refresh tokens Xero issued in the lost answers

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.url.path == "/connect/token" and self.lose > 0:
            self.lose -= 1
            response.read()
            self.lost.append(response.json().get("refresh_token", ""))
            raise httpx.ReadTimeout("answer lost", request=request)
        return response


def _connected(tmp_path: Path) -> tuple[Sandbox, OAuthConfig, _LosingTokenAnswers]:
    sandbox = Sandbox()
    transport = _LosingTokenAnswers(app=sandbox.app)
    config = OAuthConfig.for_base_url(
        "http://sandbox.test",
        client_id=sandbox.client_id,
        client_secret=sandbox.client_secret,
        redirect_uri="http://127.0.0.1:8766/callback",
    )
    store = TokenStore(tmp_path / "tokens.sqlite3", SECRET)
    with httpx.Client(transport=transport) as http:
        consent = http.get(begin_authorization(config, store, CONN).url)
        handle_callback(
            config, store, dict(httpx.URL(consent.headers["Location"]).params), http=http
        )
    return sandbox, config, transport


def _token_calls(sandbox: Sandbox) -> int:
    return sum(1 for r in sandbox.requests if r["path"] == "/connect/token")


def _reaches_xero(sandbox: Sandbox, transport: Any, access_token: str) -> bool:
    with httpx.Client(transport=transport, base_url="http://sandbox.test") as http:
        answer = http.get(
            "/api.xro/2.0/Organisation",
            headers={
                "Authorization": f"Bearer {access_token}",
                "xero-tenant-id": sandbox.tenant_ids[0],
            },
        )
    return answer.status_code == 200


def test_many_threads_in_two_processes_refresh_once_even_though_xero_would_accept_more(
    tmp_path: Path,
) -> None:
    sandbox, config, transport = _connected(tmp_path)
    # Two processes: their own store objects and providers on one token file.
    providers = [
        TokenProvider(config, TokenStore(tmp_path / "tokens.sqlite3", SECRET), transport=transport)
        for _ in range(2)
    ]
    rejected = providers[0].access_token(CONN)
    before = _token_calls(sandbox)
    barrier = threading.Barrier(8)
    got: list[str] = []

    def refresh(provider: TokenProvider) -> None:
        barrier.wait()
        got.append(provider.invalidate(CONN, rejected))  # each saw a 401 on the old token

    threads = [threading.Thread(target=refresh, args=(providers[i % 2],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert _token_calls(sandbox) == before + 1  # one rotation, not one per thread
    assert len(got) == 8
    assert len(set(got)) == 1
    assert got[0] != rejected
    assert _reaches_xero(sandbox, transport, got[0])
    assert providers[1].store.reconnect_reason(CONN) is None


def test_a_lost_refresh_answer_is_retried_with_the_old_token_and_gets_the_same_successor(
    tmp_path: Path,
) -> None:
    sandbox, config, transport = _connected(tmp_path)
    store = TokenStore(tmp_path / "tokens.sqlite3", SECRET)
    provider = TokenProvider(config, store, transport=transport)
    old = store.load(CONN)
    assert old is not None
    transport.lose = 2
    for _ in range(2):  # Xero rotated the token twice over, but we never heard back
        with pytest.raises(TransientError):
            provider.invalidate(CONN, old.access_token)
        assert store.load(CONN) == old  # nothing half-written: the old set is kept for a retry
    fresh = provider.invalidate(CONN, old.access_token)
    stored = store.load(CONN)
    assert stored is not None
    assert stored.refresh_token != old.refresh_token
    assert transport.lost == [stored.refresh_token] * 2  # one successor, however often asked
    assert fresh == stored.access_token
    assert _reaches_xero(sandbox, transport, fresh)
    assert store.reconnect_reason(CONN) is None
