"""``preview``: counts, totals and held records of a start date, exact to the boundary day;
and look-ups in the (in-process) Xero sandbox that find numbers Xero already has."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from support.cli_practice import START, PracticeDir, fill, settings

from hookspecs.refhost import ManualClock, RefHost
from pm_xero_plugin.cli.main import main
from pm_xero_plugin.dashboard import preview as preview_module
from pm_xero_plugin.dashboard.preview import preview

CONN = "syd"


def run_preview(practice: PracticeDir, *args: str) -> dict[str, Any]:
    result = CliRunner().invoke(
        main, ["preview", "--json", "--no-lookup", *args, "--data-dir", str(practice.root)]
    )
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.output)
    return report


def org(report: dict[str, Any], tenant: str) -> dict[str, Any]:
    found: dict[str, Any] = next(o for o in report["organisations"] if o["tenant_id"] == tenant)
    return found


def test_saved_start_date_counts_and_totals_per_organisation(practice: PracticeDir) -> None:
    report = run_preview(practice)
    assert report["start_date"] == "2025-02-01"
    assert report["looked_up"] is False
    t1 = org(report, "T1")
    kinds = t1["kinds"]
    # invoice #2 dated exactly on the start date is in; #1 the day before is out
    assert (kinds["invoice"]["count"], kinds["invoice"]["total"]) == (2, "75.50")
    assert kinds["invoice"]["first_date"] == "2025-02-01"
    assert (kinds["credit_note"]["count"], kinds["credit_note"]["total"]) == (1, "5.00")
    assert kinds["allocation"]["count"] == 1
    assert (kinds["payment"]["count"], kinds["payment"]["total"]) == (1, "25.50")
    assert (kinds["overpayment"]["count"], kinds["overpayment"]["total"]) == (1, "4.50")
    assert kinds["contact"]["count"] == 2
    assert kinds["invoice"]["already_synced"] == 1  # #2 synced, #3 failed
    assert kinds["invoice"]["already_in_xero"] is None
    assert t1["held"] == [
        {
            "kind": "payment",
            "gate": "invoice_before_start",
            "count": 1,
            "total": "99.00",
            "reason": preview_module._HELD_REASON,
        }
    ]
    t2 = org(report, "T2")
    assert (t2["kinds"]["invoice"]["count"], t2["kinds"]["invoice"]["total"]) == (1, "40.00")
    assert t2["kinds"]["contact"]["count"] == 1
    assert t2["held"] == []


def test_a_day_later_drops_the_invoice_dated_on_the_old_start_date(practice: PracticeDir) -> None:
    t1 = org(run_preview(practice, "--start-date", "2025-02-02"), "T1")
    kinds = t1["kinds"]
    assert (kinds["invoice"]["count"], kinds["invoice"]["total"]) == (1, "25.50")
    assert kinds["credit_note"]["count"] == 1
    # the credit note's invoice (#2, 2025-02-01) is now before the start date: allocation held
    assert kinds["allocation"]["count"] == 0
    assert [(h["kind"], h["count"], h["total"]) for h in t1["held"]] == [
        ("allocation", 1, "5.00"),
        ("payment", 1, "99.00"),
    ]


def test_a_day_earlier_takes_in_the_parent_invoice_and_frees_its_payment(
    practice: PracticeDir,
) -> None:
    t1 = org(run_preview(practice, "--start-date", "2025-01-31"), "T1")
    kinds = t1["kinds"]
    assert (kinds["invoice"]["count"], kinds["invoice"]["total"]) == (3, "175.50")
    assert (kinds["payment"]["count"], kinds["payment"]["total"]) == (3, "125.50")
    assert t1["held"] == []


def test_one_location_only(practice: PracticeDir) -> None:
    report = run_preview(practice, "--location", "lon")
    assert [o["tenant_id"] for o in report["organisations"]] == ["T2"]


def test_text_preview_says_it_did_not_look_in_xero(practice: PracticeDir) -> None:
    result = CliRunner().invoke(main, ["preview", "--data-dir", str(practice.root)])
    assert result.exit_code == 0, result.output
    assert "not looked up in Xero" in result.output
    assert "PM_XERO_CLIENT_ID" in result.output
    assert "held: 1 payment (99.00)" in result.output
    assert max(len(line.rstrip()) for line in result.output.splitlines()) <= 80


def test_an_unknown_location_or_a_bad_date_is_refused(practice: PracticeDir) -> None:
    runner = CliRunner()
    result = runner.invoke(
        main, ["preview", "--location", "nowhere", "--data-dir", str(practice.root)]
    )
    assert result.exit_code == 2
    assert "unknown location 'nowhere'" in result.output
    result = runner.invoke(
        main, ["preview", "--start-date", "01/02/2025", "--data-dir", str(practice.root)]
    )
    assert result.exit_code == 2
    assert "is not a date" in result.output


# -- look-ups in Xero --------------------------------------------------------------------------


def _invoice(number: str, contact_id: str) -> dict[str, Any]:
    return {
        "Type": "ACCREC",
        "Contact": {"ContactID": contact_id},
        "Date": "2025-02-01",
        "DueDate": "2025-02-15",
        "InvoiceNumber": number,
        "LineAmountTypes": "Exclusive",
        "Status": "AUTHORISED",
        "LineItems": [
            {"Description": "Boarding", "Quantity": 1.0, "UnitAmount": 50.0, "AccountCode": "200"}
        ],
    }


def test_lookups_report_how_many_invoices_xero_already_has_and_which_will_clash(
    tmp_path: Path, sandbox_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox, client = sandbox_client
    tenant = sandbox.tenant_ids[0]
    # Someone typed two of the window's invoices (and one outside it) into Xero by hand.
    [contact] = client.send_batch(
        tenant,
        CONN,
        "PUT",
        "Contacts",
        [{"Name": "Ann Lee", "ContactNumber": "C1"}],
        idempotency_key="c",
    )
    made = client.send_batch(
        tenant,
        CONN,
        "PUT",
        "Invoices",
        [
            # INV2 is the host's own (customer C1, 50.00, 2025-02-01): it will be linked; INV3
            # is the host's for another customer, total and date: a clash that will fail.
            {**_invoice("INV2", str(contact.xero_id)), "LineAmountTypes": "NoTax"},
            _invoice("INV3", str(contact.xero_id)),
            _invoice("INV1", str(contact.xero_id)),
        ],
        idempotency_key="i",
    )
    assert all(r.ok for r in made), [r.errors for r in made]

    host = RefHost(tmp_path / "pm", clock=ManualClock(START), load_entrypoints=False)
    try:
        fill(host)  # no plugin registered: nothing reacts
        saved = settings({"syd": tenant, "lon": "T2"})
        monkeypatch.setattr(preview_module, "CHUNK", 1)  # every number its own look-up
        report = preview(
            None,
            host,
            date(2025, 2, 1),
            client=client,
            connection_for=lambda t: CONN if t == tenant else None,
            settings=saved,
        )
    finally:
        host.close()
    mine = org(report, tenant)
    assert mine["looked_up"] is True
    assert mine["kinds"]["invoice"]["already_in_xero"] == 2
    assert mine["kinds"]["invoice"]["clashes"] == 1
    assert mine["kinds"]["contact"]["already_in_xero"] == 1
    assert mine["kinds"]["contact"]["clashes"] == 0
    assert mine["kinds"]["payment"]["already_in_xero"] == 0
    both = (
        "invoice INV3 is already in Xero for Ann Lee (55.00, 2025-02-01); "
        "ours is for Ann Lee2 (25.50, 2025-02-10)"
    )
    assert mine["clashes"] == [{"kind": "invoice", "number": "INV3", "message": both}]
    assert mine["warnings"] == [
        "Xero already has 1 contacts numbered like these: they will be linked, not duplicated; "
        "if they were entered by hand for this period, choose a later start date",
        "Xero already has 1 invoices numbered like these: they will be linked, not duplicated; "
        "if they were entered by hand for this period, choose a later start date",
        f"1 invoices will fail: Xero holds their numbers for other documents ({both}). "
        "Another document in Xero already has this number. Change the number prefix under "
        "Xero settings, or void (or renumber) the other one in Xero – then retry. If Xero's is "
        "this one after all (edited there), resolve this instead.",
    ]
    other = org(report, "T2")
    assert other["looked_up"] is False
    assert other["kinds"]["invoice"]["already_in_xero"] is None
    assert other["kinds"]["invoice"]["clashes"] is None
    assert other["clashes"] is None
    assert report["looked_up"] is False
    assert "not connected" in report["lookup_note"]


def test_without_a_start_date_preview_says_so(tmp_path: Path) -> None:
    host = RefHost(tmp_path / "pm", clock=ManualClock(START), load_entrypoints=False)
    try:
        fill(host)
        with pytest.raises(ValueError, match="no start date"):
            preview(None, host, None, settings=settings({"syd": "T1"}, start_date=None))
    finally:
        host.close()


def test_the_in_xero_column_counts_what_the_add_on_already_synced() -> None:
    """Issue 9 item 15: rows already synced are in Xero; a look-up adds what Xero has by
    number; without one the column says so (``1+?``) rather than showing 0."""
    from rich.console import Console

    from pm_xero_plugin.dashboard.render import print_preview

    def report(found: int | None) -> dict[str, Any]:
        numbers = {"count": 3, "total": "30.00", "already_synced": 1, "already_in_xero": found}
        return {"start_date": "2025-02-01", "organisations": [{"kinds": {"invoice": numbers}}]}

    for found, shown in ((None, "1+?"), (2, "3"), (0, "1")):
        console = Console(record=True, width=80)
        print_preview(report(found), console=console)
        [row] = [line.split() for line in console.export_text().splitlines() if "invoices" in line]
        assert row[-2:] == ["1", shown], (found, row)
