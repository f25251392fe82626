"""Test doubles for the Xero client layer: a fake clock, fake tokens, scripted HTTP answers."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import httpx

TENANT = "tenant-a"
OTHER_TENANT = "tenant-b"
CONN = "loc-1"
SECRET = b"host-secret-for-tests-0123456789"


class FakeTokens:
    """Access tokens ``tok-1``, ``tok-2``…: each invalidate() hands out the next one."""

    def __init__(self) -> None:
        self.generation = 1
        self.invalidations: list[str | None] = []

    def access_token(self, connection_key: str) -> str:
        return f"tok-{self.generation}"

    def invalidate(self, connection_key: str, rejected_token: str | None = None) -> str:
        self.invalidations.append(rejected_token)
        self.generation += 1
        return self.access_token(connection_key)


Reply = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


class Script:
    """An httpx MockTransport handler answering from a queue, recording every request."""

    def __init__(self, *replies: Reply) -> None:
        self.replies: deque[Reply] = deque(replies)
        self.requests: list[httpx.Request] = []

    def add(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        if not self.replies:
            raise AssertionError(f"unexpected request {request.method} {request.url}")
        reply = self.replies.popleft()
        if isinstance(reply, Exception):
            raise reply
        if callable(reply) and not isinstance(reply, httpx.Response):
            return reply(request)
        return reply

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    def bodies(self) -> list[Any]:
        return [json.loads(r.content) if r.content else None for r in self.requests]


def xero_json(status: int, payload: Any, **headers: str) -> httpx.Response:
    return httpx.Response(
        status, json=payload, headers={k.replace("_", "-"): v for k, v in headers.items()}
    )


class FakeIdentity:
    """Xero's identity server in miniature (for MockTransport): authorization_code with PKCE,
    rotating refresh tokens (``invalid_grant`` on reuse), client_credentials, /connections."""

    CLIENT_ID = "client-id-1"
    CLIENT_SECRET = "client-secret-XYZ"

    def __init__(self, *, delay: float = 0.0) -> None:
        self.delay = delay
        self.generation = 0
        self.refresh_token: str | None = None
        self.refresh_calls = 0
        self.token_calls = 0
        self.challenges: dict[str, str] = {}  # code -> code_challenge
        self.deleted: list[str] = []
        self.revoked: list[str] = []
        self.fail_next: Exception | None = None
        self.lock = threading.Lock()
        self.tenants = [
            {
                "id": "conn-1",
                "tenantId": TENANT,
                "tenantName": "Paws North",
                "tenantType": "ORGANISATION",
            },
            {
                "id": "conn-2",
                "tenantId": OTHER_TENANT,
                "tenantName": "Paws South",
                "tenantType": "ORGANISATION",
            },
        ]

    def issue(self, *, refresh: bool = True) -> dict[str, Any]:
        self.generation += 1
        payload: dict[str, Any] = {
            "access_token": f"access-{self.generation}-SECRET",
            "expires_in": 1800,
            "token_type": "Bearer",
            "scope": "offline_access accounting.transactions",
        }
        if refresh:
            self.refresh_token = f"refresh-{self.generation}-SECRET"
            payload["refresh_token"] = self.refresh_token
        return payload

    def current_access(self) -> str:
        return f"access-{self.generation}-SECRET"

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.fail_next is not None:
            failure, self.fail_next = self.fail_next, None
            raise failure
        path = request.url.path
        if path.endswith("/connect/token"):
            return self._token(request)
        if path.endswith("/connections") and request.method == "GET":
            if request.headers.get("Authorization") != f"Bearer {self.current_access()}":
                return httpx.Response(401, json={"title": "Unauthorized", "detail": "TokenExpired"})
            return httpx.Response(200, json=self.tenants)
        if "/connections/" in path and request.method == "DELETE":
            self.deleted.append(path.rsplit("/", 1)[1])
            return httpx.Response(204)
        if path.endswith("/connect/revocation"):
            self.revoked.append(dict(parse_qsl(request.content.decode())).get("token", ""))
            return httpx.Response(200)
        return httpx.Response(404, text="not found")

    def _token(self, request: httpx.Request) -> httpx.Response:
        expected = base64.b64encode(f"{self.CLIENT_ID}:{self.CLIENT_SECRET}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            return httpx.Response(400, json={"error": "invalid_client"})
        form = dict(parse_qsl(request.content.decode()))
        with self.lock:
            self.token_calls += 1
            grant = form.get("grant_type")
            if grant == "refresh_token":
                return self._refresh(form)
            if grant == "authorization_code":
                return self._code(form)
            if grant == "client_credentials":
                return httpx.Response(200, json=self.issue(refresh=False))
            return httpx.Response(400, json={"error": "unsupported_grant_type"})

    def _refresh(self, form: dict[str, str]) -> httpx.Response:
        self.refresh_calls += 1
        if self.delay:
            time.sleep(self.delay)
        if form.get("refresh_token") != self.refresh_token:
            return httpx.Response(400, json={"error": "invalid_grant"})
        return httpx.Response(200, json=self.issue())

    def _code(self, form: dict[str, str]) -> httpx.Response:
        challenge = self.challenges.pop(form.get("code", ""), None)
        verifier = form.get("code_verifier", "")
        digest = hashlib.sha256(verifier.encode()).digest()
        computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        if challenge is None or computed != challenge:
            return httpx.Response(400, json={"error": "invalid_grant"})
        return httpx.Response(200, json=self.issue())

    def authorize(self, url: str, code: str = "code-123") -> str:
        """What Xero's consent screen does: remember the challenge, redirect with a code."""
        parsed = httpx.URL(url)
        assert parsed.params["code_challenge_method"] == "S256"
        self.challenges[code] = parsed.params["code_challenge"]
        redirect = httpx.URL(parsed.params["redirect_uri"])
        return str(redirect.copy_merge_params({"code": code, "state": parsed.params["state"]}))
