"""``pm-xero status / retry / resolve / exclude`` against a real host data directory."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from support.cli_practice import SYDNEY, PracticeDir, run_verb

from hookspecs.refhost import RefHost
from pm_xero_plugin.cli.admin import RECORD_KINDS
from pm_xero_plugin.cli.main import main
from pm_xero_plugin.ledger.states import KINDS


def test_status_json_lists_the_failure_and_the_held_payment_with_their_ways_out(
    practice: PracticeDir,
) -> None:
    code, out = run_verb(practice, "status", "--json")
    assert code == 0, out
    status = json.loads(out)
    by_row = {f["row_id"]: f for f in status["failures"]}
    failed = by_row[practice.failed_row]
    assert (failed["state"], failed["message"]) == (
        "failed",
        "Account code '999' is not a valid code",
    )
    assert failed["actions"] == ["retry", "resolve", "exclude"]
    held = by_row[practice.held_row]
    assert held["gate"] == "invoice_before_start"
    assert "include_parent_invoice" in held["actions"]
    assert status["start_date"] == "2025-02-01"
    assert status["start_date_locked"] is True
    sydney = next(s for s in status["sections"] if s["location_id"] == "syd")
    assert sydney["counts"]["invoice"]["synced"] == 1
    assert sydney["counts"]["invoice"]["failed"] == 1


def test_status_text_shows_organisations_counts_and_failures_within_80_columns(
    practice: PracticeDir,
) -> None:
    code, out = run_verb(practice, "status")
    assert code == 0, out
    assert "Organisation T1 (syd)" in out
    assert "account codes: ok" in out
    assert f"row {practice.failed_row} invoice #3, 2025-02-10" in out
    assert "Xero: Account code '999' is not a valid code" in out
    assert f"pm-xero retry --include-parent {practice.held_row}" in out
    assert "locked" in out
    assert max(len(line.rstrip()) for line in out.splitlines()) <= 80


def test_status_of_one_location_and_of_an_unknown_one(practice: PracticeDir) -> None:
    code, out = run_verb(practice, "status", "--json", "--location", "lon")
    assert code == 0, out
    assert [s["location_id"] for s in json.loads(out)["sections"]] == ["lon"]
    code, out = run_verb(practice, "status", "--location", "nowhere")
    assert code == 2
    assert "unknown location 'nowhere' (known: lon, syd)" in out


def test_retry_one_failed_row_moves_it_back_through_the_rules(practice: PracticeDir) -> None:
    code, out = run_verb(practice, "retry", str(practice.failed_row))
    assert code == 0, out
    assert f"row {practice.failed_row} (invoice #3 in T1): failed -> ready" in out
    assert practice.row(practice.failed_row).state == "ready"


def test_retry_all_failed_counts_what_moved(practice: PracticeDir) -> None:
    code, out = run_verb(practice, "retry", "--all-failed")
    assert (code, out.strip()) == (0, "retried 1 row")
    code, out = run_verb(practice, "retry", "--kind", "invoice", "--tenant", "T1")
    assert (code, out.strip()) == (0, "retried 0 rows (invoice in T1)")


def test_resolve_counts_the_failure_as_synced_and_frees_its_payment(practice: PracticeDir) -> None:
    led = practice.ledger()
    payment = led.find("payment", "p2:i3", "T1")
    led.close()
    assert payment is not None
    assert payment.state == "waiting"
    code, out = run_verb(practice, "resolve", str(practice.failed_row))
    assert code == 0, out
    assert "failed -> synced" in out
    assert practice.row(practice.failed_row).state == "synced"
    assert practice.row(payment.id).state == "ready"


def test_exclude_then_an_illegal_exclude_of_a_synced_row_exits_1(practice: PracticeDir) -> None:
    code, out = run_verb(practice, "exclude", str(practice.failed_row))
    assert code == 0
    assert "failed -> excluded" in out
    assert practice.row(practice.failed_row).state == "excluded"
    code, out = run_verb(practice, "exclude", str(practice.synced_row))
    assert code == 1
    assert f"row {practice.synced_row} (invoice #2 in T1) is synced: it cannot be excluded" in out
    assert practice.row(practice.synced_row).state == "synced"


def test_an_unknown_row_exits_2_with_a_message(practice: PracticeDir) -> None:
    for verb in ("retry", "resolve", "exclude"):
        code, out = run_verb(practice, verb, "9999")
        assert code == 2, (verb, out)
        assert "no ledger row 9999" in out


def test_retrying_a_synced_row_is_refused(practice: PracticeDir) -> None:
    code, out = run_verb(practice, "retry", str(practice.synced_row))
    assert code == 1
    assert "is synced: only failed, excluded, retrying or waiting rows" in out


def test_include_parent_sends_the_invoice_dated_before_the_start_date(
    practice: PracticeDir,
) -> None:
    code, out = run_verb(practice, "retry", "--include-parent", str(practice.held_row))
    assert code == 0, out
    led = practice.ledger()
    try:
        invoice = led.find("invoice", "i1", "T1")
        payment = led.get(practice.held_row)
    finally:
        led.close()
    assert invoice is not None
    assert invoice.include_before_start
    assert invoice.state == "ready"
    assert payment is not None
    assert (payment.state, payment.gate) == ("waiting", "invoice")
    code, out = run_verb(practice, "retry", "--include-parent", str(practice.synced_row))
    assert code == 1
    assert "has no parent invoice" in out


def test_retry_needs_a_row_or_a_scope(practice: PracticeDir) -> None:
    code, out = run_verb(practice, "retry")
    assert code == 2
    assert "give a ROW_ID" in out
    code, out = run_verb(practice, "retry", "3", "--all-failed")
    assert code == 2
    code, out = run_verb(practice, "retry", "--include-parent", "--all-failed")
    assert code == 2
    assert "--include-parent needs" in out


def test_a_directory_without_host_data_is_refused_not_created(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["status", "--data-dir", f"{tmp_path}/typo"])
    assert result.exit_code == 2
    assert "is not a host data directory" in result.output
    assert not (tmp_path / "typo").exists()


def test_the_kind_choices_are_the_ledgers_kinds() -> None:
    assert RECORD_KINDS == KINDS


def test_a_practice_without_settings_shows_an_empty_dashboard_and_no_preview(
    tmp_path: Path,
) -> None:
    host = RefHost(tmp_path / "pm", load_entrypoints=False)
    host.add_location(SYDNEY)
    host.close()
    runner = CliRunner()
    result = runner.invoke(main, ["status", "--data-dir", str(tmp_path / "pm")])
    assert result.exit_code == 0, result.output
    assert "no start date chosen yet" in result.output
    assert "No location is linked to a Xero organisation yet." in result.output
    assert "nothing recorded yet" in result.output
    result = runner.invoke(main, ["preview", "--data-dir", str(tmp_path / "pm")])
    assert result.exit_code == 2
    assert "no start date" in result.output
    result = runner.invoke(
        main, ["preview", "--start-date", "2025-01-01", "--data-dir", str(tmp_path / "pm")]
    )
    assert result.exit_code == 0, result.output
    assert "not linked to a Xero organisation" in result.output
