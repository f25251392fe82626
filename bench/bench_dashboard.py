"""The Accounting dashboard's pages on a big ledger: server time of each, at a million rows.

The ledger is filled with plain SQL in large transactions (as ``bench_status`` does, plus what
the search reads: customers with names and their words, documents naming them, numbers per
kind, dates over five years), then the add-on's pages app is called in-process through
Starlette's TestClient as an admin would (the host's page context in the scope). Timed, median
of several calls each: ``GET /dashboard``; searches by number, customer, date range, state,
and all of state, kind and dates at once; the next page (keyset) of the unfiltered list and of a
date range; a record's page. Each is also given as a ratio to a trivial page of the same app
measured in the same run (the 404 page of an unknown record: the guard, one indexed look-up,
a template), since the machines are noisy. Target: ≤ 100 ms server time at 1M rows.

``python bench/bench_dashboard.py [ROWS]`` (default 100,000, the ``--quick`` size).
"""

from __future__ import annotations

import json
import re
import sqlite3
import statistics
import sys
import time
import warnings
from collections import Counter
from collections.abc import Iterator, Mapping
from html import unescape
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.synth import LOCATIONS, TENANTS, filled_engine

__all__ = ["bench_dashboard", "fill_search_ledger"]

_FIRST = ("Oliver", "Mia", "Jack", "Chloe", "Noah", "Ava", "Liam", "Zoe", "Leo", "Ruby")
_LAST = ("King", "Wong", "Smith", "Nguyen", "Brown", "Patel", "Lee", "Taylor", "Jones", "Singh")
_DOC_KINDS = ("invoice", "payment", "invoice", "payment", "credit_note")
_CONTACT_EVERY = 50
"""One row in 50 is a customer (20,000 customers at a million rows)."""


def _state_of(i: int) -> tuple[str, str | None]:
    """Mid-sync, as ``bench_status``: 90% synced, then waiting, ready, retrying, a few failed."""
    bucket = i % 1000
    if bucket < 900:
        return "synced", None
    if bucket < 950:
        return "waiting", "contact"
    if bucket < 970:
        return "waiting", "lock_date"
    if bucket < 990:
        return "ready", None
    if bucket < 998:
        return "retrying", None
    return ("failed", None) if bucket == 998 else ("rejected", None)


def _name(k: int) -> tuple[str, str]:
    return f"{_FIRST[k % 10]}{k // 100}", _LAST[(k // 10) % 10]


def _rows(count: int, now: float) -> Iterator[tuple[Any, ...]]:
    """``(kind, host_id, tenant, location, state, gate, doc_date, number, dep_contact, payload,
    hash, xero_id, message, created, updated)`` for ``count`` rows."""
    customers = max(count // _CONTACT_EVERY, 1)
    numbers: Counter[str] = Counter()
    doc = json.dumps({"total": "110.00", "currency": "AUD"})
    for i in range(count):
        state, gate = _state_of(i)
        if i % _CONTACT_EVERY == 0:
            k = i // _CONTACT_EVERY
            kind, host_id, contact, day = "contact", f"c-{k}", None, None
            first, last = _name(k)
            payload = json.dumps({"id": host_id, "first_name": first, "last_name": last})
            loc = LOCATIONS[k % 2]
            state, gate = ("synced", None) if state == "waiting" else (state, gate)
        else:
            kind = _DOC_KINDS[i % len(_DOC_KINDS)]
            k = (i * 7919) % customers
            host_id, contact, payload = f"{kind[0]}-{i}", f"c-{k}", doc
            loc = LOCATIONS[k % 2]
            day = f"{2020 + (i * 5) // count}-{1 + i % 12:02d}-{1 + i % 28:02d}"
        numbers[kind] += 1
        xero_id = f"{i:08x}-0000-4000-8000-{i:012x}" if state == "synced" else None
        message = "Account code '299' is archived" if state in ("failed", "rejected") else None
        yield (
            kind,
            host_id,
            TENANTS[loc],
            loc,
            state,
            gate,
            day,
            numbers[kind],
            contact,
            payload,
            f"{i:040x}",
            xero_id,
            message,
            now,
            now,
        )


def fill_search_ledger(path: Path, count: int) -> None:
    """The schema at ``path`` with ``count`` rows, their counts and customers' words."""
    from pm_xero_plugin.ledger import SqliteLedger
    from pm_xero_plugin.ledger.words import words_of_payload

    SqliteLedger(path).close()  # schema and migrations
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")  # a fixture: durability is not what is measured
    counts: Counter[tuple[str, str, str, str, str]] = Counter()
    rows = list(_rows(count, time.time()))
    for start in range(0, count, 100_000):
        chunk = rows[start : start + 100_000]
        for r in chunk:
            counts[(r[2], r[3], r[0], r[4], (r[5] or "") if r[4] == "waiting" else "")] += 1
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO rows (kind, host_id, tenant_id, location_id, state, gate, doc_date, "
            "number, dep_contact, payload, payload_hash, xero_id, message, created_at, "
            "updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            chunk,
        )
        conn.execute("COMMIT")
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO counts VALUES (?, ?, ?, ?, ?, ?)", [(*k, n) for k, n in counts.items()]
    )
    contacts = conn.execute("SELECT id, payload FROM rows WHERE kind = 'contact'").fetchall()
    conn.executemany(
        "INSERT OR IGNORE INTO customer_words VALUES (?, ?)",
        [(w, i) for i, payload in contacts for w in words_of_payload(payload)],
    )
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()


class _Services:
    """The host services a page may borrow (none is used by the pages timed here)."""

    def save_settings(self, plugin: str, settings: Mapping[str, Any]) -> list[str]:
        return []

    def is_enabled(self, plugin: str) -> bool:
        return True

    def set_enabled(self, plugin: str, enabled: bool) -> None:
        return None


def _median_ms(client: Any, url: str, repeats: int) -> float:
    client.get(url)  # warm: first read of the pages it touches
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        answer = client.get(url)
        times.append((time.perf_counter() - t0) * 1000)
        if answer.status_code >= 500:
            raise RuntimeError(f"{url} answered {answer.status_code}: {answer.text[:500]}")
    return statistics.median(times)


def _next_link(client: Any, url: str) -> str:
    html = client.get(url).text
    found = re.search(r'href="([^"]+)#search" rel="next">Next page<', html)
    if found is None:
        raise RuntimeError(f"{url} has no next page")
    return "/dashboard" + unescape(found.group(1))


def bench_dashboard(rows: int, repeats: int = 7) -> dict[str, Any]:
    """Median server milliseconds of the dashboard's pages over a ledger of ``rows`` rows."""
    with warnings.catch_warnings():  # Starlette 1.10 would have the httpx2 fork; httpx works
        warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
        from starlette.testclient import TestClient

    from hookspecs.pages import SCOPE_KEY, PageContext, Visitor
    from pm_xero_plugin.ledger import RowQuery
    from pm_xero_plugin.pages.app import build_app

    with filled_engine("bench-dashboard-", rows, fill_search_ledger) as (engine, fill_seconds):
        app = build_app(engine=lambda: engine, runtime=lambda: None, secret=lambda: b"s" * 32)
        context = PageContext(Visitor("u-admin", "Admin", True), "practice-1", _Services())

        async def mounted(scope: Any, receive: Any, send: Any) -> None:
            await app({**scope, SCOPE_KEY: context}, receive, send)

        client = TestClient(mounted, base_url="http://bench")
        query = RowQuery(states=("synced",), kinds=("invoice",))
        synced = engine.ledger.search_rows(query, limit=1).rows[0]
        first, last = _name(1234 % max(rows // _CONTACT_EVERY, 1))
        urls = {
            "baseline_404": "/records/999999999",
            "dashboard": "/dashboard",
            "search_number": f"/dashboard?number=INV{synced.number}",
            "search_customer": f"/dashboard?customer={first}+{last}",
            "search_dates": "/dashboard?from=2022-03-01&to=2022-03-31",
            "search_state": "/dashboard?state=failed",
            "search_combined": "/dashboard?state=synced&kind=invoice&from=2021-01-01&to=2021-06-30",
            "record": f"/records/{synced.id}",
        }
        urls["next_page"] = _next_link(client, "/dashboard")
        urls["next_page_dates"] = _next_link(client, urls["search_dates"])
        ms = {name: _median_ms(client, url, repeats) for name, url in urls.items()}
    base = ms.pop("baseline_404")
    return {
        "rows": rows,
        "baseline_ms": round(base, 2),
        "ms": {k: round(v, 2) for k, v in ms.items()},
        "ratio": {k: round(v / base, 2) for k, v in ms.items()},
        "dashboard_max_ms": round(max(ms.values()), 2),
        "fill_seconds": round(fill_seconds, 1),
        "urls": urls,
    }


if __name__ == "__main__":
    print(json.dumps(bench_dashboard(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)))
