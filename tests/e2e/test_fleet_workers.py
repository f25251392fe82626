"""The fleet end to end: 100+ practices, one served sandbox, a PostgreSQL ledger, 4 workers.

One Pet Manager deployment serves many practices; each practice's locations sync to its own Xero
organisations (one or two per practice, two locations sometimes sharing one). The many-practice
reference host (:class:`~hookspecs.refhost.fleet.RefFleet`) runs the add-on for all of them in
this process, where each practice's admin connects its locations, chooses its settings and
presses "Start syncing data"; four ``pm-xero worker`` processes on the fleet's root then send
what the shared PostgreSQL ledger holds, to ``pm-xero sandbox`` served on loopback at Xero's
real per-organisation limits (5 calls in flight, 60 a minute; the sandbox's clock runs at one
second a second, so its minutes are real minutes). Two of the workers are SIGKILLed mid-run and
started again: their claims come back after their lease.

Then, read back from the sandbox and never from the ledger: every eligible record of every
practice is in its own practice's organisation exactly once, with the host's totals; no
organisation holds a record of another practice (each practice's numbers carry its tag); and
the sandbox's own peak counters – counted from each call's arrival, refused or not, the minute
sliding over arrival times – show no organisation ever above 5 calls in flight or 60 in a
minute. A few practices are busy enough that their organisation needs more than a minute of
Xero's budget, so the minute limit is really met.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from support.fleet_world import (
    BUSY_CLIENTS,
    Fleet,
    Workers,
    check_within_limits,
    foreign_records,
    organisations_needed,
    plan_fleet,
    running_fleet,
    served_sandbox,
    tags_in,
    untagged,
    wait_until,
    worker_environment,
)
from support.postgres import fresh_database

PRACTICES = 104
BUSY = 3
"""Practices whose one organisation needs more than 60 calls (the minute limit is met)."""
WORKER_ARGS = ("--batch-size", "5", "--lease-seconds", "15")
"""Batches of 5 elements make a busy practice's ~380 records some 75 calls (more than Xero's
minute allows); a killed worker's claims come back after 15 s."""


def test_the_checks_name_a_record_of_another_practice_found_in_an_organisation() -> None:
    # The leak check itself: a number tagged by practice 8 in practice 7's organisation.
    books = {
        "org-7": {"invoices": [{"InvoiceNumber": "P007INV1"}, {"InvoiceNumber": "P008INV3"}]},
        "org-8": {"contacts": [{"ContactNumber": "P008C2", "Name": "P007 is a name, not a tag"}]},
        "org-x": {"payments": [{"Reference": "P009PAY4"}]},
    }
    assert tags_in(books["org-7"]) == {"P007", "P008"}
    assert foreign_records(books, {"org-7": "P007", "org-8": "P008"}) == {
        "org-7": {"P008"},
        "org-x": {"P009"},  # an organisation no practice owns holds nobody's records
    }
    assert untagged(books["org-7"], "P007") == {
        "invoices": [{"InvoiceNumber": "INV1"}, {"InvoiceNumber": "P008INV3"}]
    }
    assert untagged("Overpayment on payment P007PAY12", "P007") == "Overpayment on payment PAY12"


def test_the_fleet_plan_has_one_or_two_organisations_per_practice_and_busy_ones() -> None:
    plans = plan_fleet(PRACTICES, busy=BUSY)
    assert len(plans) >= 100
    assert {p.organisations for p in plans} == {1, 2}
    assert any(p.shared for p in plans)  # two locations in one organisation, tracked
    assert [p.clients for p in plans[:BUSY]] == [BUSY_CLIENTS] * BUSY
    assert len({p.tag for p in plans}) == len(plans)
    assert organisations_needed(plans) == sum(p.organisations for p in plans)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_four_workers_two_killed_sync_each_practice_into_its_own_organisations_within_limits(
    tmp_path: Path, xero_spec_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plans = plan_fleet(PRACTICES, busy=BUSY)
    root = tmp_path / "fleet"
    with (
        fresh_database() as ledger_url,
        served_sandbox(organisations_needed(plans), str(xero_spec_path)) as sandbox,
    ):
        for name, value in sandbox.app_environment().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("PM_XERO_LEDGER", ledger_url)
        monkeypatch.setenv("PM_XERO_WORKER", "off")  # this process only records; workers send
        with running_fleet(root, plans, sandbox.tenants) as fleet:
            workers = Workers(
                ["--data-dir", str(root), *WORKER_ARGS, "--metrics-port", "0"],
                worker_environment(sandbox, {"PM_XERO_LEDGER": ledger_url}),
                tmp_path / "logs",
            )
            _run_killing_two(fleet, workers)
            fleet.check_books(sandbox.books())
            peaks = sandbox.peaks()
            highest = check_within_limits(peaks)
            busy = fleet.organisations_of(plans[:BUSY])
            assert all(peaks[t]["calls"] > 60 for t in busy), {t: peaks[t] for t in busy}
            print(f"fleet: {len(plans)} practices, {len(fleet.owners())} organisations, {highest}")


def _run_killing_two(fleet: Fleet, workers: Workers) -> None:
    """Four workers until the fleet's ledger has nothing on its way, two of them SIGKILLed
    mid-run (a quarter and half of the rows through) and started again; then SIGTERM: each
    finishes or gives back what it holds and exits 0."""
    before = fleet.open_rows()
    assert before > 2000, before
    workers.start(4)
    try:
        for index, share in ((0, 0.75), (1, 0.5)):
            reached = wait_until(lambda s=share: fleet.open_rows() <= before * s, 300)
            assert reached, workers.output()
            assert fleet.open_rows() > 0, "the fleet drained before a worker could be killed"
            workers.kill_and_restart(index)
        started = time.monotonic()
        drained = wait_until(lambda: fleet.open_rows() == 0, 300, every=2.0)
        assert drained, f"{fleet.open_rows()} rows still open\n{workers.output()}"
        assert all(workers.alive()), workers.output()
        assert fleet.held() == {}, workers.output()  # drained by sending, not by gating
        print(f"fleet: drained {time.monotonic() - started:.0f} s after the second kill")
    finally:
        codes = workers.stop()
    assert workers.killed == [-9, -9]
    assert codes == [0, 0, 0, 0], workers.output()
