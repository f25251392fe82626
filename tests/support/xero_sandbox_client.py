"""A XeroClient connected to the in-process Xero sandbox, for the client layer's tests: the
OAuth code flow walked for real, every outgoing request checked against Xero's OpenAPI spec,
and the few documents those tests create."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from pm_xero_plugin.sandbox import Sandbox
from pm_xero_plugin.sandbox.spec_check import find_xero_spec, load_xero_spec, validate_xero_request
from pm_xero_plugin.xero.auth import (
    OAuthConfig,
    TokenProvider,
    begin_authorization,
    handle_callback,
)
from pm_xero_plugin.xero.client import XeroClient
from pm_xero_plugin.xero.ratelimit import RateLimiter
from pm_xero_plugin.xero.tokens import TokenStore
from support.xero_client_fakes import CONN, SECRET

SPEC = find_xero_spec()


@dataclass
class Connected:
    sandbox: Sandbox
    client: XeroClient
    tenant_id: str
    other_tenant_id: str
    checked: list[str]


def spec_hook(checked: list[str]) -> Any:
    assert SPEC is not None
    spec = load_xero_spec(SPEC)

    def check(request: httpx.Request) -> None:
        body = json.loads(request.content) if request.content else None
        headers = {
            k: request.headers[k]
            for k in ("xero-tenant-id", "Idempotency-Key")
            if k in request.headers
        }
        validate_xero_request(spec, request.method, str(request.url), body, headers=headers or None)
        checked.append(f"{request.method} {request.url.path}")

    return check


def connected_sandbox(tmp_path: Path) -> Iterator[Connected]:
    """A client connected to both sandbox organisations through the OAuth code flow, every
    request checked against Xero's spec; the sandbox and the client's HTTP closed after."""
    sandbox = Sandbox(spec_path=SPEC)
    http = httpx.Client(transport=sandbox.transport())
    config = OAuthConfig.for_base_url(
        "http://sandbox.test",
        client_id=sandbox.client_id,
        client_secret=sandbox.client_secret,
        redirect_uri="http://127.0.0.1:8999/callback",
    )
    store = TokenStore(tmp_path / "tokens.sqlite3", SECRET)
    # The admin presses "Connect to Xero"; the sandbox auto-consents and redirects back.
    request = begin_authorization(config, store, CONN)
    consent = http.get(request.url)
    assert consent.status_code == 302
    callback = httpx.URL(consent.headers["Location"])
    connections = handle_callback(config, store, dict(callback.params), http=http)
    assert {c.tenant_id for c in connections} == set(sandbox.tenant_ids)
    checked: list[str] = []
    client = XeroClient(
        config.api_url,
        TokenProvider(config, store, http=http),
        limiter=RateLimiter(),
        http=http,
        request_hook=spec_hook(checked),
        backoff_base=0.001,
    )
    yield Connected(sandbox, client, connections[0].tenant_id, connections[1].tenant_id, checked)
    http.close()


def contact(n: int, name: str) -> dict[str, Any]:
    return {"Name": name, "ContactNumber": f"C{n}", "FirstName": name.split()[0]}


def invoice(number: str, contact_id: str) -> dict[str, Any]:
    return {
        "Type": "ACCREC",
        "Contact": {"ContactID": contact_id},
        "Date": "2024-03-01",
        "DueDate": "2024-03-15",
        "InvoiceNumber": number,
        "LineAmountTypes": "Exclusive",
        "Status": "AUTHORISED",
        "LineItems": [
            {"Description": "Boarding", "Quantity": 1.0, "UnitAmount": 50.0, "AccountCode": "201"}
        ],
    }
