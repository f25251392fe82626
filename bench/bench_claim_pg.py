"""Claim latency on the PostgreSQL ledger at 10M rows: a small practice's claim amid big ones.

Two databases in one run on one server: a baseline of 10,000 rows and a big one (10M rows;
``--quick`` 200,000), each filled straight into the schema with ``generate_series`` (indexes
and count triggers off while it loads, built after, the counts added in one ``GROUP BY``, as
the ledger's own inserts would have kept them). Rows are spread over many practices of two
organisations each, half of them in five big practices (a back-sync in flight: 10% of every
practice's rows ready, 5% waiting, the rest synced). Then a small practice's organisation with
a few new invoices claims (``claim_next``) and releases its batch, many times, in rounds that
alternate between the two databases (the machine's load drifts); the result is the median as
a ratio to the same in the baseline database (the target: flat, ≤ 2), plus the
same for an organisation of a big practice (500,000 rows at 10M, 50,000 of them ready) and
the fleet's ``ready_tenants``.

The server: ``PM_XERO_TEST_POSTGRES`` (as CI exports it), else a private one started the way
the tests start theirs (``tests/support/postgres.py``), stopped at the end.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg

from pm_xero_plugin.ledger.postgres import PostgresLedger
from pm_xero_plugin.ledger.postgres_store import PgStore
from pm_xero_plugin.ledger.states import KINDS
from pm_xero_plugin.ledger.types import NewRow

__all__ = ["bench_claim_pg", "fill"]

_NOW = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
_BIG_PRACTICES = 5
_ROWS_PER_SMALL_PRACTICE = 10_000


@contextmanager
def _server() -> Iterator[str]:
    """A PostgreSQL server URL: CI's, or a private one (the tests' helper) for this run."""
    given = os.environ.get("PM_XERO_TEST_POSTGRES")
    if given:
        yield given
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    support = importlib.import_module("support.postgres")
    try:
        yield str(support.server_url())
    finally:
        support.stop_server()


@contextmanager
def _database(server: str) -> Iterator[str]:
    name = f"bench_claim_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{server.rpartition('/')[0]}/{name}"
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def fill(url: str, rows: int) -> float:
    """Load ``rows`` rows straight into the (migrated) schema at ``url``; returns seconds."""
    started = time.perf_counter()
    small = max(1, (rows // 2) // _ROWS_PER_SMALL_PRACTICE)
    kinds = "ARRAY[" + ", ".join(f"'{k}'" for k in KINDS) + "]"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '512MB'")
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'rows' "
            "AND indexname NOT IN ('rows_pkey', 'rows_key')"
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f"DROP INDEX {name}")
        conn.execute("ALTER TABLE rows DROP CONSTRAINT rows_key")
        conn.execute("ALTER TABLE rows DISABLE TRIGGER USER")
        for start in range(0, rows, 1_000_000):
            end = min(rows, start + 1_000_000)
            conn.execute(
                "INSERT INTO rows (practice_id, kind, host_id, tenant_id, location_id, state, "
                "gate, doc_date, number, dep_contact, payload, payload_hash, created_at, "
                "updated_at, priority) SELECT "
                f"CASE WHEN g %% 2 = 0 THEN 'big' || (g / 2 %% {_BIG_PRACTICES}) "
                f"ELSE 'p' || (g / 2 %% {small}) END, "
                f"({kinds})[1 + g / 11 %% {len(KINDS)}], 'h' || g, 'T' || (g / 7 %% 2), 'loc', "
                "CASE WHEN g %% 20 < 2 THEN 'ready' WHEN g %% 20 = 2 THEN 'waiting' "
                "ELSE 'synced' END, CASE WHEN g %% 20 = 2 THEN 'contact' END, "
                "to_char(date '2018-01-01' + (g %% 2500)::int, 'YYYY-MM-DD'), g, "
                "'c' || (g %% 5000), "
                "'{}', 'x', now(), now(), 0 FROM generate_series(%s::bigint, %s::bigint) AS g",
                (start + 1, end),
            )
        conn.execute("ALTER TABLE rows ENABLE TRIGGER USER")
        conn.execute(
            "ALTER TABLE rows ADD CONSTRAINT rows_key "
            "UNIQUE (practice_id, kind, host_id, tenant_id)"
        )
        for _, definition in indexes:
            conn.execute(definition)
        conn.execute(
            "INSERT INTO counts SELECT practice_id, tenant_id, location_id, kind, state, "
            "CASE WHEN state = 'waiting' THEN coalesce(gate, '') ELSE '' END, count(*) "
            "FROM rows GROUP BY 1, 2, 3, 4, 5, 6"
        )
        conn.execute("VACUUM ANALYZE rows")
        conn.execute("ANALYZE counts")
    return time.perf_counter() - started


def _invoices(tenant: str, n: int) -> list[NewRow]:
    return [
        NewRow(
            kind="invoice",
            host_id=f"new-{k}",
            tenant_id=tenant,
            location_id="loc",
            state="ready",
            payload="{}",
            payload_hash="x",
            doc_date="2025-02-28",
            number=k,
        )
        for k in range(n)
    ]


def _claim_and_release(ledger: PostgresLedger, tenant: str) -> Callable[[], None]:
    def once() -> None:
        _, rows = ledger.claim_next(
            tenant, KINDS, limit_for=lambda k: 10, worker_id="bench", now=_NOW
        )
        if not rows:
            raise RuntimeError(f"nothing to claim for {tenant}")
        ledger.release([r.id for r in rows])

    return once


def _ms(thunk: Callable[[], None]) -> float:
    started = time.perf_counter()
    thunk()
    return (time.perf_counter() - started) * 1000


class _Ledger:
    """One filled database: its store, the timed calls, and what they measured."""

    def __init__(self, url: str, rows: int) -> None:
        self.store = PgStore.open(url, max_size=4)
        self.rows = rows
        self.build_s = fill(url, rows)
        small = self.store.ledger("small", clock=lambda: _NOW)
        small.insert(_invoices("S1", 20))
        fleet = self.store.fleet()
        self.calls: dict[str, Callable[[], None]] = {
            "small": _claim_and_release(small, "S1"),
            "big": _claim_and_release(self.store.ledger("big0", clock=lambda: _NOW), "T0"),
            "ready_tenants": lambda: None if fleet.ready_tenants(_NOW) else _nothing(),
        }
        self.ms: dict[str, list[float]] = {name: [] for name in self.calls}
        for call in self.calls.values():
            call()  # warm: plans cached, pages read

    def round(self, repeats: int) -> None:
        for name, call in self.calls.items():
            self.ms[name] += [_ms(call) for _ in range(repeats)]

    def result(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "build_s": round(self.build_s, 1),
            "small_p50_ms": statistics.median(self.ms["small"]),
            "small_p95_ms": statistics.quantiles(self.ms["small"], n=20)[-1],
            "big_p50_ms": statistics.median(self.ms["big"]),
            "ready_tenants_p50_ms": statistics.median(self.ms["ready_tenants"]),
        }


def _nothing() -> None:
    raise RuntimeError("no organisation is ready")


def bench_claim_pg(
    rows: int = 10_000_000, baseline_rows: int = 10_000, repeats: int = 200
) -> dict[str, Any]:
    """Claim + release latency at ``rows`` rows, and as a ratio to ``baseline_rows``: both
    databases built first, then measured in alternating rounds (the machine's load drifts; a
    baseline taken minutes before would compare two different machines)."""
    with _server() as server, _database(server) as base_url, _database(server) as big_url:
        base, big = _Ledger(base_url, baseline_rows), _Ledger(big_url, rows)
        try:
            for _ in range(10):
                base.round(repeats // 10)
                big.round(repeats // 10)
        finally:
            base.store.close()
            big.store.close()
        measured = {"baseline": base.result(), "big": big.result()}
    return {
        "claim_ratio": measured["big"]["small_p50_ms"] / measured["baseline"]["small_p50_ms"],
        "claim_p50_ms": measured["big"]["small_p50_ms"],
        "claim_p95_ms": measured["big"]["small_p95_ms"],
        **measured,
    }


def main(argv: list[str] | None = None) -> int:
    """``python bench/bench_claim_pg.py [--quick] [--rows N]``: print the result as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="200,000 rows instead of 10M")
    parser.add_argument("--rows", type=int, default=None)
    args = parser.parse_args(argv)
    rows = args.rows or (200_000 if args.quick else 10_000_000)
    print(json.dumps(bench_claim_pg(rows=rows), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
