"""The sandbox's consent page: a browser sees Xero's "wants access" page and chooses; API clients
(and the demo) keep the auto-consent; every check happens before the page is shown."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import httpx
from support.sandbox_helpers import REDIRECT, SCOPES

from pm_xero_plugin.sandbox import Sandbox

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
VERIFIER = "v" * 64


def authorize_params(**changes: str) -> dict[str, str]:
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()
    )
    params = {
        "response_type": "code",
        "client_id": "sandbox-client",
        "redirect_uri": REDIRECT,
        "scope": SCOPES,
        "state": "st-1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(changes)
    return params


def back_query(answer: httpx.Response) -> dict[str, list[str]]:
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(REDIRECT)
    return parse_qs(urlsplit(location).query)


def test_a_browser_is_shown_the_consent_page_with_a_checkbox_per_organisation(
    client: httpx.Client, sandbox: Sandbox
) -> None:
    page = client.get("/identity/connect/authorize", params=authorize_params(), headers=BROWSER)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "Pet Manager Xero add-on wants access to your organisation" in page.text
    assert page.text.count('type="checkbox"') == len(sandbox.tenant_ids)
    assert "Sandbox Pets Ltd 1" in page.text
    assert ">Allow access</button>" in page.text
    assert ">Cancel</button>" in page.text
    assert not sandbox.identity.connections  # nothing consented by looking


def test_allow_access_redirects_with_a_code_for_the_organisations_ticked(
    client: httpx.Client, sandbox: Sandbox
) -> None:
    chosen = sandbox.tenant_ids[1]
    answer = client.post(
        "/identity/connect/authorize",
        params=authorize_params(),
        data={"tenant": chosen, "action": "allow"},
        headers=BROWSER,
    )
    query = back_query(answer)
    assert query["state"] == ["st-1"]
    tokens = client.post(
        "/connect/token",
        data={
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": REDIRECT,
            "code_verifier": VERIFIER,
        },
        auth=("sandbox-client", "sandbox-secret"),
    ).json()
    connections = client.get(
        "/connections", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    ).json()
    assert [c["tenantId"] for c in connections] == [chosen]


def test_cancel_sends_access_denied_to_the_redirect_uri(client: httpx.Client) -> None:
    answer = client.post(
        "/identity/connect/authorize",
        params=authorize_params(),
        data={"tenant": "x", "action": "cancel"},
        headers=BROWSER,
    )
    query = back_query(answer)
    assert query["error"] == ["access_denied"]
    assert query["state"] == ["st-1"]
    assert "code" not in query


def test_allow_with_nothing_ticked_asks_again(client: httpx.Client) -> None:
    answer = client.post(
        "/identity/connect/authorize",
        params=authorize_params(),
        data={"action": "allow"},
        headers=BROWSER,
    )
    assert answer.status_code == 400
    assert "Choose at least one organisation" in answer.text


def test_an_unregistered_redirect_uri_is_refused_before_any_page(client: httpx.Client) -> None:
    params = authorize_params(redirect_uri="https://evil.example/cb")
    for answer in (
        client.get("/identity/connect/authorize", params=params, headers=BROWSER),
        client.post(
            "/identity/connect/authorize",
            params=params,
            data={"tenant": "x", "action": "allow"},
            headers=BROWSER,
        ),
    ):
        assert answer.status_code == 400
        assert "Invalid redirect_uri" in answer.text
        assert "location" not in answer.headers


def test_plain_pkce_and_a_wrong_client_are_refused_before_any_page(client: httpx.Client) -> None:
    plain = client.get(
        "/identity/connect/authorize",
        params=authorize_params(code_challenge_method="plain"),
        headers=BROWSER,
    )
    assert back_query(plain)["error"] == ["invalid_request"]
    stranger = client.get(
        "/identity/connect/authorize", params=authorize_params(client_id="x"), headers=BROWSER
    )
    assert stranger.status_code == 400
    assert "unauthorized_client" in stranger.text


def test_api_clients_and_a_named_organisation_keep_the_auto_consent(
    client: httpx.Client, sandbox: Sandbox
) -> None:
    plain = client.get("/identity/connect/authorize", params=authorize_params())
    assert "code" in back_query(plain)
    anything = client.get(
        "/identity/connect/authorize", params=authorize_params(), headers={"Accept": "*/*"}
    )
    assert "code" in back_query(anything)
    named = client.get(
        "/identity/connect/authorize",
        params=authorize_params(tenant=sandbox.tenant_ids[0]),
        headers=BROWSER,
    )
    assert "code" in back_query(named)


def test_everything_on_the_page_is_escaped(client: httpx.Client, sandbox: Sandbox) -> None:
    tenant = sandbox.tenant_ids[0]
    sandbox._orgs[tenant].name = '<script>alert("x")</script>'
    page = client.get(
        "/identity/connect/authorize",
        params=authorize_params(state='"><script>bad()</script>'),
        headers=BROWSER,
    )
    assert page.status_code == 200
    assert "<script>" not in page.text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page.text


def test_no_organisation_is_ticked_for_the_admin_when_there_are_several(
    client: httpx.Client, sandbox: Sandbox
) -> None:
    assert len(sandbox.tenant_ids) > 1
    page = client.get("/identity/connect/authorize", params=authorize_params(), headers=BROWSER)
    assert " checked" not in page.text
