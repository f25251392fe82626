"""Xero's rate limits and the Idempotency-Key cache, on the sandbox clock (no sleeping)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
from support.sandbox_helpers import Api, connect

from pm_xero_plugin.sandbox import Limits, Sandbox, SandboxClock

HEADERS = ("X-DayLimit-Remaining", "X-MinLimit-Remaining", "X-AppMinLimit-Remaining")


def test_every_accounting_answer_carries_the_remaining_headers(api: Api) -> None:
    for resp in (
        api.get("/Organisation"),
        api.get("/Invoices/nope"),
        api.put("/Invoices", {"Invoices": [{"Type": "X"}]}),
    ):
        assert all(h in resp.headers for h in HEADERS), resp.headers
    resp = api.get("/Organisation")
    assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
    assert int(resp.headers["X-MinLimit-Remaining"]) == 60 - 4


def test_sixty_first_call_in_a_minute_is_429_with_retry_after(
    api: Api, clock: SandboxClock
) -> None:
    for _ in range(60):
        assert api.get("/Organisation").status_code == 200
        clock.advance(0.5)
    resp = api.get("/Organisation")
    assert resp.status_code == 429
    assert resp.headers["X-Rate-Limit-Problem"] == "minute"
    assert int(resp.headers["Retry-After"]) == 30  # the window opened 30 s ago and lasts 60 s
    assert resp.headers["X-MinLimit-Remaining"] == "0"
    clock.advance(int(resp.headers["Retry-After"]))
    assert api.get("/Organisation").status_code == 200


def test_minute_limit_is_per_tenant(api: Api, sandbox: Sandbox) -> None:
    for _ in range(60):
        api.get("/Organisation")
    assert api.get("/Organisation").status_code == 429
    assert api.get("/Organisation", tenant=sandbox.tenant_ids[1]).status_code == 200


def test_day_limit_answers_429_day_until_the_window_resets(
    clock: SandboxClock, spec_path: str
) -> None:
    sandbox = Sandbox(clock=clock, spec_path=spec_path, limits=Limits(per_day=3))
    with httpx.Client(transport=sandbox.transport(), base_url="http://x") as c:
        api = Api(c, connect(c))
        for _ in range(3):
            assert api.get("/Organisation").status_code == 200
        resp = api.get("/Organisation")
        assert resp.status_code == 429
        assert resp.headers["X-Rate-Limit-Problem"] == "day"
        assert int(resp.headers["Retry-After"]) == 24 * 3600
        clock.advance(24 * 3600)
        api.tokens = connect(c)  # the access token died long ago
        assert api.get("/Organisation").status_code == 200


def test_app_wide_minute_limit_spans_tenants(clock: SandboxClock, spec_path: str) -> None:
    sandbox = Sandbox(clock=clock, spec_path=spec_path, limits=Limits(app_per_minute=3))
    with httpx.Client(transport=sandbox.transport(), base_url="http://x") as c:
        api = Api(c, connect(c))
        a, b = sandbox.tenant_ids
        for tenant in (a, b, a):
            assert api.get("/Organisation", tenant=tenant).status_code == 200
        resp = api.get("/Organisation", tenant=b)
        assert resp.status_code == 429
        assert resp.headers["X-Rate-Limit-Problem"] == "appminute"
        assert resp.headers["X-AppMinLimit-Remaining"] == "0"


def test_sixth_concurrent_call_is_429_concurrent(api: Api, sandbox: Sandbox) -> None:
    faults = sandbox.faults(api.tenant)
    faults.gate = threading.Event()
    with ThreadPoolExecutor(5) as pool:
        held = [pool.submit(api.get, "/Organisation") for _ in range(5)]
        for _ in range(2000):
            if sandbox.in_flight(api.tenant) == 5:
                break
            threading.Event().wait(0.005)
        assert sandbox.in_flight(api.tenant) == 5
        sixth = api.get("/Organisation")
        assert sixth.status_code == 429
        assert sixth.headers["X-Rate-Limit-Problem"] == "concurrent"
        assert "Retry-After" not in sixth.headers
        faults.gate.set()
        assert [f.result().status_code for f in held] == [200] * 5
    faults.gate = None
    assert sandbox.in_flight(api.tenant) == 0


def test_limits_can_be_switched_off(clock: SandboxClock) -> None:
    sandbox = Sandbox(clock=clock, limits=Limits(per_minute=1, enabled=False))
    with httpx.Client(transport=sandbox.transport(), base_url="http://x") as c:
        api = Api(c, connect(c))
        assert [api.get("/Organisation").status_code for _ in range(3)] == [200] * 3


# -- idempotency ----------------------------------------------------------------------------------


def _contact(api: Api, key: str, name: str = "Idem Pat") -> httpx.Response:
    return api.put("/Contacts", {"Contacts": [{"Name": name}]}, headers={"Idempotency-Key": key})


def test_same_idempotency_key_replays_the_first_answer_without_writing_again(
    api: Api, sandbox: Sandbox
) -> None:
    first = _contact(api, "k1")
    again = _contact(api, "k1")
    assert again.status_code == 200
    assert again.json() == first.json()
    assert len(sandbox.org(api.tenant).contacts) == 1
    assert int(again.headers["X-MinLimit-Remaining"]) < int(
        first.headers["X-MinLimit-Remaining"]
    )  # still counted


def test_same_key_with_a_different_body_is_400(api: Api) -> None:
    _contact(api, "k2")
    resp = _contact(api, "k2", name="Someone Else")
    assert resp.status_code == 400
    assert "different request" in resp.json()["Message"]


def test_errors_are_cached_too(api: Api) -> None:
    api.contact("Taken", "C9")
    first = api.put(
        "/Contacts", {"Contacts": [{"Name": "Taken"}]}, headers={"Idempotency-Key": "k3"}
    )
    assert first.status_code == 400
    api.post("/Contacts", {"Contacts": [{"ContactNumber": "C9", "ContactStatus": "ARCHIVED"}]})
    again = api.put(
        "/Contacts", {"Contacts": [{"Name": "Taken"}]}, headers={"Idempotency-Key": "k3"}
    )
    assert again.status_code == 400
    assert again.json() == first.json()


def test_keys_expire_after_six_minutes_of_sandbox_time(
    api: Api, sandbox: Sandbox, clock: SandboxClock
) -> None:
    _contact(api, "k4", name="Six Minutes")
    clock.advance(6 * 60 + 1)
    resp = _contact(
        api, "k4", name="Six Minutes"
    )  # not a replay: a new write, refused as a duplicate
    assert resp.status_code == 400
    assert "already assigned" in resp.json()["Elements"][0]["ValidationErrors"][0]["Message"]
