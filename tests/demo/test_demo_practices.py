"""``pm-xero demo --practices N``: one host process serving N practices, each synced into its own
organisations, leaving a fleet root that ``pm-xero status`` and ``pm-xero worker`` work on."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from support.demo_helpers import KINDS, clean_env, pm_xero, twice_in
from support.postgres import pg_url  # noqa: F401 - the fixture

from pm_xero_plugin.ledger import SqliteLedger
from pm_xero_plugin.sandbox import persistence

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

TODAY = "2026-03-10"
IDS = ["practice-001", "practice-002", "practice-003"]

_NEW_RECORDS = """
import random, sys
from datetime import date
from hookspecs.refhost import live_day
from hookspecs.refhost.fleet import RefFleet
fleet = RefFleet(sys.argv[1])
fleet.start()
live_day(fleet.practice(sys.argv[2]), date(2026, 3, 11), random.Random(5), per_day=2)
fleet.stop()
"""
"""A day of new records in one practice, recorded by the add-on in its host, nothing sent."""


@pytest.fixture(scope="module")
def fleet_demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], float]:
    """The demo of three practices on a new data dir: the dir, its JSON summary, its seconds."""
    data_dir = tmp_path_factory.mktemp("fleet-demo") / "root"
    began = time.monotonic()
    run = pm_xero(
        "demo", "--practices", "3", "--data-dir", str(data_dir), "--today", TODAY, "--json"
    )
    elapsed = time.monotonic() - began
    assert run.returncode == 0, run.stderr[-3000:]
    return data_dir, json.loads(run.stdout), elapsed


def _books(data_dir: Path) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Every organisation's documents by kind, from the sandbox's saved state."""
    state = persistence.decode((data_dir / "sandbox-state.json").read_text())
    out = {}
    for tenant, org in state["orgs"].items():
        out[tenant] = {}
        for kind in ("contacts", "invoices", "credit_notes", "payments", "overpayments"):
            items = org[kind]
            docs = items.values() if isinstance(items, dict) else items
            out[tenant][kind] = [persistence.decode(d) if isinstance(d, str) else d for d in docs]
    return out


def _ledger_rows(data_dir: Path, practice_id: str) -> Counter[tuple[str, str]]:
    """Synced rows of one practice's own ledger by (organisation, kind)."""
    path = data_dir / "practices" / practice_id / "plugins" / "xero" / "ledger.sqlite3"
    ledger = SqliteLedger(path)
    try:
        found: Counter[tuple[str, str]] = Counter()
        for row in ledger.counts():
            if row["state"] == "synced":
                found[(str(row["tenant_id"]), str(row["kind"]))] += int(row["n"])
        return found
    finally:
        ledger.close()


def test_every_practice_syncs_into_its_own_organisations(
    fleet_demo: tuple[Path, dict[str, Any], float],
) -> None:
    data_dir, found, _ = fleet_demo
    assert sorted(found["practices"]) == IDS
    owner: dict[str, str] = {}
    for practice_id, practice in found["practices"].items():
        for tenant in practice["tenants"].values():
            assert owner.setdefault(tenant, practice_id) == practice_id, "an organisation shared"
    # the three shapes: two locations in two organisations, one location, two sharing one
    shapes = [
        (len(found["practices"][p]["tenants"]), len(set(found["practices"][p]["tenants"].values())))
        for p in IDS
    ]
    assert shapes == [(2, 2), (1, 1), (2, 1)]
    books = _books(data_dir)
    for practice_id in IDS:
        practice = found["practices"][practice_id]
        rows = _ledger_rows(data_dir, practice_id)
        assert {tenant for tenant, _ in rows} == set(practice["tenants"].values()), practice_id
        for tenant in set(practice["tenants"].values()):
            mine = [loc for loc, t in practice["tenants"].items() if t == tenant]
            invoices = sum(practice["synced"][loc]["invoices"] for loc in mine)
            contacts = sum(practice["synced"][loc]["contacts"] for loc in mine)
            # what the organisation holds is exactly what its own practice sent there
            assert len(books[tenant]["invoices"]) == invoices == rows[(tenant, "invoice")] > 0
            # (the processor a payout's fees are spent with, "Stripe", is a contact of no number)
            customers = [c for c in books[tenant]["contacts"] if c.get("ContactNumber")]
            assert len(customers) == contacts == rows[(tenant, "contact")] > 0
    assert set(books) == set(owner), "every organisation of the sandbox belongs to one practice"


def test_the_json_counts_every_practice_and_their_totals(
    fleet_demo: tuple[Path, dict[str, Any], float],
) -> None:
    data_dir, found, elapsed = fleet_demo
    assert found["data_dir"] == str(data_dir)
    assert found["problems"] == []
    for practice_id, practice in found["practices"].items():
        for location, counts in practice["eligible"].items():
            assert counts["contacts"] > 0, (practice_id, location)
            assert counts["invoices"] > 0, (practice_id, location)
            assert practice["synced"][location] == counts, (practice_id, location)
            assert practice["failed"][location] == dict.fromkeys(KINDS, 0)
        assert practice["records"]["failed"] == practice["records"]["waiting"] == 0
        assert practice["records"]["synced"] >= sum(
            sum(kinds.values()) for kinds in practice["synced"].values()
        )
        assert practice["live"]["reached_xero"] == practice["live"]["due"] > 0
        assert practice["api_calls"] > 0
    for bucket in ("eligible", "synced", "failed"):
        assert found["totals"][bucket] == {
            kind: sum(
                counts[kind] for p in found["practices"].values() for counts in p[bucket].values()
            )
            for kind in KINDS
        }
    assert found["api_calls"] == sum(p["api_calls"] for p in found["practices"].values())
    assert found["live"]["due"] == sum(p["live"]["due"] for p in found["practices"].values())
    assert elapsed < 150, f"three small practices took {elapsed:.0f} s"


def test_status_on_the_demos_root_lists_its_practices_and_shows_one(
    fleet_demo: tuple[Path, dict[str, Any], float],
) -> None:
    data_dir, found, _ = fleet_demo
    listed = pm_xero("status", "--data-dir", str(data_dir))
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert "3 practices; 0 need attention" in listed.stdout
    assert all(p in listed.stdout for p in IDS), listed.stdout
    as_json = pm_xero("status", "--data-dir", str(data_dir), "--json")
    assert json.loads(as_json.stdout)["practices_total"] == 3

    one = pm_xero("status", "--data-dir", str(data_dir), "--practice", "practice-003", "--json")
    assert one.returncode == 0, one.stderr[-2000:]
    status = json.loads(one.stdout)
    shown = {s["tenant_id"] for s in status["sections"] if s.get("tenant_id")}
    assert shown == set(found["practices"]["practice-003"]["tenants"].values())


def test_the_worker_on_the_demos_root_sends_new_records_to_their_practice(
    fleet_demo: tuple[Path, dict[str, Any], float],
) -> None:
    data_dir, found, _ = fleet_demo
    tenant = found["practices"]["practice-002"]["tenants"]["bondi-beach"]
    before = len(_books(data_dir)[tenant]["invoices"])
    others = {t: len(b["invoices"]) for t, b in _books(data_dir).items() if t != tenant}
    made = subprocess.run(
        [sys.executable, "-c", _NEW_RECORDS, str(data_dir), "practice-002"],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=120,
    )
    assert made.returncode == 0, made.stderr[-2000:]

    worker = pm_xero("worker", "--data-dir", str(data_dir), "--once")
    assert worker.returncode == 0, worker.stderr[-2000:]
    assert "3 practices" in worker.stdout, worker.stdout
    after = _books(data_dir)
    assert len(after[tenant]["invoices"]) > before
    assert {t: len(b["invoices"]) for t, b in after.items() if t != tenant} == others


def test_a_rerun_with_a_later_day_resumes_every_practice_and_sends_nothing_twice(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "root"
    common = ("demo", "--practices", "2", "--data-dir", str(data_dir), "--live-rounds", "1")
    first = pm_xero(*common, "--today", TODAY, "--json")
    assert first.returncode == 0, first.stderr[-3000:]
    again = pm_xero(*common, "--today", "2026-03-12", "--json")
    assert again.returncode == 0, again.stderr[-3000:]
    before, after = json.loads(first.stdout), json.loads(again.stdout)
    assert after["problems"] == []
    for practice_id in ("practice-001", "practice-002"):
        assert (
            after["practices"][practice_id]["tenants"]
            == before["practices"][practice_id]["tenants"]
        ), "each practice keeps its organisations"
        assert after["practices"][practice_id]["records"]["waiting"] == 0
        assert (
            after["practices"][practice_id]["records"]["synced"]
            > before["practices"][practice_id]["records"]["synced"]
        ), "the days in between reached Xero"
    assert twice_in(_books(data_dir)) == []


def test_a_practice_count_below_one_is_refused_in_one_line() -> None:
    run = pm_xero("demo", "--practices", "0")
    assert run.returncode == 2
    assert run.stdout == ""
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert "--practices" in run.stderr


def test_the_demos_root_is_resumed_only_with_its_practices(
    fleet_demo: tuple[Path, dict[str, Any], float],
) -> None:
    data_dir, _, _ = fleet_demo
    for args, expected in (
        ((), "--practices 3"),
        (("--practices", "2"), "--practices 3"),
    ):
        run = pm_xero("demo", "--data-dir", str(data_dir), *args)
        assert run.returncode == 2, run.stderr
        assert expected in run.stderr
        assert len(run.stderr.strip().splitlines()) == 1, run.stderr


def test_a_one_practice_demos_dir_is_not_taken_for_many(tmp_path: Path) -> None:
    (tmp_path / "demo.json").write_text(json.dumps({"generated": True, "today": TODAY}))
    run = pm_xero("demo", "--practices", "2", "--data-dir", str(tmp_path))
    assert run.returncode == 2
    assert "one-practice demo" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr


def test_on_postgresql_the_practices_sync_into_that_database_and_its_worker_serves_them(
    tmp_path: Path,
    pg_url: str,  # noqa: F811 - the fixture
) -> None:
    env = clean_env(PM_XERO_LEDGER=pg_url)
    data_dir = tmp_path / "root"
    run = pm_xero(
        "demo",
        "--practices",
        "2",
        "--data-dir",
        str(data_dir),
        "--today",
        TODAY,
        "--live-rounds",
        "1",
        "--json",
        env=env,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    found = json.loads(run.stdout)
    for practice_id, practice in found["practices"].items():
        assert practice["records"]["synced"] > 0
        assert practice["records"]["failed"] == practice["records"]["waiting"] == 0
        ledger = data_dir / "practices" / practice_id / "plugins" / "xero" / "ledger.sqlite3"
        assert not ledger.exists(), "the ledger is the database's, not a file's"
    listed = pm_xero("status", "--data-dir", str(data_dir), "--json", env=env)
    assert listed.returncode == 0, listed.stderr[-2000:]
    by_id = {p["practice_id"]: p for p in json.loads(listed.stdout)["practices"]}
    assert sorted(by_id) == ["practice-001", "practice-002"]
    for practice_id, practice in found["practices"].items():
        assert by_id[practice_id]["by_state"].get("synced") == practice["records"]["synced"]
    other = pm_xero("demo", "--practices", "2", "--data-dir", str(tmp_path / "other"), env=env)
    assert other.returncode == 2, "another demo's practices are not taken for this one's"
    assert "already holds practice-001, practice-002" in other.stderr
    assert len(other.stderr.strip().splitlines()) == 1, other.stderr

    tenant = found["practices"]["practice-002"]["tenants"]["bondi-beach"]
    before = len(_books(data_dir)[tenant]["invoices"])
    made = subprocess.run(
        [sys.executable, "-c", _NEW_RECORDS, str(data_dir), "practice-002"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr[-2000:]
    worker = pm_xero("worker", "--data-dir", str(data_dir), "--once", env=env)
    assert worker.returncode == 0, worker.stderr[-2000:]
    assert len(_books(data_dir)[tenant]["invoices"]) > before, worker.stdout
