"""OAuth2 for "Connect to Xero": authorisation code + PKCE, Custom Connections, token refresh.

Three audiences:

- the host's settings page calls :func:`begin_authorization` (the URL to send the admin to) and
  :func:`complete_authorization` / :func:`handle_callback` (the redirect back), then shows the
  returned :class:`Connection` list so the admin picks the organisation;
- an operator runs ``pm-xero connect``, which calls :func:`run_loopback_connect` (a one-shot
  ``http.server`` on the loopback redirect URI);
- the API client asks a :class:`TokenProvider` for a current access token per connection key.

Refreshes are serialised per token set across threads and processes (see
:mod:`pm_xero_plugin.xero.tokens`), happen 60–120 s before expiry (jittered, so many locations do
not
refresh in the same second), and ``invalid_grant`` turns into :class:`ReconnectRequired` with the
connection marked so nobody retries it until an admin reconnects.

Scopes are configuration: :data:`DEFAULT_SCOPES` (broad) or :data:`GRANULAR_SCOPES` (apps created
since March 2026). Tokens, the client secret and the PKCE verifier are never logged.
"""

from __future__ import annotations

import base64
import hashlib
import html
import logging
import random
import secrets
import threading
import time
import webbrowser
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx

from pm_xero_plugin.xero.errors import (
    AuthorizationFailed,
    NotFound,
    ReconnectRequired,
    TransientError,
    XeroError,
)
from pm_xero_plugin.xero.tokens import TokenSet, TokenStorage

__all__ = [
    "DEFAULT_SCOPES",
    "GRANULAR_SCOPES",
    "AuthorizationRequest",
    "CompletedFlow",
    "Connection",
    "OAuthConfig",
    "TokenProvider",
    "begin_authorization",
    "client_credentials_token",
    "code_challenge",
    "complete_authorization",
    "complete_flow",
    "handle_callback",
    "handle_callback_flow",
    "list_connections",
    "new_code_verifier",
    "run_loopback_connect",
]

log = logging.getLogger(__name__)

#: Broad scopes: contacts, settings (accounts, tax rates, tracking) and transactions.
DEFAULT_SCOPES: tuple[str, ...] = (
    "offline_access",
    "accounting.contacts",
    "accounting.settings",
    "accounting.transactions",
)
#: Granular alternative for Xero apps created since March 2026.
GRANULAR_SCOPES: tuple[str, ...] = (
    "offline_access",
    "accounting.contacts",
    "accounting.settings",
    "accounting.invoices",
    "accounting.payments",
)

#: How long an admin has between "Connect to Xero" and the redirect back.
PENDING_FLOW_TTL_SECONDS = 600.0

_TOKEN_TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=30.0, pool=5.0)


@dataclass(frozen=True)
class OAuthConfig:
    """Where Xero's identity endpoints are and who we are. ``client_secret`` never appears in a
    repr; ``scopes`` come from configuration."""

    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str
    scopes: Sequence[str] = DEFAULT_SCOPES
    authorize_url: str = "https://login.xero.com/identity/connect/authorize"
    token_url: str = "https://identity.xero.com/connect/token"
    connections_url: str = "https://api.xero.com/connections"
    revocation_url: str = "https://identity.xero.com/connect/revocation"
    #: The Accounting API root the client uses with these tokens.
    api_url: str = "https://api.xero.com/api.xro/2.0"

    @classmethod
    def for_base_url(
        cls,
        root: str,
        *,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        scopes: Sequence[str] = DEFAULT_SCOPES,
    ) -> OAuthConfig:
        """All endpoints under one root – a Xero-compatible server such as the sandbox."""
        base = root.rstrip("/")
        return cls(
            client_id=client_id,
            client_secret=client_secret,
            redirect_uri=redirect_uri,
            scopes=tuple(scopes),
            authorize_url=f"{base}/identity/connect/authorize",
            token_url=f"{base}/connect/token",
            connections_url=f"{base}/connections",
            revocation_url=f"{base}/connect/revocation",
            api_url=f"{base}/api.xro/2.0",
        )


@dataclass(frozen=True)
class Connection:
    """One organisation the tokens can reach (an entry of ``GET /connections``)."""

    id: str
    tenant_id: str
    tenant_name: str
    tenant_type: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Connection:
        """One entry of ``GET /connections`` (missing fields read as empty, never an error)."""
        return cls(
            id=str(data.get("id", "")),
            tenant_id=str(data.get("tenantId", "")),
            tenant_name=str(data.get("tenantName") or ""),
            tenant_type=str(data.get("tenantType") or ""),
        )


class CompletedFlow(NamedTuple):
    """A finished "Connect to Xero": the connection key it was started for (a location id) and
    the organisations the new tokens reach."""

    connection_key: str
    connections: list[Connection]


class AuthorizationRequest(NamedTuple):
    """Where to send the admin (``url``) and the ``state`` that will come back with the code."""

    url: str
    state: str


# -- PKCE -------------------------------------------------------------------------------------


def new_code_verifier() -> str:
    """A PKCE verifier: 86 characters of ``[A-Za-z0-9_-]`` (RFC 7636 allows 43–128)."""
    return secrets.token_urlsafe(64)


def code_challenge(verifier: str) -> str:
    """The S256 challenge: unpadded base64url of SHA-256 of the verifier (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


# -- authorisation code flow ------------------------------------------------------------------


def begin_authorization(
    config: OAuthConfig, store: TokenStorage, connection_key: str
) -> AuthorizationRequest:
    """Start "Connect to Xero" for ``connection_key``: a fresh ``state`` and PKCE verifier are
    stored (verifier encrypted, 10-minute life) and the authorize URL is returned."""
    state = secrets.token_urlsafe(32)
    verifier = new_code_verifier()
    store.add_pending_flow(state, connection_key, verifier)
    query = urlencode(
        {
            "response_type": "code",
            "client_id": config.client_id,
            "redirect_uri": config.redirect_uri,
            "scope": " ".join(config.scopes),
            "state": state,
            "code_challenge": code_challenge(verifier),
            "code_challenge_method": "S256",
        }
    )
    separator = "&" if "?" in config.authorize_url else "?"
    return AuthorizationRequest(f"{config.authorize_url}{separator}{query}", state)


def complete_authorization(
    config: OAuthConfig,
    store: TokenStorage,
    *,
    state: str,
    code: str,
    http: httpx.Client,
    now: Callable[[], float] = time.time,
) -> list[Connection]:
    """Finish the flow: check ``state`` (single use, 10 minutes), exchange ``code`` with its PKCE
    verifier, store the tokens under the flow's connection key, and list the organisations.

    :raises AuthorizationFailed: unknown/expired/reused ``state``, or the code was refused.
    """
    return complete_flow(config, store, state=state, code=code, http=http, now=now).connections


def complete_flow(
    config: OAuthConfig,
    store: TokenStorage,
    *,
    state: str,
    code: str,
    http: httpx.Client,
    now: Callable[[], float] = time.time,
) -> CompletedFlow:
    """:func:`complete_authorization`, also saying which connection key (the location "Connect
    to Xero" was pressed for) the flow was started for: the state is single use, so only the
    flow's end can tell the redirect's handler where to link the organisation."""
    flow = store.pop_pending_flow(state, max_age=PENDING_FLOW_TTL_SECONDS)
    if flow is None:
        raise AuthorizationFailed("unknown or expired authorisation state; connect again")
    payload = _token_request(
        config,
        http,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": config.redirect_uri,
            "code_verifier": flow.code_verifier,
        },
        refused=AuthorizationFailed,
    )
    tokens = TokenSet.from_token_response(payload, now=now())
    connections = list_connections(config, tokens.access_token, http)
    store.save(
        flow.connection_key,
        tokens,
        grant_type="authorization_code",
        tenant_ids=[c.tenant_id for c in connections],
    )
    log.info("Xero connected for %s: %d organisation(s)", flow.connection_key, len(connections))
    return CompletedFlow(flow.connection_key, connections)


def handle_callback(
    config: OAuthConfig, store: TokenStorage, params: Mapping[str, str], *, http: httpx.Client
) -> list[Connection]:
    """The redirect URI's handler: ``params`` is its query string (``code``/``state`` or
    ``error``). Raises :class:`AuthorizationFailed` when the admin declined or it is malformed."""
    return handle_callback_flow(config, store, params, http=http).connections


def handle_callback_flow(
    config: OAuthConfig, store: TokenStorage, params: Mapping[str, str], *, http: httpx.Client
) -> CompletedFlow:
    """:func:`handle_callback`, with the connection key the flow was started for."""
    if "error" in params:
        raise AuthorizationFailed(f"Xero authorisation refused: {params['error']}")
    state, code = params.get("state"), params.get("code")
    if not state or not code:
        raise AuthorizationFailed("the callback is missing code or state")
    return complete_flow(config, store, state=state, code=code, http=http)


def list_connections(
    config: OAuthConfig, access_token: str, http: httpx.Client
) -> list[Connection]:
    """``GET /connections``: the organisations these tokens may use."""
    response = _send(
        http, "GET", config.connections_url, headers=_bearer(access_token), what="connections"
    )
    data = _json_or_none(response)
    if not isinstance(data, list):
        raise XeroError("unexpected /connections answer", status=response.status_code)
    return [Connection.from_json(item) for item in data if isinstance(item, Mapping)]


def client_credentials_token(
    config: OAuthConfig,
    store: TokenStorage,
    connection_key: str,
    *,
    http: httpx.Client,
    now: Callable[[], float] = time.time,
) -> TokenSet:
    """A Custom Connection: ``client_credentials`` grant, one organisation, no refresh token.

    The tokens are stored like any other set (the provider re-requests them when they expire).
    """
    payload = _token_request(
        config,
        http,
        {"grant_type": "client_credentials", "scope": " ".join(config.scopes)},
        refused=ReconnectRequired,
    )
    tokens = TokenSet.from_token_response(payload, now=now())
    connections = list_connections(config, tokens.access_token, http)
    store.save(
        connection_key,
        tokens,
        grant_type="client_credentials",
        tenant_ids=[c.tenant_id for c in connections],
    )
    return tokens


# -- the client's token source ----------------------------------------------------------------


class TokenProvider:
    """Current access tokens per connection key, refreshed before expiry, one refresh at a time.

    :param refresh_margin: refresh when the token expires within a random number of seconds in
        this range (jitter spreads the refreshes of many locations).
    """

    def __init__(
        self,
        config: OAuthConfig,
        store: TokenStorage,
        *,
        http: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        refresh_margin: tuple[float, float] = (60.0, 120.0),
    ) -> None:
        self.config = config
        self.store = store
        self._http = (
            http if http is not None else httpx.Client(transport=transport, timeout=_TOKEN_TIMEOUT)
        )
        self._owns_http = http is None
        self._clock = clock
        self._rng = rng if rng is not None else random.Random()
        self._margin = refresh_margin
        self._cache: dict[str, TokenSet] = {}
        self._cache_lock = threading.Lock()

    def access_token(self, connection_key: str) -> str:
        """A bearer token for ``connection_key``, refreshed first if it expires soon.

        :raises ReconnectRequired: never connected, marked for reconnection, or ``invalid_grant``.
        :raises TransientError: the token endpoint could not be reached (tokens unchanged).
        """
        margin = self._rng.uniform(*self._margin)
        now = self._clock()
        with self._cache_lock:
            cached = self._cache.get(connection_key)
        if cached is not None and not cached.expires_within(margin, now=now):
            return cached.access_token
        stored = self.store.load(connection_key)
        reason = self.store.reconnect_reason(connection_key)
        if stored is None:
            raise ReconnectRequired(f"no Xero connection for {connection_key!r}")
        if reason is not None:
            raise ReconnectRequired(reason)
        if stored.expires_within(margin, now=now):
            stored = self.store.refresh_serialised(
                connection_key,
                lambda current: current.expires_within(margin, now=self._clock()),
                self._refresh,
            )
        with self._cache_lock:
            self._cache[connection_key] = stored
        return stored.access_token

    def invalidate(self, connection_key: str, rejected_token: str | None = None) -> str:
        """After a 401: refresh – unless the stored token already differs from the rejected one
        (another thread or process refreshed meanwhile) – and return the token to retry with."""
        with self._cache_lock:
            self._cache.pop(connection_key, None)
        fresh = self.store.refresh_serialised(
            connection_key,
            lambda current: rejected_token is None or current.access_token == rejected_token,
            self._refresh,
        )
        with self._cache_lock:
            self._cache[connection_key] = fresh
        return fresh.access_token

    def connections(self, connection_key: str) -> list[Connection]:
        """The organisations this connection reaches (also refreshes the stored tenant ids)."""
        found = list_connections(self.config, self.access_token(connection_key), self._http)
        self.store.set_tenant_ids(connection_key, [c.tenant_id for c in found])
        return found

    def disconnect(self, connection_key: str, tenant_id: str) -> None:
        """``DELETE /connections/{id}`` for ``tenant_id``: the app loses access to that org."""
        for connection in self.connections(connection_key):
            if connection.tenant_id == tenant_id:
                _send(
                    self._http,
                    "DELETE",
                    f"{self.config.connections_url.rstrip('/')}/{connection.id}",
                    headers=_bearer(self.access_token(connection_key)),
                    what="disconnect",
                )
                remaining = [t for t in self.store.tenant_ids(connection_key) if t != tenant_id]
                self.store.set_tenant_ids(connection_key, remaining)
                return
        raise NotFound(f"tenant {tenant_id} is not connected", tenant_id=tenant_id, status=404)

    def revoke(self, connection_key: str) -> None:
        """Revoke the refresh token (all its organisations) and forget the token set."""
        stored = self.store.load(connection_key)
        if stored is not None and stored.refresh_token:
            _send(
                self._http,
                "POST",
                self.config.revocation_url,
                data={"token": stored.refresh_token},
                auth=(self.config.client_id, self.config.client_secret),
                what="revocation",
            )
        self.forget(connection_key)

    def forget(self, connection_key: str) -> None:
        """Forget the token set here without telling Xero (an admin's disconnect of a location
        whose grant may still serve another location's organisation: revoking it would cut
        that one off too)."""
        self.store.delete(connection_key)
        with self._cache_lock:
            self._cache.pop(connection_key, None)

    def close(self) -> None:
        """Close the HTTP client, if this provider made it."""
        if self._owns_http:
            self._http.close()

    def _refresh(self, current: TokenSet, grant_type: str) -> TokenSet:
        if grant_type == "client_credentials":
            data = {"grant_type": "client_credentials", "scope": " ".join(self.config.scopes)}
        elif current.refresh_token:
            data = {"grant_type": "refresh_token", "refresh_token": current.refresh_token}
        else:
            raise ReconnectRequired("the Xero connection has no refresh token; reconnect")
        payload = _token_request(self.config, self._http, data, refused=ReconnectRequired)
        log.debug("Xero token set refreshed (%s)", grant_type)
        return TokenSet.from_token_response(payload, now=self._clock())


# -- the loopback redirect for `pm-xero connect` ---------------------------------------------


def run_loopback_connect(
    config: OAuthConfig,
    store: TokenStorage,
    connection_key: str,
    open_browser: Callable[[str], object] | None = None,
    *,
    http: httpx.Client | None = None,
    timeout: float = 300.0,
) -> list[Connection]:
    """Connect from a terminal: serve the (loopback) redirect URI once, send the admin's browser
    to Xero (``open_browser(url)``, default :func:`webbrowser.open`), and complete the flow when
    Xero redirects back. Returns the organisations so the caller can choose one.

    :raises AuthorizationFailed: the admin declined, the state did not match, or ``timeout``.
    """
    parts = urlsplit(config.redirect_uri)
    if parts.scheme != "http" or parts.hostname not in {"127.0.0.1", "localhost", "::1"}:
        raise ValueError("the loopback flow needs an http://127.0.0.1:PORT/... redirect URI")
    if parts.port is None:
        raise ValueError("the loopback redirect URI needs an explicit port")
    client = http if http is not None else httpx.Client(timeout=_TOKEN_TIMEOUT)
    outcome: dict[str, Any] = {}
    done = threading.Event()
    callback_path = parts.path or "/"

    class _Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path, _, query = self.path.partition("?")
            if path != callback_path:
                self._reply(404, "Not found")
                return
            try:
                outcome["connections"] = handle_callback(
                    config, store, dict(parse_qsl(query)), http=client
                )
            except XeroError as exc:
                outcome["error"] = exc
                self._reply(400, f"Xero was not connected: {exc.message}")
            else:
                self._reply(200, "Connected to Xero. You can close this window.")
            finally:
                done.set()

        def _reply(self, status: int, text: str) -> None:
            body = f"<!doctype html><title>pm-xero</title><p>{html.escape(text)}</p>".encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            # The default logs the request line, which carries the authorisation code.
            return

    server = HTTPServer((parts.hostname, parts.port), _Handler)
    thread = threading.Thread(target=server.serve_forever, name="pm-xero-connect", daemon=True)
    thread.start()
    try:
        request = begin_authorization(config, store, connection_key)
        (open_browser or webbrowser.open)(request.url)
        if not done.wait(timeout):
            raise AuthorizationFailed("timed out waiting for Xero's redirect")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        if http is None:
            client.close()
    if "error" in outcome:
        raise outcome["error"]
    connections: list[Connection] = outcome["connections"]
    return connections


# -- HTTP helpers -----------------------------------------------------------------------------


def _bearer(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}", "Accept": "application/json"}


def _send(
    http: httpx.Client,
    method: str,
    url: str,
    *,
    what: str,
    headers: Mapping[str, str] | None = None,
    data: Mapping[str, str] | None = None,
    auth: tuple[str, str] | None = None,
) -> httpx.Response:
    """One identity call; connection problems become :class:`TransientError`, 401/403
    :class:`ReconnectRequired` – with no token or secret in the message."""
    try:
        response = http.request(method, url, headers=headers, data=data, auth=auth)
    except httpx.TimeoutException as exc:
        raise TransientError(f"Xero {what} timed out ({type(exc).__name__})") from None
    except httpx.TransportError as exc:
        raise TransientError(f"Xero {what} unreachable ({type(exc).__name__})") from None
    if response.status_code in (401, 403):
        raise ReconnectRequired(
            f"Xero refused the {what} call: {_problem_text(response)}",
            status=response.status_code,
        )
    if response.status_code == 404:
        raise NotFound(f"Xero {what}: not found", status=404)
    if response.status_code >= 500:
        raise TransientError(f"Xero {what} failed", status=response.status_code)
    if response.status_code >= 400:
        raise XeroError(f"Xero {what}: {_problem_text(response)}", status=response.status_code)
    return response


_RECONNECT_ERRORS = frozenset({"invalid_grant", "invalid_client", "unauthorized_client"})
"""OAuth errors that mean the connection itself is gone: only an admin can mend them."""


def _token_request(
    config: OAuthConfig,
    http: httpx.Client,
    data: Mapping[str, str],
    *,
    refused: type[XeroError],
) -> dict[str, Any]:
    """POST the token endpoint (client secret as HTTP Basic). ``invalid_grant`` and other OAuth
    errors raise ``refused`` (reconnect for refreshes, a failed flow for code exchanges)."""
    try:
        response = http.post(
            config.token_url,
            data=dict(data),
            auth=(config.client_id, config.client_secret),
            headers={"Accept": "application/json"},
        )
    except httpx.TimeoutException as exc:
        raise TransientError(f"Xero token endpoint timed out ({type(exc).__name__})") from None
    except httpx.TransportError as exc:
        raise TransientError(f"Xero token endpoint unreachable ({type(exc).__name__})") from None
    body = _json_or_none(response)
    if response.status_code >= 500:
        raise TransientError("Xero token endpoint failed", status=response.status_code)
    if response.status_code != 200 or not isinstance(body, dict):
        error = body.get("error") if isinstance(body, dict) else None
        code = str(error) if error else f"HTTP {response.status_code}"
        if refused is ReconnectRequired and code not in _RECONNECT_ERRORS:
            # A 429 from the identity service, a proxy's 4xx, a garbled answer: the tokens may
            # still be good. Pausing the organisation until an admin reconnects would be wrong;
            # try again later (an expired grant answers invalid_grant and lands below).
            raise TransientError(
                f"Xero token endpoint did not refresh ({code}); will retry",
                status=response.status_code,
            )
        if code == "invalid_grant" and refused is ReconnectRequired:
            message = "Xero refused the refresh token (invalid_grant): reconnect to Xero"
        else:
            message = f"Xero token endpoint refused the request ({code})"
        raise refused(message, status=response.status_code)
    return body


def _json_or_none(response: httpx.Response) -> Any:
    if "json" not in response.headers.get("Content-Type", "").lower():
        return None
    try:
        return response.json()
    except ValueError:
        return None


def _problem_text(response: httpx.Response) -> str:
    body = _json_or_none(response)
    if isinstance(body, dict):
        for key in ("detail", "Detail", "Message", "title", "error"):
            if body.get(key):
                return str(body[key])
    return f"HTTP {response.status_code}"
