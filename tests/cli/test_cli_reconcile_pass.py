"""``pm-xero reconcile`` on a practice's data directory: it runs a pass, keeps its report where
the dashboard reads it, narrows to one location, and refuses what it cannot do in one line
(no Xero app, an unknown location, a key no difference has, an action that does not fit);
an action it is given is applied and said before the pass."""

from __future__ import annotations

import json

import pytest
from support.cli_practice import PracticeDir, run_verb

from pm_xero_plugin.core.books import (
    REPORT_META_KEY,
    BooksReport,
    Difference,
    TenantBooks,
    load_report,
)


@pytest.fixture
def xero_app(practice: PracticeDir, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Xero app nothing answers for, from the shell of the verbs (the practice was built
    without one): ``--no-read`` makes no call (no event is pending)."""
    monkeypatch.setenv("PM_XERO_CLIENT_ID", "client")
    monkeypatch.setenv("PM_XERO_CLIENT_SECRET", "secret")
    monkeypatch.setenv("PM_XERO_URL", "http://127.0.0.1:9")


@pytest.mark.usefixtures("xero_app")
def test_a_pass_without_a_read_says_xero_is_not_read_and_keeps_its_report(
    practice: PracticeDir,
) -> None:
    code, out = run_verb(practice, "reconcile", "--no-read")
    assert code == 1, "not read: not clean, a script can tell"
    assert "Organisation T1: 0 records checked; Xero never read; 0/1000 calls today" in out
    assert "  incomplete: " in out
    assert "  not read from Xero yet (not compared): " in out
    assert out.rstrip().endswith(
        "Not clean: Xero's side was not read completely (see incomplete above)."
    )
    ledger = practice.ledger()
    try:
        kept = load_report(ledger.meta)
    finally:
        ledger.close()
    assert kept is not None
    assert [t.tenant_id for t in kept.tenants] == ["T1", "T2"]

    code, out = run_verb(practice, "status", "--json")
    assert code == 0, out
    books = json.loads(out)["books"]
    assert [o["tenant_id"] for o in books["organisations"]] == ["T1", "T2"]
    assert books["generated_at"] == kept.generated_at


@pytest.mark.usefixtures("xero_app")
def test_json_is_the_report_with_clean_and_one_location_narrows_it(practice: PracticeDir) -> None:
    code, out = run_verb(practice, "reconcile", "--no-read", "--json", "--location", "lon")
    assert code == 1
    data = json.loads(out)
    assert data["clean"] is False
    [london] = data["tenants"]
    assert london["tenant_id"] == "T2"
    assert london["incomplete"]
    assert {t["location_id"] for t in london["totals"]} == {"lon"}


@pytest.mark.usefixtures("xero_app")
def test_an_unknown_location_is_one_line_and_exit_2(practice: PracticeDir) -> None:
    code, out = run_verb(practice, "reconcile", "--location", "nowhere")
    assert code == 2
    assert out.strip() == "pm-xero reconcile: unknown location 'nowhere' (known: lon, syd)"


def keep_voided(practice: PracticeDir) -> str:
    """A report whose one difference is the practice's synced invoice #2, voided in Xero; its
    key."""
    row = practice.row(practice.synced_row)
    difference = Difference(
        tenant_id="T1",
        location_id="syd",
        kind="invoice",
        host_id=row.host_id,
        row_id=row.id,
        difference="voided_in_xero",
        label="INV2 Ann Lee1",
        day="2025-02-01",
        host="AUTHORISED, total 55.00",
        xero="VOIDED",
        actions=("accept",),
        fix="void INV2 in Pet Manager too",
        xero_id=row.xero_id,
        host_hash=row.payload_hash,
    )
    report = BooksReport(
        generated_at="2025-03-03T09:00:00+00:00",
        tenants=[TenantBooks("T1", differences=[difference], differences_total=1)],
    )
    ledger = practice.ledger()
    try:
        ledger.set_meta(REPORT_META_KEY, report.to_json())
    finally:
        ledger.close()
    return difference.key


@pytest.mark.usefixtures("xero_app")
def test_an_accept_is_applied_and_said_before_the_pass(practice: PracticeDir) -> None:
    key = keep_voided(practice)
    code, out = run_verb(practice, "reconcile", "--no-read", "--accept", key)
    assert code == 1, "the pass after it still has Xero unread"
    assert out.splitlines()[0].startswith("Accepted Xero's version of INV2 Ann Lee1 (voided in")
    ledger = practice.ledger()
    try:
        [mark] = ledger.books_marks("T1")
    finally:
        ledger.close()
    assert (mark.host_id, mark.difference, mark.action, mark.by) == (
        practice.row(practice.synced_row).host_id,
        "voided_in_xero",
        "accepted",
        "cli",
    )


@pytest.mark.usefixtures("xero_app")
def test_a_key_no_difference_has_or_an_action_that_does_not_fit_is_one_line_and_exit_2(
    practice: PracticeDir,
) -> None:
    code, out = run_verb(practice, "reconcile", "--accept", "999:voided_in_xero")
    assert code == 2
    assert out.startswith("pm-xero reconcile: --accept 999:voided_in_xero: no difference ")
    assert len(out.strip().splitlines()) == 1, out

    key = keep_voided(practice)
    code, out = run_verb(practice, "reconcile", "--resend", key)
    assert code == 2
    assert f"--resend {key}: INV2 Ann Lee1: 'resend' does not fit" in out
    assert len(out.strip().splitlines()) == 1, out
    ledger = practice.ledger()
    try:
        assert ledger.books_marks("T1") == []
    finally:
        ledger.close()


def test_without_a_xero_app_it_is_one_line_exit_2_and_no_action_is_taken(
    practice: PracticeDir,
) -> None:
    key = keep_voided(practice)
    code, out = run_verb(practice, "reconcile", "--no-read", "--accept", key)
    assert code == 2
    assert "the Xero app is not configured: set PM_XERO_CLIENT_ID" in out
    assert len(out.strip().splitlines()) == 1, out
    ledger = practice.ledger()
    try:
        assert ledger.books_marks("T1") == [], "refused before the accept"
    finally:
        ledger.close()
