"""Fleet workers on one PostgreSQL ledger: several share every practice's work and never send a
record twice, nor touch another live worker's claims; a ``pm-xero worker`` process stopped with
SIGTERM finishes the batch it is sending and gives back the batches it had not begun, then
retires."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fleet_roots import FleetRoot, make_fleet
from support.cli_process import PM_XERO, cli_env
from support.postgres import pg_url  # noqa: F401 - the fixture

from pm_xero_plugin.fleet.keys import fleet_key
from pm_xero_plugin.fleet.practices import Practices
from pm_xero_plugin.fleet.run import _BackendLedgers
from pm_xero_plugin.fleet.sources import SharedLedger
from pm_xero_plugin.fleet.worker import FleetWorker
from pm_xero_plugin.ledger.backends import LedgerBackends
from pm_xero_plugin.sandbox import Sandbox
from pm_xero_plugin.sandbox.host_settings import environment
from pm_xero_plugin.sync.leases import this_host
from pm_xero_plugin.sync.shared_xero import shared_limits, shared_tokens
from pm_xero_plugin.xero.kinds import SEND_ORDER

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def record_in_postgres(fleet: FleetRoot, url: str) -> None:
    """Each practice's records written into the PostgreSQL ledger under its own practice id (the
    host's contact sync and back-sync, run by its engine on that ledger)."""
    backends = LedgerBackends()
    practices = Practices(fleet.root, fleet.options(ledgers=_BackendLedgers(backends, url)))
    try:
        for practice_id in fleet.practice_ids:
            engine = practices.get(practice_id).engine
            engine.start_contact_sync(None)
            engine.backfill(None, None)
    finally:
        practices.close()
        backends.close()


def pg_counts(url: str) -> dict[tuple[str, str], int]:
    """(practice, state) -> rows, read straight from the database."""
    import psycopg

    with psycopg.connect(url) as conn:
        found = conn.execute(
            "SELECT practice_id, state, count(*) FROM rows GROUP BY 1, 2"
        ).fetchall()
    return {(p, s): int(n) for p, s, n in found}


def debug_rows(url: str) -> list[Any]:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT practice_id, kind, host_id, state, gate, message, detail FROM rows "
            "WHERE state != 'synced'"
        ).fetchall()


def sent_numbers(requests: list[dict[str, Any]]) -> Counter[str]:
    """How often each document number or contact number was sent to be created, per
    organisation and endpoint (a payment and its overpayment share a reference)."""
    sent: Counter[str] = Counter()
    for request in requests:
        if request["method"] != "PUT":
            continue
        for items in json.loads(request["body"]).values():
            for item in items if isinstance(items, list) else []:
                for key in ("ContactNumber", "InvoiceNumber", "CreditNoteNumber", "Reference"):
                    if item.get(key):
                        sent[f"{request['tenant']} {request['path']} {item[key]}"] += 1
                        break
    return sent


class Requests:
    """Every PUT the workers sent (the request hook of each practice's client)."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> None:
        if request.method == "PUT":
            with self._lock:
                self.sent.append(
                    {
                        "method": request.method,
                        "tenant": request.headers.get("xero-tenant-id"),
                        "path": request.url.path,
                        "body": request.content.decode(),
                    }
                )

    def twice(self) -> dict[str, int]:
        """What was sent more than once."""
        return {n: k for n, k in sent_numbers(self.sent).items() if k > 1}


@contextmanager
def fleet_workers(
    fleet: FleetRoot, url: str, n: int, requests: Requests, **worker: Any
) -> Iterator[list[FleetWorker]]:
    """``n`` fleet workers on the PostgreSQL ledger at ``url``, each with its own pool, shared
    limits and tokens (as ``pm-xero worker`` processes have), their practices opened."""
    built: list[tuple[FleetWorker, Practices, LedgerBackends]] = []
    try:
        for _ in range(n):
            backends = LedgerBackends()
            store = backends.store(url)
            options = fleet.options(
                ledgers=_BackendLedgers(backends, url),
                limiter=shared_limits(store.pool, fleet.config.oauth().api_url),
                tokens=lambda p, secret, data_dir, pool=store.pool: shared_tokens(
                    pool, p, secret, data_dir
                ),
                request_hook=requests,
            )
            practices = Practices(fleet.root, options)
            source = SharedLedger(store.fleet(), practices)
            built.append((FleetWorker(practices, source=source, **worker), practices, backends))
        for _w, practices, _b in built:
            practices.open_all()  # all ready before any claims
        yield [w for w, _p, _b in built]
    finally:
        for _w, practices, backends in built:
            practices.close()
            backends.close()


def check_own_books(fleet: FleetRoot) -> None:
    """Each practice's records in its own organisations only, each number once."""
    for practice_id in fleet.practice_ids:
        tag = fleet.tag(practice_id)
        for tenant in fleet.tenants[practice_id].values():
            numbers = fleet.numbers_in(tenant)
            assert numbers, (practice_id, tenant)
            assert all(n.startswith(tag) for n in numbers), (practice_id, numbers)
            assert len(numbers) == len(set(numbers))


def test_two_fleet_workers_on_one_ledger_never_send_a_record_twice(
    tmp_path: Path,
    pg_url: str,  # noqa: F811 - the fixture
) -> None:
    fleet = make_fleet(tmp_path / "fleet", 4)
    record_in_postgres(fleet, pg_url)
    assert sum(n for (_p, s), n in pg_counts(pg_url).items() if s == "ready") == 12
    requests = Requests()
    with fleet_workers(fleet, pg_url, 2, requests, threads=2, batch_size=2) as workers:
        threads = [
            threading.Thread(target=w.run, kwargs={"until_idle": True, "max_seconds": 90})
            for w in workers
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)

    assert requests.twice() == {}
    assert sum(w.stats.synced for w in workers) == 9 * 4, "\n".join(map(str, debug_rows(pg_url)))
    counts = pg_counts(pg_url)
    assert {s for (_p, s) in counts} <= {"synced", "failed", "waiting", "excluded"}
    check_own_books(fleet)


def test_a_fleet_worker_leaves_a_live_workers_claims_to_it(
    tmp_path: Path,
    pg_url: str,  # noqa: F811 - the fixture
) -> None:
    fleet = make_fleet(tmp_path / "fleet", 2)
    record_in_postgres(fleet, pg_url)
    requests = Requests()
    with fleet_workers(fleet, pg_url, 2, requests) as (first, second):
        key = fleet_key("practice-1", fleet.tenants["practice-1"]["syd"])
        now = first.now()
        first.ledger.beat(first.worker_id, hostname=this_host(), pid=os.getpid(), lease_until=now)
        assert key in first.ledger.tenants_with_ready_work(now)
        kind, held = first.ledger.claim_next(
            key, SEND_ORDER, limit_for=lambda _k: 50, worker_id=first.worker_id, now=now
        )
        assert (kind, len(held)) == ("contact", 2)

        second.run(until_idle=True, max_seconds=60)  # all it may: not the first one's claims
        assert fleet.numbers_in(fleet.tenants["practice-1"]["syd"]) == []
        assert second.stats.synced == 9 + 1  # practice-2, and practice-1's London contact

        with first.ledger.fenced({r.id: r.claim_token for r in held if r.claim_token}):
            outcome = first.sender.send(key, kind, held)  # the first one sends what it holds
        assert outcome.synced == 2
        second.run(until_idle=True, max_seconds=60)  # then what waited on those contacts

    assert requests.twice() == {}
    check_own_books(fleet)


@pytest.fixture
def served(tmp_path: Path, pg_url: str) -> Iterator[tuple[FleetRoot, dict[str, str]]]:  # noqa: F811
    """Four practices on a sandbox served on loopback, their rows in PostgreSQL, and a worker
    process's environment."""
    sandbox = Sandbox(orgs=8)
    with sandbox.serve(port=0) as server:
        fleet = make_fleet(tmp_path / "fleet", 4, transport=False, url=server.url, sandbox=sandbox)
        record_in_postgres(fleet, pg_url)
        env = environment(server.url, sandbox.client_id, sandbox.client_secret)
        env["PM_XERO_LEDGER"] = pg_url
        yield fleet, env


def wait_for(done: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if done():
            return True
        time.sleep(0.005)
    return bool(done())


def test_sigterm_finishes_the_batch_in_flight_and_gives_back_the_rest(
    served: tuple[FleetRoot, dict[str, str]],
    pg_url: str,  # noqa: F811
) -> None:
    fleet, env = served
    sandbox = fleet.sandbox
    tenants = [t for p in fleet.practice_ids for t in fleet.tenants[p].values()]
    gate = threading.Event()
    sandbox.requests.clear()
    worker = subprocess.Popen(
        [*PM_XERO, "worker", "--data-dir", str(fleet.root), "--threads", "1"],
        env=cli_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # every practice opened (each reads its organisations' charts) ...
        opened = wait_for(lambda: {r["tenant"] for r in list(sandbox.requests)} >= set(tenants), 60)
        assert opened, list(sandbox.requests)
        for tenant in tenants:  # ... then Xero holds every request until the gate opens
            sandbox.faults(tenant).gate = gate
        assert wait_for(lambda: any(sandbox.in_flight(t) for t in tenants), 30)
        assert wait_for(
            lambda: sum(n for (_p, s), n in pg_counts(pg_url).items() if s == "sending") > 3, 30
        )
        worker.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        gate.set()  # the batch in flight is answered
        out, err = worker.communicate(timeout=60)
    finally:
        gate.set()
        if worker.poll() is None:
            worker.kill()
            worker.communicate()

    assert worker.returncode == 0, err
    assert "Traceback" not in err
    summary = out.strip().splitlines()[-1]
    assert summary.startswith("pm-xero worker: synced "), out
    synced = int(summary.split("synced ")[1].split(",")[0])
    assert synced >= 1  # the batch that was in flight settled
    counts = pg_counts(pg_url)
    assert not any(s == "sending" for (_p, s) in counts)  # nothing left claimed
    assert sum(n for (_p, s), n in counts.items() if s == "ready") > 0  # given back, not sent
    import psycopg

    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM workers").fetchone() == (0,)  # retired
