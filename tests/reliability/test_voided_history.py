"""A booking voided before the add-on ever saw it never becomes revenue in Xero.

The back-sync replays history in which some invoices are already ``voided`` (cancelled bookings,
never paid). Such an invoice must either stay out of Xero or be there as VOIDED – never as an
AUTHORISED invoice, which would put a cancelled booking into the organisation's revenue.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from support.reliability_practice import (
    expected,
    found_in,
    frozen_clock,
    make_sandbox,
    prepare,
)
from support.reliability_runner import running

SEED = 77
TODAY = date(2025, 9, 15)


def test_invoices_voided_in_history_never_reach_xero_as_authorised(tmp_path: Path) -> None:
    sandbox = make_sandbox(orgs=2, seed=SEED)
    clock = frozen_clock(TODAY)
    with sandbox.serve(port=0) as server:
        prepared = prepare(
            tmp_path / "pm",
            sandbox,
            server.url,
            seed=SEED,
            locations=2,
            clients=80,
            days=150,
            window_days=120,
            clock=clock,
        )
    want = expected(prepared)
    voided = {t: numbers for t, numbers in want.voided.items() if numbers}
    assert voided, "the practice must have voided invoices in the window"
    with running(prepared, sandbox, server.url, clock) as run:
        run.until_settled()
    got = found_in(sandbox, set(prepared.tenants.values()))
    wrong = {
        number: got.invoice_status[tenant][number]
        for tenant, numbers in voided.items()
        for number in numbers
        if got.invoice_status[tenant].get(number, "VOIDED") != "VOIDED"
    }
    assert wrong == {}
