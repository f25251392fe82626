"""``pm-xero status`` with more failures than a screen: the "more" line names the options that
list them all and filter them (and they exist and work, as text and --json); excluded rows say
why they are excluded. Driven as a real process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.cli_practice import START, PracticeDir, build_practice, line
from support.cli_process import pm_xero

from hookspecs.refhost import ManualClock, RefHost
from pm_xero_plugin import plugin

FAILED_MORE = 30
"""Invoices made to fail on top of the practice's one (more than the 20 a screen shows)."""


def _listed(text: str) -> int:
    """How many rows a dashboard text lists (each starts a line with "row N")."""
    return sum(1 for line in text.splitlines() if line.startswith("row "))


@pytest.fixture
def busy(tmp_path: Path) -> PracticeDir:
    """The CLI practice plus 30 failed Sydney invoices, one invoice voided before it was ever
    sent (excluded by the add-on) and the practice's failed invoice #3 excluded by an admin."""
    practice = build_practice(tmp_path / "pm")
    host = RefHost(practice.root, clock=ManualClock(START), load_entrypoints=False)
    host.register(plugin, name="xero")
    host.start()
    try:
        for n in range(10, 10 + FAILED_MORE + 1):
            host.create_invoice(
                {
                    "id": f"i{n}",
                    "number": n,
                    "client_id": "c2",
                    "location_id": "syd",
                    "date": "2025-02-15",
                    "due_date": "2025-02-15",
                    "lines": [line("10.00")],
                }
            )
        host.void_invoice(f"i{10 + FAILED_MORE}")  # never sent: excluded, with its reason
        engine = plugin.get_engine()
        assert engine is not None
        led = engine.ledger
        for n in range(10, 10 + FAILED_MORE):
            row = led.find("invoice", f"i{n}", "T1")
            assert row is not None
            assert row.state == "ready"
            led.mark_failed(row.id, f"Tracking option for invoice {n} is archived")
        engine.exclude(practice.failed_row)
    finally:
        host.stop()
    return practice


def test_the_more_line_names_the_options_that_list_and_filter_the_rest(busy: PracticeDir) -> None:
    done = pm_xero("status", "--data-dir", busy.root)
    assert done.returncode == 0, done.stderr
    # 30 failed invoices + the held payment need attention; 20 are shown
    assert f"{FAILED_MORE + 1} need attention" in done.stdout
    more = "… and 11 more: pm-xero status --all, or filter with --state/--kind/--location/--search"
    assert more in " ".join(done.stdout.split())
    assert _listed(done.stdout) == 20

    everything = pm_xero("status", "--all", "--data-dir", busy.root)
    assert everything.returncode == 0, everything.stderr
    assert _listed(everything.stdout) == FAILED_MORE + 1
    assert "more:" not in everything.stdout


def test_state_kind_location_and_search_filter_the_list(busy: PracticeDir) -> None:
    done = pm_xero("status", "--state", "failed", "--kind", "invoice", "--data-dir", busy.root)
    assert done.returncode == 0, done.stderr
    assert f"{FAILED_MORE} rows state failed, kind invoice" in done.stdout
    assert "… and 10 more: pm-xero status --all" in " ".join(done.stdout.split())

    held = pm_xero("status", "--state", "held", "--data-dir", busy.root)
    assert held.returncode == 0, held.stderr
    assert "1 row state held" in held.stdout
    assert f"row {busy.held_row} payment #1" in held.stdout

    found = pm_xero("status", "--search", "invoice 17 is", "--data-dir", busy.root)
    assert found.returncode == 0, found.stderr
    assert "1 row needing attention, matching 'invoice 17 is'" in found.stdout
    assert "invoice #17" in found.stdout

    london = pm_xero(
        "status", "--state", "all", "--location", "lon", "--json", "--data-dir", busy.root
    )
    assert london.returncode == 0, london.stderr
    data = json.loads(london.stdout)
    assert data["rows_total"] == 2
    assert {r["location_id"] for r in data["rows"]} == {"lon"}
    assert {(r["kind"], r["state"]) for r in data["rows"]} == {
        ("contact", "synced"),
        ("invoice", "synced"),
    }


def test_json_all_lists_every_row_needing_attention(busy: PracticeDir) -> None:
    done = pm_xero("status", "--json", "--all", "--data-dir", busy.root)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["failures_total"] == FAILED_MORE + 1 == len(data["failures"])
    failed = pm_xero(
        "status", "--json", "--state", "failed", "--search", "archived", "--data-dir", busy.root
    )
    rows = json.loads(failed.stdout)
    assert rows["rows_total"] == FAILED_MORE
    assert len(rows["rows"]) == FAILED_MORE
    assert rows["filter"]["states"] == ["failed"]
    assert rows["filter"]["search"] == "archived"
    assert all(r["actions"] == ["retry", "resolve", "exclude"] for r in rows["rows"])


def test_excluded_rows_say_why(busy: PracticeDir) -> None:
    done = pm_xero("status", "--data-dir", busy.root)
    assert (
        "2 invoices excluded: excluded by an admin (1); voided before it reached Xero (1)"
        in " ".join(done.stdout.split())
    )
    listed = pm_xero("status", "--state", "excluded", "--json", "--data-dir", busy.root)
    rows = {r["host_id"]: r for r in json.loads(listed.stdout)["rows"]}
    assert rows["i3"]["why"] == "excluded by an admin"
    assert rows[f"i{10 + FAILED_MORE}"]["why"] == "voided before it reached Xero"
    assert rows["i3"]["actions"] == ["retry"], "retry is the way back for an excluded row"
    assert rows[f"i{10 + FAILED_MORE}"]["actions"] == [], "a voided record has no way back"
    text = pm_xero("status", "--state", "excluded", "--data-dir", busy.root)
    assert "why: voided before it reached Xero" in text.stdout
    assert f"pm-xero retry {busy.failed_row}" in text.stdout


def test_filters_refuse_an_unknown_state_or_kind_with_one_line(busy: PracticeDir) -> None:
    for args in (("--state", "broken"), ("--kind", "invoices")):
        done = pm_xero("status", *args, "--data-dir", busy.root)
        assert done.returncode == 2, done
        assert len(done.stderr.strip().splitlines()) == 1
        assert args[1] in done.stderr


def test_the_state_choices_are_the_ledgers_states_plus_held_and_all() -> None:
    from pm_xero_plugin.cli.ops import STATUS_STATES
    from pm_xero_plugin.ledger.states import STATES

    assert (*STATES, "held", "all") == STATUS_STATES
