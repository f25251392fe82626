"""OAuth2 as Xero does it: code + PKCE, rotating refresh tokens, Custom Connections, connections."""

from __future__ import annotations

import httpx
from support.sandbox_helpers import REDIRECT, authorize, connect

from pm_xero_plugin.sandbox import Sandbox, SandboxClock

BASIC = ("sandbox-client", "sandbox-secret")


def _token(client: httpx.Client, **form: str) -> httpx.Response:
    return client.post("/connect/token", data=form, auth=BASIC)


def _refresh(client: httpx.Client, refresh_token: str) -> httpx.Response:
    return _token(client, grant_type="refresh_token", refresh_token=refresh_token)


def test_authorize_redirects_with_code_and_state_and_connects_every_seeded_org(
    client: httpx.Client, sandbox: Sandbox
) -> None:
    tokens = connect(client)
    assert sorted(tokens.tenant_ids) == sorted(sandbox.tenant_ids)
    assert len(tokens.tenant_ids) >= 2


def test_connections_have_xeros_shape(client: httpx.Client) -> None:
    tokens = connect(client)
    conns = client.get(
        "/connections", headers={"Authorization": f"Bearer {tokens.access_token}"}
    ).json()
    assert set(conns[0]) == {
        "id",
        "authEventId",
        "tenantId",
        "tenantType",
        "tenantName",
        "createdDateUtc",
        "updatedDateUtc",
    }
    assert conns[0]["tenantType"] == "ORGANISATION"
    assert conns[0]["tenantName"] == "Sandbox Pets Ltd 1"


def test_token_response_has_bearer_30_minutes_refresh_token_and_scope(client: httpx.Client) -> None:
    code, verifier = authorize(client)
    body = _token(
        client,
        grant_type="authorization_code",
        code=code,
        redirect_uri=REDIRECT,
        code_verifier=verifier,
    ).json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 1800
    assert body["refresh_token"]
    assert "accounting.transactions" in body["scope"]


def test_no_refresh_token_without_offline_access(client: httpx.Client) -> None:
    tokens = connect(client, scope="accounting.transactions accounting.contacts")
    assert tokens.refresh_token is None


def test_pkce_verifier_must_match_and_code_is_single_use(client: httpx.Client) -> None:
    code, verifier = authorize(client)
    bad = _token(
        client,
        grant_type="authorization_code",
        code=code,
        redirect_uri=REDIRECT,
        code_verifier="nope",
    )
    assert bad.status_code == 400
    assert bad.json()["error"] == "invalid_grant"
    code, verifier = authorize(client)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }
    assert _token(client, **form).status_code == 200
    assert _token(client, **form).json()["error"] == "invalid_grant"


def test_client_auth_in_form_fields(client: httpx.Client) -> None:
    code, verifier = authorize(client)
    resp = client.post(
        "/connect/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
            "client_id": "sandbox-client",
            "client_secret": "sandbox-secret",
        },
    )
    assert resp.status_code == 200, resp.text


def test_wrong_client_secret_is_invalid_client(client: httpx.Client) -> None:
    resp = client.post(
        "/connect/token", data={"grant_type": "client_credentials"}, auth=("sandbox-client", "x")
    )
    assert resp.status_code == 400
    assert resp.json()["error"] == "invalid_client"


def test_sandbox_accepts_the_app_it_was_started_with(spec_path: str) -> None:
    sandbox = Sandbox(client_id="my-app", client_secret="s3cret", spec_path=spec_path)
    with httpx.Client(transport=sandbox.transport(), base_url="http://x") as c:
        resp = c.post(
            "/connect/token", data={"grant_type": "client_credentials"}, auth=("my-app", "s3cret")
        )
        assert resp.status_code == 200
        resp = c.post("/connect/token", data={"grant_type": "client_credentials"}, auth=BASIC)
        assert resp.json()["error"] == "invalid_client"


def test_refresh_rotates_and_the_old_token_keeps_working_for_30_minutes_even_once_the_new_is_used(
    client: httpx.Client, clock: SandboxClock
) -> None:
    """Xero staff: the previous refresh token is usable "as many times as needed" for 30
    minutes after a rotation."""
    tokens = connect(client)
    first = _refresh(client, tokens.refresh_token or "").json()
    assert first["refresh_token"] != tokens.refresh_token
    second = _refresh(client, first["refresh_token"])  # the successor is used …
    assert second.status_code == 200
    for _ in range(3):  # … and the previous one still answers, with the same successor
        again = _refresh(client, tokens.refresh_token or "")
        assert again.status_code == 200
        assert again.json()["refresh_token"] == first["refresh_token"]
    clock.advance(31 * 60)
    assert _refresh(client, tokens.refresh_token or "").json()["error"] == "invalid_grant"


def test_lost_refresh_response_may_be_retried_with_the_old_token_for_30_minutes(
    client: httpx.Client, clock: SandboxClock
) -> None:
    tokens = connect(client)
    lost = _refresh(client, tokens.refresh_token or "").json()
    clock.advance(29 * 60)
    retry = _refresh(client, tokens.refresh_token or "")
    assert retry.status_code == 200
    assert retry.json()["refresh_token"] == lost["refresh_token"]
    clock.advance(2 * 60)
    late = _refresh(client, tokens.refresh_token or "")
    assert late.status_code == 400
    assert late.json()["error"] == "invalid_grant"


def test_access_token_expires_after_30_minutes_of_sandbox_time(
    client: httpx.Client, clock: SandboxClock
) -> None:
    tokens = connect(client)
    assert client.get("/api.xro/2.0/Organisation", headers=tokens.headers()).status_code == 200
    clock.advance(30 * 60)
    resp = client.get("/api.xro/2.0/Organisation", headers=tokens.headers())
    assert resp.status_code == 401
    assert resp.json()["Detail"].startswith("TokenExpired: token expired at")
    fresh = _refresh(client, tokens.refresh_token or "").json()["access_token"]
    ok = client.get(
        "/api.xro/2.0/Organisation",
        headers={**tokens.headers(), "Authorization": f"Bearer {fresh}"},
    )
    assert ok.status_code == 200


def test_missing_or_unknown_token_is_401_authentication_unsuccessful(client: httpx.Client) -> None:
    resp = client.get("/api.xro/2.0/Invoices", headers={"Authorization": "Bearer nope"})
    assert resp.status_code == 401
    assert resp.json()["Detail"] == "AuthenticationUnsuccessful"


def test_wrong_or_missing_tenant_is_403(client: httpx.Client) -> None:
    tokens = connect(client)
    headers = tokens.headers()
    headers["xero-tenant-id"] = "00000000-0000-4000-8000-000000000000"
    resp = client.get("/api.xro/2.0/Invoices", headers=headers)
    assert resp.status_code == 403
    assert resp.json()["Detail"] == "AuthenticationUnsuccessful"
    del headers["xero-tenant-id"]
    assert client.get("/api.xro/2.0/Invoices", headers=headers).status_code == 403


def test_client_credentials_is_a_custom_connection_to_one_org(
    client: httpx.Client, sandbox: Sandbox
) -> None:
    body = _token(client, grant_type="client_credentials", scope="accounting.transactions").json()
    assert "refresh_token" not in body
    conns = client.get(
        "/connections", headers={"Authorization": f"Bearer {body['access_token']}"}
    ).json()
    assert [c["tenantId"] for c in conns] == [sandbox.tenant_ids[0]]
    other = {
        "Authorization": f"Bearer {body['access_token']}",
        "xero-tenant-id": sandbox.tenant_ids[1],
    }
    assert client.get("/api.xro/2.0/Invoices", headers=other).status_code == 403


def test_delete_connection_disconnects_that_org_only(client: httpx.Client) -> None:
    tokens = connect(client)
    auth = {"Authorization": f"Bearer {tokens.access_token}"}
    conns = client.get("/connections", headers=auth).json()
    assert client.delete(f"/connections/{conns[0]['id']}", headers=auth).status_code == 204
    assert (
        client.get(
            "/api.xro/2.0/Invoices", headers=tokens.headers(conns[0]["tenantId"])
        ).status_code
        == 403
    )
    assert (
        client.get(
            "/api.xro/2.0/Invoices", headers=tokens.headers(conns[1]["tenantId"])
        ).status_code
        == 200
    )


def test_revoking_the_refresh_token_removes_its_connections(client: httpx.Client) -> None:
    tokens = connect(client)
    resp = client.post("/connect/revocation", data={"token": tokens.refresh_token}, auth=BASIC)
    assert resp.status_code == 200
    assert _refresh(client, tokens.refresh_token or "").json()["error"] == "invalid_grant"
    assert client.get("/api.xro/2.0/Invoices", headers=tokens.headers()).status_code == 401


def test_consent_can_choose_orgs_or_create_a_new_one(
    client: httpx.Client, sandbox: Sandbox
) -> None:
    second = sandbox.tenant_ids[1]
    assert connect(client, tenant=second).tenant_ids == [second]
    before = set(sandbox.tenant_ids)
    tokens = connect(client, tenant="new")
    (created,) = set(sandbox.tenant_ids) - before
    assert created in tokens.tenant_ids
    assert sandbox.org(created).name == "Sandbox Pets Ltd 3"


def test_scope_is_enforced_per_resource(client: httpx.Client) -> None:
    tokens = connect(client, scope="offline_access accounting.contacts")
    assert client.get("/api.xro/2.0/Contacts", headers=tokens.headers()).status_code == 200
    resp = client.get("/api.xro/2.0/Invoices", headers=tokens.headers())
    assert resp.status_code == 401
    assert resp.json()["Detail"] == "AuthorizationUnsuccessful"
