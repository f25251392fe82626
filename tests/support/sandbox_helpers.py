"""Helpers for sandbox tests: the OAuth code flow and an Accounting API caller.

A uniquely named module (not ``conftest``) so imports cannot collide with other test folders.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

SCOPES = "openid offline_access accounting.transactions accounting.contacts accounting.settings"
REDIRECT = "http://127.0.0.1:8766/callback"  # registered by default, as the add-on's own


@dataclass
class Tokens:
    access_token: str
    refresh_token: str | None
    tenant_ids: list[str]

    def headers(self, tenant_id: str | None = None) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.access_token}",
            "xero-tenant-id": tenant_id or self.tenant_ids[0],
            "Accept": "application/json",
        }


def authorize(
    client: httpx.Client,
    *,
    tenant: str | None = None,
    scope: str = SCOPES,
    verifier: str | None = None,
) -> tuple[str, str]:
    """Walk the authorize redirect; return (code, verifier)."""
    verifier = verifier or secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    params = {
        "response_type": "code",
        "client_id": "sandbox-client",
        "redirect_uri": REDIRECT,
        "scope": scope,
        "state": "xyz",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    if tenant:
        params["tenant"] = tenant
    resp = client.get("/identity/connect/authorize", params=params)
    assert resp.status_code == 302, resp.text
    query = parse_qs(urlsplit(resp.headers["Location"]).query)
    assert query["state"] == ["xyz"]
    return query["code"][0], verifier


def connect(client: httpx.Client, *, tenant: str | None = None, scope: str = SCOPES) -> Tokens:
    """The whole OAuth code flow with PKCE and Basic client auth; returns tokens and tenants."""
    code, verifier = authorize(client, tenant=tenant, scope=scope)
    resp = client.post(
        "/connect/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        auth=("sandbox-client", "sandbox-secret"),
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    conns = client.get(
        "/connections", headers={"Authorization": f"Bearer {body['access_token']}"}
    ).json()
    return Tokens(body["access_token"], body.get("refresh_token"), [c["tenantId"] for c in conns])


class Api:
    """Accounting calls for the first connected tenant (``tenant=`` for another)."""

    def __init__(self, client: httpx.Client, tokens: Tokens) -> None:
        self.client, self.tokens = client, tokens
        self.tenant = tokens.tenant_ids[0]

    def call(
        self,
        method: str,
        path: str,
        json: object = None,
        *,
        tenant: str | None = None,
        headers: dict[str, str] | None = None,
        **params: str,
    ) -> httpx.Response:
        return self.client.request(
            method,
            "/api.xro/2.0" + path,
            json=json,
            params=params or None,
            headers={**self.tokens.headers(tenant or self.tenant), **(headers or {})},
        )

    def get(self, path: str, **kw: object) -> httpx.Response:
        return self.call("GET", path, **kw)  # type: ignore[arg-type]

    def put(self, path: str, json: object, **kw: object) -> httpx.Response:
        return self.call("PUT", path, json, **kw)  # type: ignore[arg-type]

    def post(self, path: str, json: object, **kw: object) -> httpx.Response:
        return self.call("POST", path, json, **kw)  # type: ignore[arg-type]

    # -- builders -----------------------------------------------------------------------------

    def contact(
        self, name: str = "Jane Pawson", number: str = "C1", **kw: object
    ) -> dict[str, Any]:
        resp = self.put("/Contacts", {"Contacts": [{"Name": name, "ContactNumber": number}]}, **kw)
        assert resp.status_code == 200, resp.text
        contact: dict[str, Any] = resp.json()["Contacts"][0]
        return contact

    def invoice(
        self,
        contact_id: str,
        number: str = "INV-1",
        amount: str = "100.00",
        status: str = "AUTHORISED",
        **extra: object,
    ) -> httpx.Response:
        inv = {
            "Type": "ACCREC",
            "Contact": {"ContactID": contact_id},
            "InvoiceNumber": number,
            "Date": "2024-03-01",
            "DueDate": "2024-03-15",
            "Status": status,
            "LineItems": [
                {
                    "Description": "Boarding",
                    "Quantity": 1,
                    "UnitAmount": float(amount),
                    "AccountCode": "201",
                }
            ],
            **extra,
        }
        return self.put("/Invoices", {"Invoices": [inv]}, summarizeErrors="false")


# -- ``pm-xero sandbox`` as a process ------------------------------------------------------------


def pm_xero_command() -> list[str]:
    """``pm-xero`` as installed (the console script beside this interpreter), else the module."""
    script = Path(sys.executable).parent / "pm-xero"
    return (
        [str(script)]
        if script.exists()
        else [sys.executable, "-c", "from pm_xero_plugin.cli.main import main; main()"]
    )


def start_sandbox_cli(
    *args: str, spec_path: str, cwd: Path | None = None, stderr: int | None = None
) -> tuple[subprocess.Popen[str], str, str]:
    """Start ``pm-xero sandbox --port 0 ARGS…`` and read its banner up to ``Ctrl-C to stop``;
    returns the process (the caller stops it), its URL and the banner."""
    proc = subprocess.Popen(
        [*pm_xero_command(), "sandbox", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        env={**os.environ, "XERO_OPENAPI_SPEC": spec_path},
        cwd=cwd,
    )
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Ctrl-C"):
                break
        banner = "".join(lines)
        url = re.search(r"listening on (http://\S+)", banner)
        assert url, banner
    except BaseException:
        proc.kill()
        proc.wait(timeout=10)
        raise
    return proc, url.group(1), banner
