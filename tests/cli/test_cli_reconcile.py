"""``pm-xero reconcile``: what it prints from a report (the table, --json), its exit status for
scripts, and a malformed key refused in one line before anything is opened."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from click.testing import CliRunner
from support.books_sample import GENERATED_AT, clean_report, sample_report
from support.cli_practice import PracticeDir, run_verb

from pm_xero_plugin.cli import reconcile
from pm_xero_plugin.cli.main import main
from pm_xero_plugin.cli.reconcile import (
    exit_status,
    for_location,
    parse_key,
    report_json,
    report_lines,
)
from pm_xero_plugin.core.books import DIFFERENCE_KINDS, DayTotal
from pm_xero_plugin.invocation import program


def test_the_table_gives_each_organisation_its_facts_differing_days_and_differences() -> None:
    assert report_lines(sample_report()) == [
        f"Reconciliation with Xero at {GENERATED_AT}",
        "",
        "Organisation Sydney Vets (T1): 40 records checked; Xero read 2025-03-03 08:59 UTC; "
        "14/1000 calls today; 2 events pending",
        "  not checked against Xero yet (host totals only): payout",
        "  1 day differs (host against Xero):",
        "    location  day         kind     host   total  xero   total",
        "    syd       2025-02-10  invoice     3  330.00     3  210.00",
        "  2 open differences:",
        "    12:voided_in_xero  INV-12 Ann Lee: voided in Xero – host AUTHORISED, total 120.00; "
        "Xero VOIDED; actions: accept",
        "      fix: void INV-12 in Pet Manager too",
        "    15:deleted_in_xero  PAY-3 Ann Lee: deleted in Xero – host paid 30.00; Xero DELETED; "
        "actions: resend, accept",
        "      fix: delete the payment in Pet Manager too, or re-send it",
        "  1 decided (listed until either side changes):",
        "    4:details_changed  Ann Lee: details changed – accepted by cli at "
        "2025-03-02T10:00:00+00:00",
        "",
        "Organisation London Vets (T2): 5 records checked; Xero read 2025-03-03 08:58 UTC; "
        "3/1000 calls today; 0 events pending",
        "  day totals: the same on both sides",
        "  no open difference",
        "",
        f"2 open: act with {program()} reconcile --accept KEY, --resend KEY or --relink KEY "
        "(the actions each lists), or fix it where its line says.",
    ]


def test_an_incomplete_read_and_records_on_their_way_are_said() -> None:
    report = clean_report()
    t2 = report.tenants[1]
    t2.incomplete = "the day's call budget (1000) is spent; the read goes on tomorrow"
    t2.not_read = 7
    t2.totals = [
        DayTotal("T2", "lon", "2025-02-05", "invoice", 4, "90.00", 1, "40.00", pending=1),
        DayTotal("T2", "lon", "2025-02-06", "invoice", 3, "70.00", 1, "30.00", not_read=2),
    ]
    lines = report_lines(report)
    at = lines.index(
        "Organisation London Vets (T2): 5 records checked; Xero read "
        "2025-03-03 08:58 UTC; 3/1000 calls today; 0 events pending"
    )
    assert lines[at + 1 : at + 6] == [
        "  not read from Xero yet (not compared): 7",
        "  incomplete: the day's call budget (1000) is spent; the read goes on tomorrow",
        "  1 day differs (host against Xero):",
        "    location  day         kind     host  total  xero  total  pending",
        "    lon       2025-02-05  invoice     4  90.00     1  40.00        1",
    ], "the 6th adds up (1 in Xero, 2 not read yet): no difference"
    assert lines[-1] == "Not clean: Xero's side was not read completely (see incomplete above)."
    assert exit_status(report) == 1


def test_json_is_the_kept_report_with_each_key_and_clean() -> None:
    data = report_json(sample_report())
    assert data["clean"] is False
    assert data["generated_at"] == GENERATED_AT
    t1, t2 = data["tenants"]
    assert [d["key"] for d in t1["differences"]] == [
        "12:voided_in_xero",
        "15:deleted_in_xero",
        "4:details_changed",
    ]
    assert t1["differences"][0] == {
        "key": "12:voided_in_xero",
        "tenant_id": "T1",
        "location_id": "syd",
        "kind": "invoice",
        "host_id": "i12",
        "row_id": 12,
        "difference": "voided_in_xero",
        "label": "INV-12 Ann Lee",
        "day": "2025-02-10",
        "host": "AUTHORISED, total 120.00",
        "xero": "VOIDED",
        "actions": ("accept",),
        "fix": "void INV-12 in Pet Manager too",
        "xero_id": None,
        "xero_fingerprint": "",
        "host_hash": "",
        "host_amount": None,
        "xero_amount": None,
        "decided": None,
        "decided_by": None,
        "decided_at": None,
        "relink_to": None,
    }
    assert (t1["differences_total"], t1["calls_today"], t1["call_budget"]) == (2, 14, 1000)
    assert t2["differences"] == []
    assert report_json(clean_report())["clean"] is True


def test_exit_status_is_zero_only_when_clean() -> None:
    assert exit_status(clean_report()) == 0
    assert exit_status(sample_report()) == 1
    incomplete = clean_report()
    incomplete.tenants[0].incomplete = "Xero could not be reached"
    assert exit_status(incomplete) == 1


def test_one_location_narrows_the_report_to_its_records() -> None:
    london = for_location(sample_report(), "lon")
    assert [t.tenant_id for t in london.tenants] == ["T2"]
    assert london.clean
    sydney = for_location(sample_report(), "syd")
    assert [d.key for d in sydney.tenants[0].differences] == [
        "12:voided_in_xero",
        "15:deleted_in_xero",
        "4:details_changed",
    ]
    assert sydney.tenants[0].differences_total == 2
    other = replace(sample_report().tenants[0].differences[0], location_id="bne")
    report = sample_report()
    report.tenants[0].differences.append(other)
    assert len(for_location(report, "syd").tenants[0].differences) == 3


def test_a_key_is_a_row_id_and_a_known_difference() -> None:
    assert parse_key("12:voided_in_xero") == (12, "voided_in_xero")
    assert reconcile._DIFFERENCES == DIFFERENCE_KINDS


def test_a_malformed_key_is_one_line_and_exit_2(practice: PracticeDir) -> None:
    for bad, said in (
        ("12", "is not a difference's key: give <row id>:<difference>"),
        ("x:voided_in_xero", "is not a difference's key"),
        ("12:nope", "'nope' is not a difference (one of missing_in_xero, deleted_in_xero"),
    ):
        code, out = run_verb(practice, "reconcile", "--accept", bad)
        assert code == 2, out
        assert said in out
        assert len(out.strip().splitlines()) == 1, out


def test_the_verb_is_listed_and_its_help_names_the_exit_statuses() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert "reconcile" in result.output
    result = CliRunner().invoke(main, ["reconcile", "--help"])
    assert result.exit_code == 0
    for option in ("--json", "--no-read", "--location", "--accept", "--resend", "--relink"):
        assert option in result.output
    assert "Exit 0 clean, 1 differences open" in " ".join(result.output.split())


def test_a_folder_that_is_no_practice_s_is_said_before_the_xero_app_is_asked_for(
    tmp_path: Path,
) -> None:
    result = CliRunner().invoke(main, ["reconcile", "--data-dir", str(tmp_path)], env={})
    assert result.exit_code == 2, result.output
    assert "is not a host data directory" in result.output
    assert "PM_XERO_CLIENT_ID" not in result.output
