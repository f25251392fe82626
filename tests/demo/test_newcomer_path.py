"""The newcomer's path (issue 9), end to end, every step a process as a person runs it.

``pm-xero sandbox`` on loopback; ``pm-xero demo --xero-url URL`` on a fresh data dir; again at
once on the same dir; three later ``--today`` runs on it (each living through the days in
between); then a second fresh data dir into the same sandbox – the organisation already holds
the first one's books (a rebuilt ledger, an earlier connection). Every run exits 0 with
everything eligible in Xero, and the books hold nothing twice.

The second data dir is the same practice as the first one's first run (same seed, same
``--today``), so every document it holds is provably the one Xero has and is linked. A third
data dir made on a later day is *other* books under the same numbers (its history was
generated in one go, the first one's lived day by day): nothing of it may be linked to the
first one's documents or posted twice – it ends non-zero naming the documents that differ.

The sandbox runs with ``--no-limits``: at Xero's real 60 calls a minute the six runs (about 90
calls each for the first ones) would spend most of ten minutes waiting on the minute limit,
which other tests cover; here it is the path that is under test, not the waiting.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from support.demo_helpers import all_synced, books, demo, served_sandbox, summary, twice_in

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def test_newcomer_path_demo_again_later_days_and_a_second_data_dir_into_one_sandbox(
    tmp_path: Path,
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    began = time.monotonic()
    with served_sandbox(tmp_path / "sandbox.json", "--no-limits") as url:
        runs = [
            ("fresh", first, ["--today", "2026-11-15"]),
            ("again at once", first, ["--today", "2026-11-15"]),
            ("a later day", first, ["--today", "2026-11-25"]),
            ("a later day", first, ["--today", "2026-11-28"]),
            ("a later day", first, ["--today", "2026-12-02"]),
            ("a second data dir", second, ["--today", "2026-11-15"]),
        ]
        other = tmp_path / "other"
        seen: dict[Path, dict[str, int]] = {}
        for what, data_dir, args in runs:
            run = demo(data_dir, "--xero-url", url, *args)
            assert run.returncode == 0, f"{what} {args}: {run.stderr[-2000:]}{run.stdout[-2000:]}"
            found = summary(run)
            all_synced(found)
            invoices = sum(c["invoices"] for c in found["eligible"].values())
            if data_dir in seen and args != runs[1][2]:
                assert invoices > seen[data_dir]["invoices"], f"{what}: the days were lived"
            seen[data_dir] = {"invoices": invoices}
            held = books(url)
            assert twice_in(held) == [], what
        for org in held.values():
            numbers = [c.get("ContactNumber") for c in org["contacts"]]
            assert numbers.count("C1") <= 1
        before = books(url)
        refused = demo(other, "--xero-url", url, "--today", "2026-12-02")
        assert refused.returncode == 1, refused.stderr[-2000:]
        problems = " ".join(json.loads(refused.stdout)["problems"])
        assert "is already in Xero for" in problems, problems  # both sides shown, not linked
        assert "; ours is for " in problems, problems
        after = books(url)
        assert twice_in(after) == []
        for tenant, org in before.items():
            kept = {i["InvoiceID"]: i["Total"] for i in org["invoices"]}
            now = {i["InvoiceID"]: i["Total"] for i in after[tenant]["invoices"]}
            assert {k: now.get(k) for k in kept} == kept, "the first books' invoices changed"
    # Measured: 30-35 s on the shared two-core machine (seven demo runs); the suite has ten minutes.
    assert time.monotonic() - began < 400
