"""The worker fills history's batches: a small claim of history, while its organisation has a
batch in flight, waits (for at most ``FILL_SECONDS``) and goes topped up with the rows that
became ready meanwhile – of its kind, or of another kind Xero takes at the same endpoint – instead
of spending a call of the organisation's 60 a minute on each few. A live record never waits.

A real SQLite ledger; the sender is a recording stand-in whose first request stays "in flight"
until the test lets it go, so what the worker does meanwhile is seen (the requests themselves,
against the sandbox, are pinned by tests/demo/test_demo_fills_batches.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from support.ledger_helpers import START, new_row

from pm_xero_plugin.core.doorbell import Doorbell
from pm_xero_plugin.ledger import Row, SqliteLedger
from pm_xero_plugin.sync.sender import BatchOutcome
from pm_xero_plugin.sync.worker import FILL_SECONDS, Worker

TENANT = "T1"


@dataclass
class Batch:
    kinds: tuple[str, ...]
    size: int
    live: bool
    at: float


@dataclass
class HeldFirst:
    """Sends: settles every row as synced; the first batch waits until ``release`` is set."""

    ledger: SqliteLedger
    release: threading.Event = field(default_factory=threading.Event)
    first_in_flight: threading.Event = field(default_factory=threading.Event)
    batches: list[Batch] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, tenant_id: str, kind: str, rows: Sequence[Row]) -> BatchOutcome:
        with self.lock:
            first = not self.batches
            self.batches.append(
                Batch(
                    tuple(sorted({r.kind for r in rows})),
                    len(rows),
                    any(r.priority > 0 for r in rows),
                    time.monotonic(),
                )
            )
        if first:
            self.first_in_flight.set()
            assert self.release.wait(10)
        for row in rows:
            self.ledger.mark_synced(row.id, f"X-{row.host_id}")
        return BatchOutcome(synced=len(rows), api_calls=1)


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[SqliteLedger]:
    led = SqliteLedger(tmp_path / "ledger.sqlite3", clock=lambda: START)
    yield led
    led.close()


def add(ledger: SqliteLedger, kind: str, n: int, *, start: int = 0, priority: int = 0) -> None:
    ledger.insert(
        [new_row(kind, f"{kind}-{start + i}", TENANT, priority=priority) for i in range(n)]
    )


def worker(ledger: SqliteLedger, sender: HeldFirst) -> Worker:
    return Worker(ledger, sender, now=lambda: START, doorbell=Doorbell(), poll_seconds=0.02)


def run_in_background(w: Worker) -> threading.Thread:
    thread = threading.Thread(target=lambda: w.run(until_idle=True, max_seconds=10))
    thread.start()
    return thread


def test_a_small_history_claim_waits_for_the_batch_in_flight_and_goes_topped_up(
    ledger: SqliteLedger,
) -> None:
    add(ledger, "contact", 57)
    sender = HeldFirst(ledger)
    thread = run_in_background(worker(ledger, sender))
    assert sender.first_in_flight.wait(5)
    time.sleep(0.1)  # the worker has looked again meanwhile: the 7 left are claimed and held
    add(ledger, "contact", 30, start=57)  # the back-sync enqueues more while the 50 travel
    time.sleep(0.1)
    sender.release.set()
    thread.join(10)

    assert [b.size for b in sender.batches] == [50, 37]
    assert sum(r["n"] for r in ledger.counts() if r["state"] == "synced") == 87


def test_history_of_kinds_sharing_an_endpoint_goes_in_one_request(ledger: SqliteLedger) -> None:
    add(ledger, "contact", 50)
    add(ledger, "overpayment", 2)
    add(ledger, "deposit", 6)
    add(ledger, "payout_fee", 5)
    sender = HeldFirst(ledger)
    thread = run_in_background(worker(ledger, sender))
    assert sender.first_in_flight.wait(5)
    time.sleep(0.1)
    sender.release.set()
    thread.join(10)

    assert [(b.kinds, b.size) for b in sender.batches] == [
        (("contact",), 50),
        (("deposit", "overpayment", "payout_fee"), 13),  # all BankTransactions
    ]


def test_a_live_record_goes_at_once_while_history_fills(ledger: SqliteLedger) -> None:
    add(ledger, "contact", 53)
    sender = HeldFirst(ledger)
    thread = run_in_background(worker(ledger, sender))
    assert sender.first_in_flight.wait(5)
    time.sleep(0.1)  # the 3 contacts left are held, filling
    recorded = time.monotonic()
    add(ledger, "invoice", 1, priority=1)  # a live invoice (its contact is in Xero already)
    deadline = time.monotonic() + 2
    while len(sender.batches) < 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    sender.release.set()
    thread.join(10)

    live = [b for b in sender.batches if b.live]
    assert [(b.kinds, b.size) for b in live] == [(("invoice",), 1)]
    assert live[0].at - recorded < FILL_SECONDS / 2  # sent while the first batch still flew
    assert [b.size for b in sender.batches if not b.live] == [50, 3]


def test_held_history_goes_once_its_time_is_up_though_a_batch_still_flies(
    ledger: SqliteLedger,
) -> None:
    add(ledger, "contact", 52)
    sender = HeldFirst(ledger)
    thread = run_in_background(worker(ledger, sender))
    assert sender.first_in_flight.wait(5)
    began = time.monotonic()
    deadline = began + 3 * FILL_SECONDS
    while len(sender.batches) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    sender.release.set()
    thread.join(10)

    assert [b.size for b in sender.batches] == [50, 2]
    waited = sender.batches[1].at - began
    assert FILL_SECONDS * 0.8 <= waited < FILL_SECONDS * 2


def test_history_held_when_the_worker_stops_goes_back_to_the_ledger(
    ledger: SqliteLedger,
) -> None:
    add(ledger, "contact", 51)
    sender = HeldFirst(ledger)
    w = worker(ledger, sender)
    thread = threading.Thread(target=w.run)
    thread.start()
    assert sender.first_in_flight.wait(5)
    time.sleep(0.1)  # the last contact is held
    stopping = threading.Thread(target=w.stop)
    stopping.start()
    time.sleep(0.05)
    sender.release.set()
    stopping.join(10)
    thread.join(10)

    states = {r["state"]: r["n"] for r in ledger.counts()}
    assert states == {"synced": 50, "ready": 1}
