"""A location is not moved to another organisation while its records may be in the first one.

The contacts of a location went to organisation A and every answer was lost (A created them; the
add-on does not know). An admin then points the location at organisation B. Accepted, the rows in
doubt would follow the location: looked up in B, not found, created there – in both books, and A
no longer tracked. The move must be refused with the reason and what to do; once the look-ups in
A have settled them, nothing of the location is left in A untracked, and B holds nothing.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import httpx
from support.reliability_practice import frozen_clock, make_sandbox, prepare
from support.reliability_runner import running

SEED = 5150
TODAY = date(2025, 6, 2)


class LoseCreatedContacts(httpx.BaseTransport):
    """The sandbox, except that while ``on`` the answers to contact creates are lost after the
    sandbox handled them (a read timeout, on every try of the client)."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.on = True

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if self.on and request.method == "PUT" and request.url.path.endswith("/Contacts"):
            response.read()
            raise httpx.ReadTimeout("answer lost", request=request)
        return response


def test_a_move_with_records_in_doubt_is_refused_and_nothing_is_left_behind(
    tmp_path: Path,
) -> None:
    sandbox = make_sandbox(orgs=2, seed=SEED)
    clock = frozen_clock(TODAY)
    with sandbox.serve(port=0) as server:
        prepared = prepare(
            tmp_path / "pm",
            sandbox,
            server.url,
            seed=SEED % 50,
            locations=1,
            clients=8,
            days=30,
            window_days=20,
            clock=clock,
        )
    [(location, a)] = prepared.tenants.items()
    [b] = [t for t in sandbox.tenant_ids if t != a]
    transport = LoseCreatedContacts(sandbox.transport())
    with running(prepared, sandbox, server.url, clock, transport=transport) as run:
        engine = run.engine
        run.run_once()  # A creates them; every answer is lost
        transport.on = False
        in_a = [c for c in sandbox.inspect()[a]["contacts"] if c.get("ContactNumber")]
        rows = engine.ledger.find_rows(kind="contact", limit=None)[0]
        doubtful = [r for r in rows if r.uncertain]
        assert in_a, "the contacts reached A"
        assert len(doubtful) == len(in_a), "and the add-on does not know it"

        raw: dict[str, Any] = dict(run.host.settings("xero"))
        moved = {
            **raw,
            "locations": {location: {**raw["locations"][location], "tenant_id": b}},
            "account_codes": {b: raw["account_codes"][a], **raw["account_codes"]},
        }
        errors = engine.validate_settings(moved)
        name = engine.locations()[location]["name"]
        assert any(
            f"{len(in_a)} records of {name} may already be in organisation {a}" in e
            and "save again once the dashboard shows none in doubt" in e
            for e in errors
        ), errors
        engine.apply_settings(moved)  # a host that saves without validating is refused too
        assert engine.settings is not None
        assert engine.settings.tenant_for(location) == a

        run.until_settled()  # the worker looks them up in A and adopts them

        books = sandbox.inspect()
        assert [c for c in books[b]["contacts"] if c.get("ContactNumber")] == []
        numbers_in_a = sorted(
            c["ContactNumber"] for c in books[a]["contacts"] if c.get("ContactNumber")
        )
        tracked = sorted(
            f"C{r.number}"
            for r in engine.ledger.find_rows(kind="contact", limit=None)[0]
            if r.tenant_id == a and r.state == "synced"
        )
        assert tracked == numbers_in_a, "every contact in A is tracked in A, none twice"
        assert len(set(numbers_in_a)) == len(numbers_in_a)
        errors = engine.validate_settings(moved)
        assert any("already in organisation" in e for e in errors), errors
