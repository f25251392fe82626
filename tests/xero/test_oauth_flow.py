""" "Connect to Xero": state + PKCE (S256), the code exchange, tenants, loopback, disconnect."""

from __future__ import annotations

import logging
import re
import socket
from pathlib import Path

import httpx
import pytest
from support.xero_client_fakes import CONN, OTHER_TENANT, SECRET, TENANT, FakeIdentity

from pm_xero_plugin.xero.auth import (
    DEFAULT_SCOPES,
    GRANULAR_SCOPES,
    Connection,
    OAuthConfig,
    TokenProvider,
    begin_authorization,
    code_challenge,
    complete_authorization,
    handle_callback,
    new_code_verifier,
    run_loopback_connect,
)
from pm_xero_plugin.xero.errors import AuthorizationFailed
from pm_xero_plugin.xero.tokens import TokenStore

ROOT = "https://sandbox.test"


def config(redirect_uri: str = "http://127.0.0.1:8765/callback") -> OAuthConfig:
    return OAuthConfig.for_base_url(
        ROOT,
        client_id=FakeIdentity.CLIENT_ID,
        client_secret=FakeIdentity.CLIENT_SECRET,
        redirect_uri=redirect_uri,
    )


@pytest.fixture
def identity() -> FakeIdentity:
    return FakeIdentity()


@pytest.fixture
def http(identity: FakeIdentity) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(identity))


@pytest.fixture
def store(db_path: Path) -> TokenStore:
    return TokenStore(db_path, SECRET)


def test_s256_challenge_matches_rfc_7636_appendix_b() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert code_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_verifiers_are_long_random_and_unreserved() -> None:
    verifiers = {new_code_verifier() for _ in range(20)}
    assert len(verifiers) == 20
    assert all(43 <= len(v) <= 128 and re.fullmatch(r"[A-Za-z0-9_\-]+", v) for v in verifiers)


def test_endpoints_for_a_xero_compatible_root_and_for_real_xero() -> None:
    sandbox = config()
    assert sandbox.authorize_url == f"{ROOT}/identity/connect/authorize"
    assert sandbox.token_url == f"{ROOT}/connect/token"
    assert sandbox.connections_url == f"{ROOT}/connections"
    assert sandbox.revocation_url == f"{ROOT}/connect/revocation"
    xero = OAuthConfig("id", "secret", "https://pm.example/xero/callback")
    assert xero.authorize_url == "https://login.xero.com/identity/connect/authorize"
    assert xero.token_url == "https://identity.xero.com/connect/token"
    assert xero.connections_url == "https://api.xero.com/connections"
    assert "secret" not in repr(xero)
    assert "accounting.invoices" in GRANULAR_SCOPES
    assert "offline_access" in DEFAULT_SCOPES


def test_the_authorize_url_carries_state_pkce_and_configured_scopes(store: TokenStore) -> None:
    granular = OAuthConfig.for_base_url(
        ROOT,
        client_id="cid",
        client_secret="s",
        redirect_uri="http://127.0.0.1:1/cb",
        scopes=GRANULAR_SCOPES,
    )
    url, state = begin_authorization(granular, store, CONN)
    params = httpx.URL(url).params
    assert url.startswith(f"{ROOT}/identity/connect/authorize?")
    assert params["response_type"] == "code"
    assert params["client_id"] == "cid"
    assert params["redirect_uri"] == "http://127.0.0.1:1/cb"
    assert params["scope"] == " ".join(GRANULAR_SCOPES)
    assert params["state"] == state
    assert params["code_challenge_method"] == "S256"
    assert len(params["code_challenge"]) == 43


def test_the_code_flow_stores_tokens_and_lists_the_organisations(
    store: TokenStore, identity: FakeIdentity, http: httpx.Client
) -> None:
    request = begin_authorization(config(), store, CONN)
    callback = httpx.URL(identity.authorize(request.url))
    connections = handle_callback(config(), store, dict(callback.params), http=http)
    assert connections == [
        Connection("conn-1", TENANT, "Paws North", "ORGANISATION"),
        Connection("conn-2", OTHER_TENANT, "Paws South", "ORGANISATION"),
    ]
    stored = store.load(CONN)
    assert stored is not None
    assert stored.access_token == identity.current_access()
    assert stored.refresh_token == identity.refresh_token
    assert store.tenant_ids(CONN) == [TENANT, OTHER_TENANT]


def test_the_code_exchange_proves_the_verifier_behind_the_challenge(
    store: TokenStore, identity: FakeIdentity, http: httpx.Client
) -> None:
    request = begin_authorization(config(), store, CONN)
    identity.authorize(request.url, code="c1")
    identity.challenges["c1"] = code_challenge("some other verifier")
    with pytest.raises(AuthorizationFailed):
        complete_authorization(config(), store, state=request.state, code="c1", http=http)


def test_a_state_that_was_never_issued_is_rejected_before_any_exchange(
    store: TokenStore, identity: FakeIdentity, http: httpx.Client
) -> None:
    begin_authorization(config(), store, CONN)
    with pytest.raises(AuthorizationFailed):
        complete_authorization(config(), store, state="forged", code="code-123", http=http)
    assert identity.token_calls == 0


def test_a_state_is_single_use(
    store: TokenStore, identity: FakeIdentity, http: httpx.Client
) -> None:
    request = begin_authorization(config(), store, CONN)
    identity.authorize(request.url)
    complete_authorization(config(), store, state=request.state, code="code-123", http=http)
    with pytest.raises(AuthorizationFailed):
        complete_authorization(config(), store, state=request.state, code="code-123", http=http)


def test_a_state_expires_after_ten_minutes(
    db_path: Path, identity: FakeIdentity, http: httpx.Client
) -> None:
    now = [1_000_000.0]
    store = TokenStore(db_path, SECRET, clock=lambda: now[0])
    request = begin_authorization(config(), store, CONN)
    identity.authorize(request.url)
    now[0] += 601
    with pytest.raises(AuthorizationFailed):
        complete_authorization(config(), store, state=request.state, code="code-123", http=http)
    assert identity.token_calls == 0


def test_an_admin_who_declines_gets_a_clear_error(store: TokenStore, http: httpx.Client) -> None:
    with pytest.raises(AuthorizationFailed, match="access_denied"):
        handle_callback(config(), store, {"error": "access_denied", "state": "x"}, http=http)


def test_disconnect_deletes_that_tenants_connection(
    store: TokenStore, identity: FakeIdentity, http: httpx.Client
) -> None:
    request = begin_authorization(config(), store, CONN)
    identity.authorize(request.url)
    complete_authorization(config(), store, state=request.state, code="code-123", http=http)
    tokens = TokenProvider(config(), store, http=http)
    tokens.disconnect(CONN, OTHER_TENANT)
    assert identity.deleted == ["conn-2"]
    assert store.tenant_ids(CONN) == [TENANT]


def test_revoke_sends_the_refresh_token_and_forgets_the_set(
    store: TokenStore, identity: FakeIdentity, http: httpx.Client
) -> None:
    request = begin_authorization(config(), store, CONN)
    identity.authorize(request.url)
    complete_authorization(config(), store, state=request.state, code="code-123", http=http)
    refresh = identity.refresh_token
    TokenProvider(config(), store, http=http).revoke(CONN)
    assert identity.revoked == [refresh]
    assert store.load(CONN) is None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_loopback_connect_completes_when_xero_redirects_back(
    store: TokenStore, identity: FakeIdentity, http: httpx.Client
) -> None:
    loopback = config(f"http://127.0.0.1:{_free_port()}/callback")
    pages: list[httpx.Response] = []

    def browser(url: str) -> None:  # Xero consents and redirects the browser to us
        pages.append(httpx.get(identity.authorize(url), timeout=10))

    connections = run_loopback_connect(loopback, store, CONN, browser, http=http, timeout=10)
    assert [c.tenant_id for c in connections] == [TENANT, OTHER_TENANT]
    assert pages[0].status_code == 200
    assert "Connected" in pages[0].text
    assert store.load(CONN) is not None


def test_loopback_connect_reports_a_forged_callback(
    store: TokenStore, identity: FakeIdentity, http: httpx.Client
) -> None:
    loopback = config(f"http://127.0.0.1:{_free_port()}/callback")
    pages: list[httpx.Response] = []

    def browser(url: str) -> None:
        redirect = httpx.URL(identity.authorize(url)).copy_set_param("state", "forged")
        pages.append(httpx.get(redirect, timeout=10))

    with pytest.raises(AuthorizationFailed):
        run_loopback_connect(loopback, store, CONN, browser, http=http, timeout=10)
    assert pages[0].status_code == 400


def test_loopback_connect_needs_a_loopback_redirect(store: TokenStore) -> None:
    with pytest.raises(ValueError, match=r"needs an http://127.0.0.1"):
        run_loopback_connect(config("https://pm.example/cb"), store, CONN, lambda url: None)


def test_no_secret_reaches_the_logs_or_the_errors(
    db_path: Path, identity: FakeIdentity, http: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    store = TokenStore(db_path, SECRET)
    request = begin_authorization(config(), store, CONN)
    identity.authorize(request.url, code="CODE-SECRET")
    complete_authorization(config(), store, state=request.state, code="CODE-SECRET", http=http)
    tokens = TokenProvider(config(), store, http=http)
    tokens.invalidate(CONN)  # a refresh, logged at DEBUG
    identity.refresh_token = "moved-on"
    errors: list[str] = []
    try:
        tokens.invalidate(CONN)
    except Exception as exc:  # the invalid_grant path
        errors += [str(exc), repr(exc)]
    assert errors
    text = caplog.text + "".join(errors)
    assert "SECRET" not in text
    assert FakeIdentity.CLIENT_SECRET not in text
    assert SECRET.decode() not in text
