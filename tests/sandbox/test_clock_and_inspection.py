"""The sandbox clock, and the inspection view host developers and tests read."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import httpx
import pytest
from support.sandbox_helpers import Api, connect

from pm_xero_plugin.sandbox import Sandbox, SandboxClock


def test_manual_clock_moves_only_when_told() -> None:
    clock = SandboxClock(datetime(2024, 1, 1, tzinfo=UTC))
    assert clock.now() == clock.now() == datetime(2024, 1, 1, tzinfo=UTC)
    clock.advance(90)
    assert clock.now() == datetime(2024, 1, 1, 0, 1, 30, tzinfo=UTC)
    clock.set(datetime(2025, 1, 1, tzinfo=UTC))
    assert clock.now().year == 2025
    with pytest.raises(ValueError, match=r"timezone-aware"):
        clock.set(datetime(2025, 1, 1))


def test_time_scale_runs_sandbox_time_faster_than_real_time() -> None:
    clock = SandboxClock(datetime(2024, 1, 1, tzinfo=UTC), time_scale=3600)
    start = clock.now()
    time.sleep(0.01)  # the one real wait: that is what a time scale is about
    assert (clock.now() - start).total_seconds() >= 30


def test_inspect_is_json_and_holds_everything_per_org(api: Api, sandbox: Sandbox) -> None:
    c = api.contact()
    api.invoice(c["ContactID"])
    state = json.loads(json.dumps(sandbox.inspect()))
    org = state[api.tenant]
    assert org["name"] == "Sandbox Pets Ltd 1"
    assert org["connected"] is True
    assert org["invoices"][0]["InvoiceNumber"] == "INV-1"
    assert {
        "contacts",
        "credit_notes",
        "payments",
        "bank_transactions",
        "overpayments",
        "accounts",
    } <= set(org)


def test_requests_are_recorded_and_api_calls_counted_per_tenant(api: Api, sandbox: Sandbox) -> None:
    before = sandbox.api_calls(api.tenant)
    api.get("/Organisation")
    api.put("/Contacts", {"Contacts": [{"Name": "R"}]}, headers={"Idempotency-Key": "rk"})
    assert sandbox.api_calls(api.tenant) == before + 2
    assert sandbox.api_calls(sandbox.tenant_ids[1]) == 0
    last = sandbox.requests[-1]
    assert last["method"] == "PUT"
    assert last["tenant"] == api.tenant
    assert last["status"] == 200
    assert last["idempotency_key"] == "rk"
    assert last["time"].startswith("2024-03-01T09:00")


def test_add_org_creates_a_connectable_org_in_the_chosen_region(sandbox: Sandbox) -> None:
    tenant = sandbox.add_org(name="Kiwi Kennels", region="NZ")
    org = sandbox.org(tenant)
    assert org.name == "Kiwi Kennels"
    assert org.currency == "NZD"
    assert tenant in sandbox.tenant_ids


def test_seed_makes_tenant_ids_stable() -> None:
    assert Sandbox(seed=3).tenant_ids == Sandbox(seed=3).tenant_ids != Sandbox(seed=4).tenant_ids


def test_spec_is_found_from_env_or_beside_the_repo(monkeypatch, spec_path: str) -> None:  # type: ignore[no-untyped-def]
    from pm_xero_plugin.sandbox import find_spec

    monkeypatch.setenv("XERO_OPENAPI_SPEC", spec_path)
    assert str(find_spec()) == spec_path
    monkeypatch.delenv("XERO_OPENAPI_SPEC")
    assert find_spec() is not None
    assert find_spec().name == "xero_accounting.yaml"
    assert str(find_spec("/x/y.yaml")) == "/x/y.yaml"


def test_request_log_keeps_only_the_latest_but_api_call_counts_stay_exact(
    clock: SandboxClock,
) -> None:
    sandbox = Sandbox(clock=clock, requests_limit=3)
    with httpx.Client(transport=sandbox.transport(), base_url="http://xero.sandbox") as client:
        api = Api(client, connect(client))
        for n in range(5):
            api.get("/Contacts", where=f'ContactNumber=="C{n}"')
    assert len(sandbox.requests) == 3
    assert [r["query"] for r in sandbox.requests][-1].endswith("C4%22")
    assert sandbox.api_calls(api.tenant) == sandbox.api_calls() == 5
