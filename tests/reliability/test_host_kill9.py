"""kill -9 of the *host* (the add-on inside it) at seeded points loses and duplicates nothing.

Hooks fire after the host's commit, so a host that dies between its commit and the add-on's has
stored a record the add-on never heard of; a back-sync or catch-up running in the background dies
with the process; a settings save may be stored by the host and never applied by the add-on.
The contract says unfinished work is picked up after the next ``pm_startup`` – so after a plain
restart, and the reconciliation with the host's records that start-up runs, every record the host
holds in the window must reach Xero exactly once, in its own organisation and in its last version
(an invoice's total, a customer's phone: an edit or a void whose hook was lost included), and
nothing outside the window.

One sandbox is served on loopback by the test process and lives through every kill (a request in
flight when the host dies is still committed by it). The practice is prepared once (connected,
settings saved with a start date, contact sync started; nothing sent). Then reference-host
processes (``host_kill_child.py``, the add-on loaded through ``pm_xero_plugin.plugin``, its worker
thread sending) each live one seeded "generation" – an admin action (Start syncing data, a
settings save moving the start date earlier, another settings save) and a busy day at every
location – and die at a seeded point: inside the Nth record hook before or after the add-on is
handed it, inside ``on_settings_saved``, after the add-on read N records of history, or N ms after
start-up. A last host run waits for the background jobs and runs the worker until idle.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from support.reliability_practice import (
    PLUGIN,
    Prepared,
    app_env,
    exactly_once_problems,
    expected,
    found_in,
    ledger_problems,
    make_sandbox,
    open_rows,
    prepare,
)

from hookspecs.refhost import RefHost
from pm_xero_plugin.sandbox import Sandbox

CHILD = Path(__file__).with_name("host_kill_child.py")
SEED = 20261201
GENERATION = 700.0
"""Seconds each restarted host's clock runs ahead of the previous one, as if it came up minutes
after the crash: longer than a worker's lease (600 s), so nothing here depends on how a claim the
dead host held is judged gone (by its pid, or by the host clock)."""
HISTORY_DAYS = 75
FIRST_START = 25
"""Days before today of the first start date; every "earlier" save moves it 5 days earlier."""
STEP = 5

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL"),
]


def _plans(rng: random.Random, today: date, sizes: dict[str, int]) -> list[dict[str, Any]]:
    """The generations, each with its seeded kill point: 27 kills across the four kinds (the
    record hooks include two voids of an invoice Xero has, killed before and after the add-on,
    and an edit of one, its hook lost).

    :param sizes: how many records a back-sync of the first window reads (``window``) and how
        many customers a catch-up reads first (``clients``), so the history kills land inside.
    """
    days = [(today - timedelta(days=d)).isoformat() for d in range(20, 0, -1)]
    start = [FIRST_START]

    def earlier() -> dict[str, str]:
        start[0] += STEP
        return {"start_date": (today - timedelta(days=start[0])).isoformat()}

    def hook_kill() -> dict[str, Any]:
        if rng.random() < 0.3:
            return {"ms": rng.randint(5, 200)}
        when = rng.choice(["before", "after", "during"])
        kill = {"hook": rng.randint(1, 10), "when": when}
        return kill | {"us": rng.randint(0, 4000)} if when == "during" else kill

    # Start syncing data, then a restart that must resume it (and is killed again); the rest in
    # a seeded order, with hooks last (nothing replays the window after them but start-up).
    kinds = ["catch-up"] * 4 + ["settings"] * 4 + ["back-sync"] * 2 + ["hooks"] * 7
    kinds += ["void"] * 2 + ["edit"]
    rng.shuffle(kinds)
    kinds = ["start", "back-sync", *kinds] + ["hooks"] * 5
    plans: list[dict[str, Any]] = []
    for kind in kinds:
        plan: dict[str, Any] = {"kind": kind, "day": days[len(plans) % len(days)]}
        if kind == "start":
            kill = {"history": rng.randint(1, sizes["window"] - 1)}
            plan |= {"action": "backfill", "kill": kill}
        elif kind == "catch-up":
            kill = {
                "history": rng.randint(sizes["clients"] // 2, sizes["clients"] + sizes["window"])
            }
            plan |= {"action": earlier(), "kill": kill}
        elif kind == "settings":
            action = earlier() if rng.random() < 0.5 else "resave"
            plan |= {"action": action, "kill": {"settings_hook": rng.choice(["before", "after"])}}
        elif kind == "void":  # a void of an invoice Xero has, the hook lost or not
            plan |= {"kill": {"void": "before" if kinds[: len(plans)].count("void") else "after"}}
        elif kind == "edit":  # an edit of an invoice Xero has, the hook lost
            plan |= {"kill": {"edit": "before"}}
        elif kind == "back-sync":  # whatever replays history at start-up (a resumed job)
            plan |= {"kill": {"history": rng.randint(1, 10)}}
        else:
            plan |= {"kill": hook_kill()}
        plans.append(plan)
    return plans


def _run(root: Path, url: str, plan: dict[str, Any], *, final: bool = False) -> tuple[int, str]:
    env = {**os.environ, **app_env(url), "PM_XERO_JOBS": "background"}
    env["PM_XERO_WORKER"] = "off" if final else "thread"
    child = subprocess.run(
        [sys.executable, str(CHILD), str(root), json.dumps({**plan, "final": final})],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        cwd=Path(__file__).parents[2],
    )
    return child.returncode, child.stdout + child.stderr[-3000:]


def _landed(out: str) -> str | None:
    for line in out.splitlines():
        if line.startswith("kill "):
            return line.removeprefix("kill ")
    return None


def _sizes(prepared: Prepared) -> dict[str, int]:
    """How many customers, and documents in the first window, the host holds (all locations)."""
    host = RefHost(prepared.root, load_entrypoints=False)
    try:
        locations = list(prepared.tenants)
        clients = sum(1 for loc in locations for _ in host.iter_history("clients", loc))
        window = sum(
            1
            for loc in locations
            for kind in ("invoices", "credit_notes", "payments")
            for _ in host.iter_history(kind, loc, prepared.start_date)
        )
    finally:
        host.close()
    return {"clients": clients, "window": window}


def _stale_in_xero(window: Prepared, sandbox: Sandbox) -> list[str]:
    """Records Xero holds in another version than the host's last: an invoice's total (an edit
    lost), a customer's phone (a change of details lost)."""
    state = sandbox.inspect()
    stale: list[str] = []
    host = RefHost(window.root, load_entrypoints=False)
    try:
        for location, tenant in window.tenants.items():
            books = state[tenant]
            totals = {str(i.get("InvoiceNumber")): i.get("Total") for i in books["invoices"]}
            for invoice in host.iter_history("invoices", location, window.start_date):
                key = f"INV{invoice['number']}"
                if invoice.get("status") == "voided" or key not in totals:
                    continue  # exactly_once_problems says what is missing
                if Decimal(str(totals[key])) != Decimal(str(invoice["total"])):
                    stale.append(f"{key}: {invoice['total']} in the host, {totals[key]} in Xero")
            phones = {
                str(c.get("ContactNumber")): {p.get("PhoneNumber") for p in c.get("Phones") or []}
                for c in books["contacts"]
            }
            for client in host.iter_history("clients", location):
                key = f"C{client['number']}"
                if key in phones and client.get("phone") and client["phone"] not in phones[key]:
                    stale.append(f"{key}: phone {client['phone']} in the host, not in Xero")
    finally:
        host.close()
    return stale


def _final_start(root: Path) -> date:
    host = RefHost(root, load_entrypoints=False)
    try:
        return date.fromisoformat(host.settings(PLUGIN)["start_date"])
    finally:
        host.close()


def _ledger_state(prepared: Prepared) -> tuple[dict[str, int], list[str], list[Any]]:
    ledger = prepared.ledger()
    try:
        failed = ledger._q("SELECT kind, host_id, message FROM rows WHERE state = 'failed'")
        return open_rows(ledger), ledger_problems(ledger), failed
    finally:
        ledger.close()


def test_host_killed_at_seeded_points_leaves_every_record_in_the_window_in_xero_exactly_once(
    tmp_path: Path,
) -> None:
    rng = random.Random(SEED)
    sandbox = make_sandbox(orgs=2, seed=SEED)
    with sandbox.serve(port=0) as server:
        prepared = prepare(
            tmp_path / "pm",
            sandbox,
            server.url,
            seed=SEED % 1000,
            locations=2,
            clients=40,
            days=HISTORY_DAYS,
            window_days=FIRST_START,
            backfill=False,
        )
        plans = _plans(rng, prepared.today, _sizes(prepared))
        kills: list[str] = []
        generation = 0
        for plan in plans:
            generation += 1
            plan |= {"offset": generation * GENERATION, "seed": SEED + generation}
            code, out = _run(prepared.root, server.url, plan)
            assert "settings refused" not in out, out
            where = _landed(out)
            if code == -signal.SIGKILL and where:
                kills.append(f"g{generation} {plan['kind']}: {where}")
            else:
                assert code == 0, out
                assert "hook_failures=0" in out, out
                kills.append(f"g{generation} {plan['kind']}: not reached ({plan['kill']})")

        for extra in range(3):  # a retry may be scheduled later: each last run is a day later
            generation += 1
            final = {"offset": generation * GENERATION + extra * 86_400.0, "seed": SEED}
            code, out = _run(prepared.root, server.url, final, final=True)
            assert code == 0, out
            assert "jobs_done=True" in out, out
            if not _ledger_state(prepared)[0]:
                break

        window = replace(prepared, start_date=_final_start(prepared.root))
        want = expected(window)
        got = found_in(sandbox, set(prepared.tenants.values()))
        problems = exactly_once_problems(want, got) + _stale_in_xero(window, sandbox)
        open_now, inconsistent, failed = _ledger_state(prepared)
        report = f"seed {SEED}, window from {window.start_date}; kill points:\n  " + "\n  ".join(
            kills
        )
        assert problems == [], "\n".join(problems) + "\n" + report
        assert open_now == {}, f"{open_now}; failed: {failed}\n{report}"
        assert inconsistent == [], f"{inconsistent}\n{report}"
        assert failed == [], f"{failed}\n{report}"
        landed = [k for k in kills if "not reached" not in k]
        assert len(landed) >= 20, report
        print(
            f"\nhost kill test: {len(landed)} kills, {generation} host processes, "
            f"{sandbox.api_calls()} API calls, {want.total()} records in Xero; " + report
        )


def test_the_kill_plan_covers_every_kind_of_point() -> None:
    """The seeded plan itself: 20+ kills, each of the four kinds several times (hooks before
    and after the add-on, settings saves, catch-ups, the back-sync)."""
    plans = _plans(random.Random(SEED), datetime.now(UTC).date(), {"clients": 40, "window": 90})
    kinds = [p["kind"] for p in plans]
    assert len(plans) >= 20
    assert kinds[0] == "start"
    assert plans[0]["action"] == "backfill"
    for kind in ("catch-up", "settings", "back-sync", "hooks"):
        assert kinds.count(kind) >= 3, kind
    assert sorted(p["kill"]["void"] for p in plans if p["kind"] == "void") == ["after", "before"]
