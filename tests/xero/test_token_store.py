"""Token storage and refresh: encrypted at rest, rotated tokens durable before use, one refresh
at a time across threads and processes, invalid_grant turns into "reconnect"."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl

import httpx
import pytest
from support.xero_client_fakes import CONN, SECRET, FakeIdentity

from pm_xero_plugin.xero.auth import OAuthConfig, TokenProvider
from pm_xero_plugin.xero.errors import ReconnectRequired, TransientError
from pm_xero_plugin.xero.tokens import TokenSet, TokenStore

ROOT = "https://sandbox.test"


def config() -> OAuthConfig:
    return OAuthConfig.for_base_url(
        ROOT,
        client_id=FakeIdentity.CLIENT_ID,
        client_secret=FakeIdentity.CLIENT_SECRET,
        redirect_uri="http://127.0.0.1:8765/callback",
    )


def seeded(db_path: Path, identity: FakeIdentity, *, expires_in: float) -> TokenStore:
    """A store holding the identity server's current tokens, expiring in ``expires_in`` s."""
    store = TokenStore(db_path, SECRET)
    payload = identity.issue()
    tokens = TokenSet.from_token_response({**payload, "expires_in": expires_in}, now=time.time())
    store.save(CONN, tokens, tenant_ids=["tenant-a"])
    return store


def provider(store: TokenStore, identity: FakeIdentity) -> TokenProvider:
    return TokenProvider(config(), store, transport=httpx.MockTransport(identity))


def test_tokens_are_encrypted_at_rest(db_path: Path) -> None:
    store = TokenStore(db_path, SECRET)
    tokens = TokenSet("access-PLAINTEXT-1", "refresh-PLAINTEXT-2", time.time() + 1800, "s")
    store.save(CONN, tokens)
    store.add_pending_flow("state-1", CONN, "verifier-PLAINTEXT-3")
    files = [p for p in db_path.parent.iterdir() if p.name.startswith(db_path.name)]
    raw = b"".join(p.read_bytes() for p in files)
    assert raw  # the data is somewhere in these files…
    for secret in (b"access-PLAINTEXT-1", b"refresh-PLAINTEXT-2", b"verifier-PLAINTEXT-3"):
        assert secret not in raw  # …but never in clear
    assert TokenStore(db_path, SECRET).load(CONN) == tokens


def test_a_different_host_secret_cannot_read_the_tokens(db_path: Path) -> None:
    TokenStore(db_path, SECRET).save(CONN, TokenSet("a", "r", time.time() + 1800))
    with pytest.raises(ReconnectRequired):
        TokenStore(db_path, b"another secret").load(CONN)


def test_token_set_repr_hides_the_tokens() -> None:
    tokens = TokenSet("access-SECRET", "refresh-SECRET", 1.0, "scope", id_token="id-SECRET")
    for text in (repr(tokens), str(tokens), repr([tokens])):
        assert "SECRET" not in text


def test_a_fresh_token_is_used_without_calling_xero(db_path: Path) -> None:
    identity = FakeIdentity()
    store = seeded(db_path, identity, expires_in=1800)
    assert provider(store, identity).access_token(CONN) == identity.current_access()
    assert identity.token_calls == 0


@pytest.mark.parametrize("expires_in", [10.0, 59.0])
def test_a_token_close_to_expiry_is_refreshed_first(db_path: Path, expires_in: float) -> None:
    identity = FakeIdentity()
    store = seeded(db_path, identity, expires_in=expires_in)
    token = provider(store, identity).access_token(CONN)
    assert identity.refresh_calls == 1
    assert token == identity.current_access()


def test_the_rotated_refresh_token_is_stored_before_the_access_token_is_handed_out(
    db_path: Path,
) -> None:
    identity = FakeIdentity()
    store = seeded(db_path, identity, expires_in=5)
    token = provider(store, identity).access_token(CONN)
    reopened = TokenStore(db_path, SECRET).load(CONN)  # what a crash right now would leave
    assert reopened is not None
    assert reopened.refresh_token == identity.refresh_token
    assert reopened.access_token == token
    assert reopened.expires_at > time.time() + 1700


def test_a_lost_refresh_answer_keeps_the_old_tokens_for_a_retry(db_path: Path) -> None:
    identity = FakeIdentity()
    store = seeded(db_path, identity, expires_in=5)
    before = store.load(CONN)
    identity.fail_next = httpx.ReadTimeout("lost")
    tokens = provider(store, identity)
    with pytest.raises(TransientError):
        tokens.access_token(CONN)
    assert store.load(CONN) == before
    assert store.reconnect_reason(CONN) is None


def test_invalid_grant_means_reconnect_and_stops_further_refreshes(db_path: Path) -> None:
    identity = FakeIdentity()
    store = seeded(db_path, identity, expires_in=5)
    identity.refresh_token = "rotated-elsewhere"
    tokens = provider(store, identity)
    with pytest.raises(ReconnectRequired) as caught:
        tokens.access_token(CONN)
    assert "invalid_grant" in caught.value.message
    assert store.reconnect_reason(CONN) is not None
    calls = identity.token_calls
    with pytest.raises(ReconnectRequired):
        tokens.access_token(CONN)
    assert identity.token_calls == calls
    # Connecting again clears the mark.
    store.save(CONN, TokenSet("a2", "r2", time.time() + 1800))
    assert tokens.access_token(CONN) == "a2"


def test_an_unknown_connection_needs_connecting(db_path: Path) -> None:
    with pytest.raises(ReconnectRequired):
        provider(TokenStore(db_path, SECRET), FakeIdentity()).access_token("nowhere")


def test_invalidate_refreshes_only_if_the_rejected_token_is_still_current(db_path: Path) -> None:
    identity = FakeIdentity()
    store = seeded(db_path, identity, expires_in=1800)
    tokens = provider(store, identity)
    old = tokens.access_token(CONN)
    new = tokens.invalidate(CONN, rejected_token=old)
    assert new != old
    assert identity.refresh_calls == 1
    # A second thread that also got a 401 with the old token reuses the new one.
    assert tokens.invalidate(CONN, rejected_token=old) == new
    assert identity.refresh_calls == 1


def test_two_threads_refreshing_at_once_make_one_refresh(db_path: Path) -> None:
    identity = FakeIdentity(delay=0.2)
    store = seeded(db_path, identity, expires_in=5)
    barrier = threading.Barrier(2)
    got: list[str] = []

    def worker() -> None:
        own = provider(TokenStore(db_path, SECRET), identity)  # separate stores, same file
        barrier.wait()
        got.append(own.access_token(CONN))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert identity.refresh_calls == 1
    assert len(got) == 2
    assert got[0] == got[1] == identity.current_access()
    assert store.reconnect_reason(CONN) is None


def test_a_custom_connection_re_requests_its_token_when_expired(db_path: Path) -> None:
    from pm_xero_plugin.xero.auth import client_credentials_token

    identity = FakeIdentity()
    store = TokenStore(db_path, SECRET)
    with httpx.Client(transport=httpx.MockTransport(identity)) as http:
        first = client_credentials_token(config(), store, "shared", http=http)
    assert first.refresh_token is None
    assert store.grant_type("shared") == "client_credentials"
    assert store.tenant_ids("shared") == ["tenant-a", "tenant-b"]
    stored = store.load("shared")
    assert stored is not None
    store.save(
        "shared",
        TokenSet(stored.access_token, None, time.time() + 5),
        grant_type="client_credentials",
    )
    token = provider(store, identity).access_token("shared")
    assert token == identity.current_access() != first.access_token


# -- two processes --------------------------------------------------------------------------


class _CountingTokenServer(ThreadingHTTPServer):
    """A loopback token endpoint: rotates, counts refreshes, invalid_grant on a reused token."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _TokenHandler)
        self.refresh_calls = 0
        self.generation = 1
        self.guard = threading.Lock()


class _TokenHandler(BaseHTTPRequestHandler):
    server: _CountingTokenServer

    def do_POST(self) -> None:
        body: dict[str, object]
        form = dict(parse_qsl(self.rfile.read(int(self.headers["Content-Length"])).decode()))
        time.sleep(0.3)  # a slow identity server widens the race window
        with self.server.guard:
            self.server.refresh_calls += 1
            if form.get("refresh_token") != f"refresh-{self.server.generation}":
                status, body = 400, {"error": "invalid_grant"}
            else:
                self.server.generation += 1
                n = self.server.generation
                status, body = (
                    200,
                    {
                        "access_token": f"access-{n}",
                        "refresh_token": f"refresh-{n}",
                        "expires_in": 1800,
                    },
                )
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        return


_CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from pm_xero_plugin.xero.auth import OAuthConfig, TokenProvider
    from pm_xero_plugin.xero.tokens import TokenStore
    db, root, start, secret = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
    config = OAuthConfig.for_base_url(root, client_id="c", client_secret="s",
                                      redirect_uri="http://127.0.0.1:1/cb")
    tokens = TokenProvider(config, TokenStore(Path(db), secret.encode()))
    while time.time() < start:
        time.sleep(0.005)
    print(tokens.access_token("loc-1"))
    """
)


@pytest.mark.slow
def test_two_processes_refreshing_at_once_make_one_refresh(db_path: Path) -> None:
    server = _CountingTokenServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        store = TokenStore(db_path, SECRET)
        store.save(CONN, TokenSet("access-1", "refresh-1", time.time() + 5))
        root = f"http://127.0.0.1:{server.server_address[1]}"
        start = time.time() + 1.5  # both children are imported and waiting by then
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
        children = [
            subprocess.Popen(
                [sys.executable, "-c", _CHILD, str(db_path), root, str(start), SECRET.decode()],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            for _ in range(2)
        ]
        outputs = [child.communicate(timeout=30) for child in children]
    finally:
        server.shutdown()
        server.server_close()
    assert [c.returncode for c in children] == [0, 0], [err for _, err in outputs]
    assert [out.strip() for out, _ in outputs] == ["access-2", "access-2"]
    assert server.refresh_calls == 1
    stored = TokenStore(db_path, SECRET).load(CONN)
    assert stored is not None
    assert stored.refresh_token == "refresh-2"
