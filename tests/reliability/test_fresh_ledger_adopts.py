"""A fresh ledger over an organisation that already holds our records adopts them by number.

The ledger was deleted (or lost) after a practice had synced. On the next start every customer
and document is queued again; Xero already holds each of them under our numbers. They must be
matched – a customer by the ContactNumber it carries, a document by the one rule for documents
(same contact, total and date) – never failed as "already assigned to another contact", and
never created a second time.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from support.reliability_practice import (
    PLUGIN,
    app_environment,
    exactly_once_problems,
    expected,
    found_in,
    frozen_clock,
    ledger_problems,
    make_sandbox,
    prepare,
)
from support.reliability_runner import running

from hookspecs.refhost import RefHost
from pm_xero_plugin import plugin

SEED = 909
TODAY = date(2025, 7, 1)


def test_a_fresh_ledger_adopts_what_the_organisation_already_holds_by_number(
    tmp_path: Path,
) -> None:
    sandbox = make_sandbox(orgs=1, seed=SEED)
    clock = frozen_clock(TODAY)
    with sandbox.serve(port=0) as server:
        prepared = prepare(
            tmp_path / "pm",
            sandbox,
            server.url,
            seed=SEED % 50,
            locations=1,
            clients=15,
            days=60,
            window_days=45,
            clock=clock,
        )
        with running(prepared, sandbox, server.url, clock) as run:
            run.until_settled()
        want = expected(prepared)
        tenants = set(prepared.tenants.values())
        assert exactly_once_problems(want, found_in(sandbox, tenants)) == []

        ledger_file = prepared.root / "plugins" / PLUGIN / "ledger.sqlite3"
        for leftover in ledger_file.parent.glob("ledger.sqlite3*"):
            leftover.unlink()
        with app_environment(server.url):
            host = RefHost(prepared.root, clock=clock, load_entrypoints=False)
            host.register(plugin, name=PLUGIN)
            host.start()
            try:
                host.start_contact_sync(None)
                host.backfill(None, None)
                assert host.hook_failures == []
            finally:
                host.stop()
                host.close()

        with running(prepared, sandbox, server.url, clock) as run:
            run.until_settled()
            ledger = run.engine.ledger
            failed = [
                (r.kind, r.message) for r in ledger.find_rows(states=["failed"], limit=None)[0]
            ]
            assert failed == []
            held = ledger.contact_conflicts()
            assert held == []
            assert ledger_problems(ledger) == []
            for kind, by in (("contact", "ContactNumber"), ("invoice", "Contact, Total, Date")):
                adopted = ledger.find_rows(states=["synced"], kind=kind, limit=None)[0]
                assert adopted, kind
                for row in adopted:
                    said = [e["message"] or "" for e in ledger.log(row.id)]
                    assert any(f"ours by {by}" in m for m in said), (kind, said)
    assert exactly_once_problems(want, found_in(sandbox, tenants)) == []
