"""The sandbox can check its own answers against Xero's response schemas (the end-to-end suite
turns it on and fails on any violation): a Xero-shaped answer passes, a drifted one is caught."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from support.sandbox_helpers import Api, connect

from pm_xero_plugin.sandbox import Sandbox, SandboxClock
from pm_xero_plugin.sandbox.orgs import Org


@pytest.fixture
def checked(clock: SandboxClock, spec_path: str) -> Sandbox:
    return Sandbox(clock=clock, spec_path=spec_path, check_responses=True)


def _api(sandbox: Sandbox) -> Api:
    client = httpx.Client(transport=sandbox.transport(), base_url="http://xero.sandbox")
    return Api(client, connect(client))


def test_xero_shaped_answers_pass_and_are_counted(checked: Sandbox) -> None:
    api = _api(checked)
    contact = api.contact()
    assert api.invoice(contact["ContactID"]).status_code == 200
    assert api.invoice(contact["ContactID"]).status_code == 200  # a per-element error
    api.get("/Invoices", page="1")
    api.get("/Organisation")
    api.get("/Invoices", headers={"Authorization": "Bearer nope"})  # 401: not in the spec
    assert checked.response_violations == []
    assert checked.responses_checked == 5  # the 401 is Xero's gateway's, not the spec's


def test_an_answer_that_drifts_from_the_spec_is_recorded(
    checked: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    drifted = Org.organisation

    def organisation(self: Org, locks: Any = None) -> dict[str, Any]:
        return {**drifted(self, locks), "PaysTax": "yes", "FinancialYearEndDay": "30th"}

    monkeypatch.setattr(Org, "organisation", organisation)
    api = _api(checked)
    assert api.get("/Organisation").status_code == 200  # the client still gets its answer
    found = checked.response_violations
    assert len(found) == 2
    assert all(v.startswith("GET /Organisation -> 200: ") for v in found)
    assert any("'yes' is not of type 'boolean'" in v for v in found)
    assert any("Organisations/0/FinancialYearEndDay" in v for v in found)


def test_checking_answers_needs_the_spec() -> None:
    with pytest.raises(ValueError, match="spec_path"):
        Sandbox(check_responses=True)
