"""A whole back-sync through a seeded random mix of the sandbox's faults ends exactly once.

Each round, every organisation gets a fault mix drawn from a seeded generator – transient
5xx, requests never answered, answers lost after commit, "organisation offline", scripted 429s
and expired tokens, access tokens expired under the worker, and once a disconnect the admin then
repairs by reconnecting – and the worker runs until idle; virtual time then moves on five
minutes. After the fault rounds the sandbox is healthy and the worker finishes. The end
condition is the crash test's: every eligible host record in Xero exactly once, nothing else,
nothing failed, and the ledger consistent. A short report (faults by kind, retries, adoptions
by look-up, final counts) is printed (``pytest -s``), written to ``fault_report.txt`` in the
test's tmp_path and attached with ``record_property``.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from support.reliability_practice import (
    exactly_once_problems,
    expected,
    found_in,
    frozen_clock,
    ledger_problems,
    make_sandbox,
    prepare,
)
from support.reliability_runner import Running, running

from pm_xero_plugin.sandbox import API_ROOT, Faults, Sandbox

SEED = 6006
TODAY = date(2025, 9, 15)
ROUNDS = 12


def _mix(rng: random.Random, faults: Faults) -> str:
    """One seeded fault mix for one organisation; returns its name for the report."""
    faults.clear()
    choice = rng.choice(["errors", "timeouts", "lost", "mixed", "offline", "script", "healthy"])
    if choice == "errors":
        faults.error_rate = rng.uniform(0.2, 0.6)
    elif choice == "timeouts":
        faults.timeout_rate = rng.uniform(0.2, 0.5)
    elif choice == "lost":
        faults.lost_response_rate = rng.uniform(0.2, 0.5)
    elif choice == "mixed":
        faults.error_rate = rng.uniform(0.05, 0.2)
        faults.timeout_rate = rng.uniform(0.05, 0.2)
        faults.lost_response_rate = rng.uniform(0.05, 0.2)
    elif choice == "offline":
        faults.offline = True
    elif choice == "script":
        outcomes = ["429", "token_expired", "lost", "timeout", "503", "ok"]
        faults.script.extend(rng.choice(outcomes) for _ in range(rng.randint(2, 6)))
    return choice


def _report(sandbox: Sandbox, run: Running, mixes: Counter[str], extra: Counter[str]) -> str:
    api = [r for r in sandbox.requests if str(r["path"]).startswith(API_ROOT)]
    seen: Counter[str] = Counter()
    for r in api:
        outcome, status = r["outcome"], r["status"]
        if outcome in ("timeout", "lost"):
            seen[f"{outcome} (no answer)"] += 1
        elif status in (500, 502, 503, 504, 429, 401, 403):
            seen[f"HTTP {status}"] += 1
        if outcome == "replayed":
            seen["idempotent replays"] += 1
    ledger = run.engine.ledger
    adopted = ledger._q("SELECT count(*) FROM rows WHERE reply LIKE '%\"adopted\"%'")[0][0]
    linked = ledger._q("SELECT count(*) FROM rows WHERE reply LIKE '%linked_existing%'")[0][0]
    retried = sum(s.retrying for s in run.stats)
    finals: Counter[str] = Counter()
    for c in ledger.counts():
        if c["n"]:
            finals[f"{c['kind']}:{c['state']}"] += c["n"]
    lines = [
        f"fault report (seed {SEED}, {ROUNDS} rounds, {len(api)} API requests)",
        "  mixes drawn: " + ", ".join(f"{k} {n}" for k, n in sorted(mixes.items())),
        "  also: " + ", ".join(f"{k} {n}" for k, n in sorted(extra.items())),
        "  faults seen by the sandbox: " + ", ".join(f"{k} {n}" for k, n in sorted(seen.items())),
        f"  rows settled as retrying: {retried}; adopted by look-up: {adopted}; "
        f"linked to an existing number: {linked}",
        "  final ledger: " + ", ".join(f"{k} {n}" for k, n in sorted(finals.items())),
    ]
    return "\n".join(lines)


def test_backsync_through_seeded_faults_ends_with_every_record_in_xero_exactly_once(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    rng = random.Random(SEED)
    sandbox = make_sandbox(orgs=2, seed=SEED)
    with sandbox.serve(port=0) as server:
        clock = frozen_clock(TODAY)
        prepared = prepare(
            tmp_path / "pm",
            sandbox,
            server.url,
            seed=SEED % 97,
            locations=2,
            clients=80,
            days=150,
            window_days=120,
            clock=clock,
        )
    want = expected(prepared)
    mixes: Counter[str] = Counter()
    extra: Counter[str] = Counter()
    disconnect_round = rng.randrange(2, ROUNDS - 2)
    with running(prepared, sandbox, server.url, clock) as run:
        for round_no in range(ROUNDS):
            for tenant in sandbox.tenant_ids:
                mixes[_mix(rng, sandbox.faults(tenant))] += 1
                if rng.random() < 0.2:
                    sandbox.faults(tenant).expire_tokens_now()
                    extra["access tokens expired now"] += 1
            if round_no == disconnect_round:
                victim = rng.choice(sorted(prepared.tenants.items()))
                sandbox.faults(victim[1]).disconnect()
                extra["disconnects"] += 1
            run.run_once()
            asked = run.reconnect_where_asked(sandbox, prepared.tenants)
            extra["admin reconnects (dashboard said so)"] += len(asked)
            if round_no == disconnect_round:
                assert victim[0] in asked, "a disconnected organisation must ask to reconnect"
            run.vt.advance(300)
        for tenant in sandbox.tenant_ids:
            sandbox.faults(tenant).clear()

        def repair() -> None:
            extra["admin reconnects (dashboard said so)"] += len(
                run.reconnect_where_asked(sandbox, prepared.tenants)
            )

        run.until_settled(repair=repair)
        report = _report(sandbox, run, mixes, extra)
        assert ledger_problems(run.engine.ledger) == []
        failed = run.engine.ledger._q(
            "SELECT kind, host_id, message FROM rows WHERE state = 'failed'"
        )
    print("\n" + report)
    (tmp_path / "fault_report.txt").write_text(report + "\n")
    record_property("fault_report", report)
    assert failed == []
    got = found_in(sandbox, set(prepared.tenants.values()))
    assert exactly_once_problems(want, got) == []
    assert sum(mixes[k] for k in mixes if k != "healthy") >= ROUNDS  # the faults did happen


@pytest.fixture(autouse=True)
def _no_app_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PM_XERO_URL", "PM_XERO_CLIENT_ID", "PM_XERO_CLIENT_SECRET", "PM_XERO_WORKER"):
        monkeypatch.delenv(name, raising=False)
