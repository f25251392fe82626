"""A wall clock that jumps past the claim's lease while a payment is in flight sends it once; a
stale worker whose claim another worker took can neither settle nor re-send it.

Claims used to expire by the host clock: a +700 s jump (lease 600 s) while a 40.00 part-payment
was on its way let the worker claim its own in-flight row again, find nothing in Xero yet (the
first request had not landed) and send it a second time – two payments of 40.00 in Xero. Now a
claim is taken only from an owner judged gone by liveness (its pid gone, or its beat still for a
lease on the judge's *monotonic* clock), and every write of a claimed row carries the claim's
token (fencing).

The sandbox's answer to the payment is held by a transport that blocks until the test releases
it: before the sandbox sees the request (the jump case: nothing in Xero yet), or after it
processed it (the stale-worker case: in Xero, its answer not back yet).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from support.ledger_helpers import line
from support.reliability_practice import Prepared, frozen_clock, make_sandbox, prepare
from support.reliability_runner import Running, running
from support.virtual_time import VirtualTime

from hookspecs.refhost import ManualClock
from pm_xero_plugin.core.doorbell import Doorbell
from pm_xero_plugin.ledger import Row
from pm_xero_plugin.sandbox import Sandbox
from pm_xero_plugin.sync.worker import DEFAULT_LEASE_SECONDS, Worker

pytestmark = pytest.mark.timeout(120)

TODAY = date(2025, 9, 15)
SEED = 70
JUMP = timedelta(seconds=DEFAULT_LEASE_SECONDS + 100)


PAID = b'"Amount":40.0'
"""How the test's part-payment reads in a request body (the practice has payments of its own)."""


class HeldPayments(httpx.BaseTransport):
    """The sandbox's transport, holding the first create of the 40.00 payment once armed:
    ``before`` the sandbox handles it, or ``after`` (its answer held). Counts its creates."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.hold: str | None = None
        self.arrived = threading.Event()
        self.release = threading.Event()
        self.creates = 0
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if (
            request.method not in ("PUT", "POST")
            or not request.url.path.endswith("/Payments")
            or PAID not in request.content
        ):
            return self.inner.handle_request(request)
        with self._lock:
            self.creates += 1
            hold, self.hold = self.hold, None
        if hold == "before":
            self.arrived.set()
            assert self.release.wait(60), "the test never released the payment"
        response = self.inner.handle_request(request)
        if hold == "after":
            response.read()
            self.arrived.set()
            assert self.release.wait(60), "the test never released the answer"
        return response


@pytest.fixture
def practice(tmp_path: Path) -> Iterator[tuple[Sandbox, str, Prepared, ManualClock]]:
    sandbox = make_sandbox(orgs=1, seed=SEED)
    clock = frozen_clock(TODAY)
    with sandbox.serve(port=0) as server:
        prepared = prepare(
            tmp_path / "pm",
            sandbox,
            server.url,
            seed=SEED,
            locations=1,
            clients=6,
            days=20,
            window_days=10,
            clock=clock,
        )
        yield sandbox, server.url, prepared, clock


def _invoice_awaiting_payment(run: Running, prepared: Prepared) -> tuple[str, str, str]:
    """A new 100.00 invoice in Xero; returns (location, client, invoice id)."""
    [location] = prepared.tenants
    client = next(iter(run.host.iter_history("clients", location)))
    invoice = run.host.create_invoice(
        {"client_id": client["id"], "location_id": location, "lines": [line("100.00")]}
    )
    run.engine.record_invoice(invoice)
    run.until_settled()
    return location, str(client["id"]), str(invoice["id"])


def _pay_40(run: Running, location: str, client_id: str, invoice_id: str) -> Row:
    payment = run.host.record_payment(
        {
            "client_id": client_id,
            "location_id": location,
            "allocations": [{"invoice_id": invoice_id, "amount": "40.00"}],
        }
    )
    run.engine.record_payment(payment)
    [row] = run.engine.ledger.rows_for("payment", f"{payment['id']}:{invoice_id}")
    return row


def _amounts_in_xero(sandbox: Sandbox, tenant: str, xero_invoice_id: str) -> list[float]:
    books = sandbox.inspect()[tenant]
    return sorted(
        float(p["Amount"])
        for p in books["payments"]
        if (p.get("Invoice") or {}).get("InvoiceID") == xero_invoice_id
        and p.get("Status") != "DELETED"
    )


def _wait(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def test_a_clock_jump_past_the_lease_mid_send_leaves_the_payment_in_xero_once(
    practice: tuple[Sandbox, str, Prepared, ManualClock],
) -> None:
    sandbox, url, prepared, clock = practice
    [tenant] = prepared.tenants.values()
    held = HeldPayments(sandbox.transport())
    with running(prepared, sandbox, url, clock, transport=held) as run:
        run.until_settled()
        location, client_id, invoice_id = _invoice_awaiting_payment(run, prepared)
        xero_invoice = run.engine.ledger.xero_id("invoice", invoice_id, tenant)
        assert xero_invoice
        held.hold = "before"
        row = _pay_40(run, location, client_id, invoice_id)
        worker = run.runtime.worker
        worker.start()
        try:
            assert held.arrived.wait(20), "the payment was never sent"
            clock.advance(JUMP)  # the wall clock only: the worker's monotonic clock goes on
            # Time for the loop (polling every 20 ms) to look at the ledger many times over.
            time.sleep(1.0)
            assert held.creates == 1, "the in-flight payment was claimed and sent again"
            held.release.set()
            _wait(
                lambda: (run.engine.ledger.get(row.id) or row).state == "synced",
                30,
                "the payment never settled",
            )
        finally:
            held.release.set()
            worker.stop()
        assert _amounts_in_xero(sandbox, tenant, xero_invoice) == [40.0]
        assert held.creates == 1


def test_a_stale_worker_cannot_settle_or_resend_a_payment_another_worker_took(
    practice: tuple[Sandbox, str, Prepared, ManualClock], caplog: pytest.LogCaptureFixture
) -> None:
    sandbox, url, prepared, clock = practice
    [tenant] = prepared.tenants.values()
    held = HeldPayments(sandbox.transport())
    with running(prepared, sandbox, url, clock, transport=held) as run:
        run.until_settled()
        location, client_id, invoice_id = _invoice_awaiting_payment(run, prepared)
        xero_invoice = run.engine.ledger.xero_id("invoice", invoice_id, tenant)
        assert xero_invoice
        held.hold = "after"  # in Xero; its answer held: worker A stalls before settling
        row = _pay_40(run, location, client_id, invoice_id)
        stale = run.runtime.worker
        stale.start()
        judge_time = VirtualTime(start=0.0)
        other = Worker(
            run.engine.ledger,
            run.runtime.sender,
            now=run.host.now,
            doorbell=Doorbell(),
            threads=1,
            worker_id="w-other",
            monotonic=judge_time.monotonic,
        )
        try:
            assert held.arrived.wait(20), "the payment was never sent"
            in_flight = run.engine.ledger.get(row.id)
            assert in_flight is not None
            assert (in_flight.state, in_flight.uncertain) == ("sending", True)
            other.run(until_idle=True, max_seconds=5)  # sees worker A's beat: alive
            assert (run.engine.ledger.get(row.id) or row).state == "sending"
            judge_time.advance(DEFAULT_LEASE_SECONDS)  # A's beat stood still a lease long
            other.run(until_idle=True, max_seconds=5)
            taken = run.engine.ledger.get(row.id)
            assert taken is not None
            assert taken.state == "synced", "the other worker did not take the row"
            assert (taken.claim_token or 0) > (in_flight.claim_token or 0)
            assert held.creates == 1  # found by its reference in Xero, not sent again

            with caplog.at_level(logging.WARNING, logger="pm_xero_plugin.sync.worker"):
                held.release.set()  # the stale worker's answer arrives: it may not settle
                _wait(lambda: "claim lost" in caplog.text, 20, "no 'claim lost' logged")
        finally:
            held.release.set()
            stale.stop()
        after = run.engine.ledger.get(row.id)
        assert after == taken  # nothing the stale worker did changed the row
        assert held.creates == 1
        assert _amounts_in_xero(sandbox, tenant, xero_invoice) == [40.0]
