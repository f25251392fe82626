"""Fault injection: deterministic, per organisation, and what a client sees for each fault."""

from __future__ import annotations

import httpx
import pytest
from support.sandbox_helpers import Api, connect

from pm_xero_plugin.sandbox import Sandbox, SandboxClock


@pytest.mark.parametrize(
    ("outcome", "status", "text"),
    [
        ("500", 500, "Internal Server Error"),
        ("502", 502, "Bad Gateway"),
        ("503", 503, "Not Available"),
        ("504", 504, "Gateway Timeout"),
        ("offline", 503, "Organisation offline"),
    ],
)
def test_scripted_server_errors(
    api: Api, sandbox: Sandbox, outcome: str, status: int, text: str
) -> None:
    sandbox.faults(api.tenant).script.extend([outcome, "ok"])
    resp = api.get("/Organisation")
    assert resp.status_code == status
    assert resp.text == text
    assert resp.headers["Content-Type"].startswith("text/plain")
    assert api.get("/Organisation").status_code == 200


def test_offline_org_stays_offline_until_cleared(api: Api, sandbox: Sandbox) -> None:
    faults = sandbox.faults(api.tenant)
    faults.offline = True
    assert [api.get("/Organisation").text for _ in range(2)] == ["Organisation offline"] * 2
    assert api.get("/Organisation", tenant=sandbox.tenant_ids[1]).status_code == 200
    faults.clear()
    assert api.get("/Organisation").status_code == 200


def test_scripted_429_carries_retry_after(api: Api, sandbox: Sandbox) -> None:
    sandbox.faults(api.tenant).script.append("429")
    resp = api.get("/Organisation")
    assert resp.status_code == 429
    assert resp.headers["Retry-After"]
    assert resp.headers["X-Rate-Limit-Problem"]


def test_timeout_raises_read_timeout_and_writes_nothing(api: Api, sandbox: Sandbox) -> None:
    sandbox.faults(api.tenant).script.append("timeout")
    with pytest.raises(httpx.ReadTimeout):
        api.put("/Contacts", {"Contacts": [{"Name": "Never Written"}]})
    assert sandbox.org(api.tenant).contacts == {}
    assert sandbox.requests[-1]["outcome"] == "timeout"


def test_lost_response_commits_the_write_and_a_retry_with_the_key_replays_it(
    api: Api, sandbox: Sandbox
) -> None:
    sandbox.faults(api.tenant).script.append("lost")
    body = {"Contacts": [{"Name": "Written Anyway"}]}
    with pytest.raises(httpx.ReadTimeout):
        api.put("/Contacts", body, headers={"Idempotency-Key": "lost-1"})
    assert [c["Name"] for c in sandbox.org(api.tenant).contacts.values()] == ["Written Anyway"]
    retry = api.put("/Contacts", body, headers={"Idempotency-Key": "lost-1"})
    assert retry.status_code == 200
    assert retry.json()["Contacts"][0]["Name"] == "Written Anyway"
    assert len(sandbox.org(api.tenant).contacts) == 1


def test_random_faults_replay_exactly_with_the_same_seed(clock: SandboxClock) -> None:
    def run() -> list[int | str]:
        sandbox = Sandbox(clock=clock, seed=7)
        faults = sandbox.faults(sandbox.tenant_ids[0])
        faults.error_rate, faults.timeout_rate = 0.3, 0.2
        with httpx.Client(transport=sandbox.transport(), base_url="http://x") as c:
            api = Api(c, connect(c))
            out: list[int | str] = []
            for _ in range(30):
                clock.advance(2)
                try:
                    out.append(api.get("/Organisation").status_code)
                except httpx.ReadTimeout:
                    out.append("timeout")
            return out

    first, second = run(), run()
    assert first == second
    assert {500, 502, 503, 504, "timeout"} & set(first)
    assert 200 in first


def test_expire_tokens_now_gives_401_token_expired(api: Api, sandbox: Sandbox) -> None:
    sandbox.faults(api.tenant).expire_tokens_now()
    resp = api.get("/Organisation")
    assert resp.status_code == 401
    assert resp.json()["Detail"].startswith("TokenExpired")


def test_disconnect_gives_403_until_the_org_is_connected_again(api: Api, sandbox: Sandbox) -> None:
    sandbox.faults(api.tenant).disconnect()
    resp = api.get("/Organisation")
    assert resp.status_code == 403
    assert resp.json()["Detail"] == "AuthenticationUnsuccessful"
    tokens = connect(api.client, tenant=api.tenant)
    assert api.client.get("/api.xro/2.0/Organisation", headers=tokens.headers()).status_code == 200


def test_unknown_scripted_outcome_is_refused(sandbox: Sandbox) -> None:
    faults = sandbox.faults(sandbox.tenant_ids[0])
    faults.script.append("explode")
    with pytest.raises(ValueError, match="unknown scripted outcome"):
        faults.next_outcome()


def test_plain_wsgi_transport_also_sees_a_timeout(sandbox: Sandbox) -> None:
    with httpx.Client(transport=httpx.WSGITransport(app=sandbox.app), base_url="http://x") as c:
        api = Api(c, connect(c))
        sandbox.faults(api.tenant).script.append("timeout")
        with pytest.raises(httpx.ReadTimeout):
            api.get("/Organisation")


def test_scripted_token_expiry_answers_401_token_expired(api: Api, sandbox: Sandbox) -> None:
    sandbox.faults(api.tenant).script.append("token_expired")
    resp = api.get("/Organisation")
    assert resp.status_code == 401
    assert resp.json()["Detail"].startswith("TokenExpired")
