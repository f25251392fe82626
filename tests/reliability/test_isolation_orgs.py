"""One organisation's trouble is its own: it never holds the others up, and no record strays.

Three locations, each with its own organisation. While organisation A is offline (every call
503) and organisation B answers 429 ``Retry-After: 60`` to its next calls, organisation C must
back-sync completely. Measured on the sandbox's request log (its order, and the sandbox clock –
virtual time shared with the worker – never wall-clock timers):

* C is never starved: between two consecutive requests to C, the others get at most their own
  share (each may have ``per_tenant`` batches in flight, each batch up to the client's
  ``max_attempts`` tries);
* B is left alone for the ``Retry-After`` it was given: no request to B before the sandbox
  clock has moved 60 s past the 429;
* no request carries a record to an organisation other than its location's, and once A is back
  and B's window has passed everything is in Xero exactly once.
"""

from __future__ import annotations

import itertools
from datetime import date, datetime
from pathlib import Path

from support.reliability_practice import (
    exactly_once_problems,
    expected,
    found_in,
    frozen_clock,
    ledger_problems,
    make_sandbox,
    open_rows,
    prepare,
)
from support.reliability_runner import running

from pm_xero_plugin.sandbox import API_ROOT, SandboxClock

SEED = 31337
TODAY = date(2025, 10, 1)
PER_TENANT = 2
MAX_ATTEMPTS = 5  # XeroClient's default tries per request


def _open_for(ledger: object, tenant: str) -> int:
    rows = ledger._q(  # type: ignore[attr-defined]
        "SELECT count(*) FROM rows WHERE tenant_id = ? AND state IN "
        "('ready', 'sending', 'retrying') OR (tenant_id = ? AND state = 'waiting' "
        "AND gate IN ('contact', 'invoice', 'credit_note', 'contact_sync', 'connection'))",
        [tenant, tenant],
    )
    return int(rows[0][0])


def test_a_failing_and_a_rate_limited_organisation_never_hold_up_a_healthy_one(
    tmp_path: Path,
) -> None:
    sandbox = make_sandbox(orgs=3, seed=SEED)
    sandbox.clock = SandboxClock(time_scale=1.0)  # real seconds plus the virtual jumps
    with sandbox.serve(port=0) as server:
        clock = frozen_clock(TODAY)
        prepared = prepare(
            tmp_path / "pm",
            sandbox,
            server.url,
            seed=SEED % 50,
            locations=3,
            clients=45,
            days=90,
            window_days=80,
            clock=clock,
        )
    want = expected(prepared)
    a, b, c = (prepared.tenants[loc] for loc in sorted(prepared.tenants))
    sandbox.identity._now = sandbox.clock  # tokens and limits on the same clock
    sandbox.faults(a).offline = True
    sandbox.faults(b).script.extend(["429", "429", "429"])
    first_request = len(sandbox.requests)
    with running(prepared, sandbox, server.url, clock, per_tenant=PER_TENANT) as run:
        ledger = run.engine.ledger
        rounds = 0
        while _open_for(ledger, c) and rounds < 30:
            run.run_once(max_seconds=0.5)
            run.vt.advance(5)
            rounds += 1
        assert _open_for(ledger, c) == 0, f"C still open after {rounds} rounds: {open_rows(ledger)}"
        assert _open_for(ledger, a) > 0, "A was offline: its records cannot have gone"
        phase_one = list(sandbox.requests)[first_request:]
        sandbox.faults(a).offline = False
        run.until_settled()
        assert ledger_problems(ledger) == []
    log = [r for r in list(sandbox.requests)[first_request:] if str(r["path"]).startswith(API_ROOT)]

    # C is served between the others' attempts: its gaps are bounded by their own share.
    calls = [r for r in phase_one if str(r["path"]).startswith(API_ROOT)]
    positions = [i for i, r in enumerate(calls) if r["tenant"] == c]
    assert positions, "C was never called"
    share = 2 * PER_TENANT * MAX_ATTEMPTS + 2  # + a look-up per organisation
    gaps = [later - earlier - 1 for earlier, later in itertools.pairwise(positions)]
    assert max([positions[0], *gaps]) <= share, (positions[0], gaps)

    # B is left alone for the Retry-After it was given, on the sandbox clock.
    b_calls = [r for r in log if r["tenant"] == b]
    for first, then in itertools.pairwise(b_calls):
        if first["status"] == 429:
            waited = datetime.fromisoformat(then["time"]) - datetime.fromisoformat(first["time"])
            assert waited.total_seconds() >= 60, (first, then)
    assert sum(1 for r in b_calls if r["status"] == 429) == 3

    # Every record is in its own location's organisation only, exactly once.
    got = found_in(sandbox, set(prepared.tenants.values()))
    assert exactly_once_problems(want, got) == []
