"""Xero's identity service: authorize (a consent page for a browser, else auto-consent), token,
revocation and ``/connections``.

The parts a client gets wrong are the ones modelled carefully – and strictly, so that a
regression in a client's OAuth code fails here and not in production:

- authorize accepts only the app's registered redirect URIs, compared exactly (Xero allows no
  wildcard and no "any port on loopback"); anything else is Xero's error page
  ``unauthorized_client : Invalid redirect_uri``, never a redirect;
- PKCE only with ``code_challenge_method=S256`` (``plain``, or a challenge without a method –
  which means plain – is refused as Xero's IdentityServer does: ``invalid_request``,
  "Transform algorithm not supported", sent back to the registered redirect URI);
- the token endpoint checks the client secret of this (confidential) app on every grant, PKCE
  or not: ``invalid_client``;
- access tokens live 30 minutes on the sandbox clock; refresh tokens rotate, and after a
  rotation the previous one keeps working for 30 minutes "as many times as needed" (Xero staff's
  words), answering with the same successor, then ``invalid_grant``;
- connections can be removed under a client's feet.

Tokens are kept as a real authorization server keeps them: only a hash of each issued token
(SHA-256 – they are 256-bit random strings, so no salt or slow hash is needed), checked against
the hash of the token presented. The state file, which outlives the process, therefore holds no
token anyone could use. The one token the server must hand out again – a rotated refresh token's
successor, answered during the grace – is kept sealed (Fernet) under a key derived from its
predecessor, so only whoever presents the predecessor can open it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from cryptography.fernet import Fernet, InvalidToken

from . import consent
from .web import Request, Response, json_response, problem, text_response

__all__ = [
    "ACCESS_TTL",
    "DEFAULT_REDIRECT_URIS",
    "AccessToken",
    "Connection",
    "Identity",
    "token_hash",
]

ACCESS_TTL = timedelta(minutes=30)
REFRESH_TTL = timedelta(days=60)
REFRESH_GRACE = timedelta(minutes=30)
CODE_TTL = timedelta(minutes=5)
#: Registered by default: what the add-on (``PM_XERO_REDIRECT_URI``'s default, which the demo
#: and ``pm-xero connect`` use), the e2e suite and the client tests send. Xero compares exactly.
DEFAULT_REDIRECT_URIS: tuple[str, ...] = (
    "http://127.0.0.1:8766/callback",
    "http://localhost:8766/callback",
    "http://127.0.0.1:8999/callback",
)


@dataclass
class Connection:
    """A tenant connection as ``/connections`` lists it: which organisation an app may reach,
    made by which authorisation."""

    id: str
    auth_event_id: str
    tenant_id: str
    created: datetime
    updated: datetime


def token_hash(token: str) -> str:
    """What the server keeps of an issued token: its SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def _sealer(predecessor: str) -> Fernet:
    """The key a successor refresh token is sealed under: derived from its predecessor."""
    digest = hashlib.sha256(b"pm-xero sandbox successor\x00" + predecessor.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _hashed(record: dict[str, Any], *names: str) -> dict[str, Any]:
    """A saved record with tokens in clear (a state file from before hashing) as hashes."""
    out = dict(record)
    for name in names:
        if isinstance(out.get(name), str):
            out[f"{name}_hash"] = token_hash(out.pop(name))
    return out


@dataclass
class AccessToken:
    """An access token issued by ``/connect/token`` (kept as its hash): until when, with which
    scopes, and for which organisation (``None``: every connected one)."""

    token_hash: str
    expires: datetime
    scope: str
    auth_event_id: str
    #: a Custom Connection token reaches exactly this tenant
    tenant_id: str | None = None


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    scope: str
    tenant_ids: list[str]
    challenge: str | None
    method: str
    expires: datetime


@dataclass
class _Refresh:
    token_hash: str
    auth_event_id: str
    scope: str
    expires: datetime
    rotated_at: datetime | None = None
    successor_hash: str | None = None
    successor_sealed: str | None = None
    """The successor in clear, sealed under a key only the predecessor gives (see `_sealer`)."""
    used: bool = False
    access_tokens: list[str] = field(default_factory=list)
    """Hashes of the access tokens issued with this refresh token."""


def _error_page(error: str, description: str) -> Response:
    """Xero's identity error page (a browser sees it; nothing is redirected):
    ``Error: unauthorized_client : Invalid redirect_uri``."""
    return text_response(400, f"Error: {error} : {description}")


def _redirect_error(
    redirect_uri: str, q: dict[str, str], error: str, description: str | None = None
) -> Response:
    """An authorize error sent back to the (registered) redirect URI, as OAuth2 says."""
    params = {"error": error}
    if description:
        params["error_description"] = description
    if "state" in q:
        params["state"] = q["state"]
    parts = urlsplit(redirect_uri)
    query = "&".join(p for p in (parts.query, urlencode(params)) if p)
    return Response(302, b"", {"Location": urlunsplit((*parts[:3], query, ""))})


def _error(error: str, status: int = 400, description: str | None = None) -> Response:
    body: dict[str, str] = {"error": error}
    if description:
        body["error_description"] = description
    return json_response(status, body)


class Identity:
    """Token and connection state for one app. Not thread-safe: used under the sandbox lock."""

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        now: Callable[[], datetime],
        tenant_names: Callable[[], dict[str, str]],
        create_org: Callable[[], str],
        redirect_uris: Sequence[str] = DEFAULT_REDIRECT_URIS,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        #: the app's registered redirect URIs (exact match)
        self.redirect_uris: list[str] = list(redirect_uris)
        self._now = now
        self._tenant_names = tenant_names
        self._create_org = create_org
        self.connections: dict[str, Connection] = {}  # by tenant id
        self._codes: dict[str, _Code] = {}
        self._access: dict[str, AccessToken] = {}
        self._refresh: dict[str, _Refresh] = {}

    # -- persistence ----------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """What must survive a restart: connections and the live refresh and access tokens –
        as hashes, never usable tokens.

        Expired tokens are dropped (they could only ever answer ``invalid_grant``/401); one-use
        authorization codes live 5 minutes and are not kept.
        """
        now = self._now()
        return {
            "connections": [asdict(c) for c in self.connections.values()],
            "refresh": [asdict(r) for r in self._refresh.values() if r.expires > now],
            "access": [asdict(a) for a in self._access.values() if a.expires > now],
        }

    def restore(self, data: dict[str, Any]) -> None:
        """Take the connections and tokens back from a saved state (see `snapshot`)."""
        self.connections = {c["tenant_id"]: Connection(**c) for c in data.get("connections", [])}
        refresh = [_Refresh(**self._restored_refresh(r)) for r in data.get("refresh", [])]
        self._refresh = {r.token_hash: r for r in refresh}
        access = [AccessToken(**_hashed(a, "token")) for a in data.get("access", [])]
        self._access = {a.token_hash: a for a in access}

    @staticmethod
    def _restored_refresh(record: dict[str, Any]) -> dict[str, Any]:
        """A saved refresh record; one from before hashing (tokens in clear) is hashed, its
        successor sealed under it, and its access tokens hashed."""
        if "token" not in record:
            return record
        token = str(record["token"])
        out = _hashed(record, "token")
        successor = out.pop("successor", None)
        if successor:
            out["successor_hash"] = token_hash(successor)
            out["successor_sealed"] = _sealer(token).encrypt(successor.encode()).decode()
        out["access_tokens"] = [token_hash(t) for t in out.get("access_tokens", [])]
        return out

    # -- authorize ------------------------------------------------------------------------

    def authorize(self, req: Request) -> Response:
        """Consent: connect the chosen organisations and redirect with ``code`` and ``state``.

        ``tenant`` (or ``orgs``): comma-separated tenant ids, or ``new`` to create an
        organisation at consent; default: every organisation in the sandbox. A browser naming
        none (``Accept`` with ``text/html``) is shown the consent page instead, which posts back
        here (:mod:`.consent`); every check of the request is made before it is shown.
        """
        q = {k: v for k, v in req.query.items()}
        checked = self._checked(q)
        if isinstance(checked, Response):
            return checked
        redirect_uri = checked
        names = self._tenant_names()
        if req.method == "POST":
            if consent.pressed(req) != "allow":
                return _redirect_error(redirect_uri, q, "access_denied")
            ticked = [t for t in consent.chosen_tenants(req) if t in names]
            if not ticked:
                return consent.consent_page(
                    req, names, q.get("scope", "").split(), "Choose at least one organisation.", 400
                )
            return self._consented(q, redirect_uri, ticked)
        if consent.wants_page(req, q):
            return consent.consent_page(req, names, q.get("scope", "").split())
        chosen = q.get("tenant") or q.get("orgs") or ""
        tenant_ids: list[str] = []
        for item in [c.strip() for c in chosen.split(",") if c.strip()] or list(names):
            if item == "new":
                tenant_ids.append(self._create_org())
            elif item in names:
                tenant_ids.append(item)
            else:
                return text_response(400, f"invalid_request: unknown tenant {item}")
        return self._consented(q, redirect_uri, tenant_ids)

    def _checked(self, q: dict[str, str]) -> str | Response:
        """The registered redirect URI of a well-formed request, or Xero's answer to it."""
        if q.get("client_id") != self.client_id:
            return _error_page("unauthorized_client", "Unknown client or client not enabled")
        redirect_uri = q.get("redirect_uri", "")
        if redirect_uri not in self.redirect_uris:
            # Never redirect to an unregistered URI: the code would go to whoever owns it.
            return _error_page("unauthorized_client", "Invalid redirect_uri")
        if q.get("response_type") != "code":
            return _redirect_error(redirect_uri, q, "unsupported_response_type")
        challenge = q.get("code_challenge")
        method = q.get("code_challenge_method", "plain" if challenge else "")
        if challenge and method != "S256":
            return _redirect_error(
                redirect_uri, q, "invalid_request", "Transform algorithm not supported"
            )
        return redirect_uri

    def _consented(self, q: dict[str, str], redirect_uri: str, tenant_ids: list[str]) -> Response:
        """A one-use code for ``tenant_ids``, sent back to the redirect URI with the state."""
        challenge = q.get("code_challenge")
        method = q.get("code_challenge_method", "plain" if challenge else "")
        code = secrets.token_urlsafe(24)
        self._codes[code] = _Code(
            self.client_id,
            redirect_uri,
            q.get("scope", ""),
            tenant_ids,
            challenge,
            method,
            self._now() + CODE_TTL,
        )
        params = {"code": code, "scope": q.get("scope", "")}
        if "state" in q:
            params["state"] = q["state"]
        parts = urlsplit(redirect_uri)
        query = "&".join(p for p in (parts.query, urlencode(params)) if p)
        location = urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))
        return Response(302, b"", {"Location": location})

    # -- token ----------------------------------------------------------------------------

    def _client(self, req: Request, form: dict[str, str]) -> tuple[str | None, str | None]:
        auth = req.headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            try:
                cid, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return None, None
            return cid, secret
        return form.get("client_id"), form.get("client_secret")

    def token(self, req: Request) -> Response:
        """``POST /connect/token``: exchange an authorisation code or a refresh token (the app's
        secret is checked on every grant) for tokens, with Xero's error codes."""
        form = req.form()
        cid, secret = self._client(req, form)
        if cid != self.client_id:
            return _error("invalid_client")
        # A confidential app: its secret is checked on every grant, PKCE or not.
        if secret is None or not secrets.compare_digest(
            secret.encode(), self.client_secret.encode()
        ):
            return _error("invalid_client")
        grant = form.get("grant_type")
        if grant == "authorization_code":
            return self._code_grant(form)
        if grant == "refresh_token":
            return self._refresh_grant(form.get("refresh_token", ""))
        if grant == "client_credentials":
            return self._client_credentials(form.get("scope", ""))
        return _error("unsupported_grant_type")

    def _code_grant(self, form: dict[str, str]) -> Response:
        code = self._codes.pop(form.get("code", ""), None)  # single use
        now = self._now()
        if code is None or code.expires <= now or code.redirect_uri != form.get("redirect_uri"):
            return _error("invalid_grant")
        if code.challenge:
            verifier = form.get("code_verifier", "")
            digest = hashlib.sha256(verifier.encode()).digest()
            expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            if not verifier or not secrets.compare_digest(expected, code.challenge):
                return _error("invalid_grant", description="code_verifier does not match")
        auth_event = str(uuid.uuid4())
        for tenant_id in code.tenant_ids:
            existing = self.connections.get(tenant_id)
            if existing:
                existing.auth_event_id, existing.updated = auth_event, now
            else:
                self.connections[tenant_id] = Connection(
                    str(uuid.uuid4()), auth_event, tenant_id, now, now
                )
        return self._issue(auth_event, code.scope, refresh="offline_access" in code.scope.split())

    def _refresh_grant(self, token: str) -> Response:
        now = self._now()
        rec = self._refresh.get(token_hash(token))
        if rec is None or rec.expires <= now:
            return _error("invalid_grant")
        if rec.rotated_at is not None:
            # Xero's grace after a rotation: the previous token may be used "as many times as
            # needed" for 30 minutes – even once its successor is in use – and answers with the
            # same successor (a lost response retried, or two holders of one token set).
            succ = self._refresh.get(rec.successor_hash or "")
            successor = self._unsealed_successor(rec, token)
            if now - rec.rotated_at > REFRESH_GRACE or succ is None or successor is None:
                return _error("invalid_grant")
            return self._issue(rec.auth_event_id, rec.scope, refresh=True, reuse=(succ, successor))
        rec.used = True
        rec.rotated_at = now
        resp = self._issue(rec.auth_event_id, rec.scope, refresh=True)
        successor = self._last_refresh or ""
        rec.successor_hash = token_hash(successor)
        rec.successor_sealed = _sealer(token).encrypt(successor.encode()).decode()
        return resp

    @staticmethod
    def _unsealed_successor(rec: _Refresh, predecessor: str) -> str | None:
        """The successor refresh token in clear, opened with the predecessor presented."""
        if rec.successor_sealed is None:
            return None
        try:
            return _sealer(predecessor).decrypt(rec.successor_sealed.encode()).decode()
        except InvalidToken:
            return None

    def _client_credentials(self, scope: str) -> Response:
        """A Custom Connection: one organisation (the first), no refresh token."""
        names = self._tenant_names()
        if not names:
            return _error("invalid_grant", description="no organisation to connect")
        tenant_id = next(iter(names))
        now = self._now()
        auth_event = str(uuid.uuid4())
        self.connections.setdefault(
            tenant_id, Connection(str(uuid.uuid4()), auth_event, tenant_id, now, now)
        )
        return self._issue(auth_event, scope, refresh=False, tenant_id=tenant_id)

    _last_refresh: str | None = None

    def _issue(
        self,
        auth_event: str,
        scope: str,
        *,
        refresh: bool,
        tenant_id: str | None = None,
        reuse: tuple[_Refresh, str] | None = None,
    ) -> Response:
        """Issue an access token (and a refresh token, or ``reuse``'s record and token in
        clear); only their hashes are kept, the clear tokens go to the client alone."""
        now = self._now()
        clear = "sbx_at_" + secrets.token_urlsafe(32)
        access = AccessToken(token_hash(clear), now + ACCESS_TTL, scope, auth_event, tenant_id)
        self._access[access.token_hash] = access
        body: dict[str, Any] = {
            "access_token": clear,
            "expires_in": int(ACCESS_TTL.total_seconds()),
            "token_type": "Bearer",
            "scope": scope,
        }
        if refresh:
            if reuse is not None:
                rec, refresh_token = reuse
            else:
                refresh_token = "sbx_rt_" + secrets.token_urlsafe(32)
                rec = _Refresh(token_hash(refresh_token), auth_event, scope, now + REFRESH_TTL)
            self._refresh[rec.token_hash] = rec
            rec.access_tokens.append(access.token_hash)
            self._last_refresh = refresh_token
            body["refresh_token"] = refresh_token
        return json_response(200, body, {"Cache-Control": "no-store"})

    def revoke(self, req: Request) -> Response:
        """Revoking a refresh token removes its grant's connections and tokens, as Xero does."""
        form = req.form()
        cid, secret = self._client(req, form)
        if cid != self.client_id or secret != self.client_secret:
            return _error("invalid_client")
        rec = self._refresh.pop(token_hash(form.get("token", "")), None)
        if rec is not None:
            for tid in [
                t for t, c in self.connections.items() if c.auth_event_id == rec.auth_event_id
            ]:
                del self.connections[tid]
            for tok in [t for t, a in self._access.items() if a.auth_event_id == rec.auth_event_id]:
                del self._access[tok]
        return Response(200)

    # -- bearer checks ----------------------------------------------------------------------

    def bearer(self, req: Request) -> AccessToken | Response:
        """The caller's access token, or Xero's 401 for a missing, unknown or expired one."""
        auth = req.headers.get("authorization", "")
        if not auth.lower().startswith("bearer "):
            return problem(401, "AuthenticationUnsuccessful")
        tok = self._access.get(token_hash(auth[7:].strip()))
        if tok is None:
            return problem(401, "AuthenticationUnsuccessful")
        if tok.expires <= self._now():
            stamp = tok.expires.strftime("%m/%d/%Y %H:%M:%S")
            resp = problem(401, f"TokenExpired: token expired at {stamp}")
            resp.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
            return resp
        return tok

    def can_reach(self, tok: AccessToken, tenant_id: str) -> bool:
        """Whether ``tok`` may call the Accounting API for ``tenant_id`` (connected, and not a
        token bound to another organisation)."""
        if tok.tenant_id is not None and tok.tenant_id != tenant_id:
            return False
        return tenant_id in self.connections

    def expire_tokens(self, tenant_id: str) -> None:
        """Expire now every access token that can reach ``tenant_id`` (a fault: the next call
        meets 401 and must refresh)."""
        now = self._now()
        for tok in self._access.values():
            if tok.tenant_id in (None, tenant_id):
                tok.expires = min(tok.expires, now)

    def disconnect(self, tenant_id: str) -> None:
        """Drop the organisation's connection, as a user disconnecting the app in Xero does."""
        self.connections.pop(tenant_id, None)

    def connections_view(self, req: Request) -> Response:
        """``GET /connections``: the organisations the bearer's app is connected to."""
        tok = self.bearer(req)
        if isinstance(tok, Response):
            return tok
        names = self._tenant_names()
        return json_response(
            200,
            [
                {
                    "id": c.id,
                    "authEventId": c.auth_event_id,
                    "tenantId": c.tenant_id,
                    "tenantType": "ORGANISATION",
                    "tenantName": names.get(c.tenant_id, ""),
                    "createdDateUtc": c.created.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3],
                    "updatedDateUtc": c.updated.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3],
                }
                for c in self.connections.values()
                if tok.tenant_id in (None, c.tenant_id)
            ],
        )

    def delete_connection(self, req: Request, connection_id: str) -> Response:
        """``DELETE /connections/{id}``: disconnect one organisation (404 for an unknown id)."""
        tok = self.bearer(req)
        if isinstance(tok, Response):
            return tok
        for tid, c in list(self.connections.items()):
            if c.id == connection_id:
                del self.connections[tid]
                return Response(204)
        return problem(404, "Connection not found")
