"""A reconciliation report as a pass would keep it, built by hand, for the tests of what its
surfaces show (``pm-xero reconcile``, the dashboard's ``books`` section, the reconciliation
page) before and apart from the pass that makes one."""

from __future__ import annotations

from hookspecs.refhost import RefHost
from pm_xero_plugin.core.books import (
    REPORT_META_KEY,
    BooksReport,
    DayTotal,
    Difference,
    TenantBooks,
)
from pm_xero_plugin.core.gates import open_ledger

GENERATED_AT = "2025-03-03T09:00:00+00:00"


def voided(row_id: int = 12, *, decided: str | None = None) -> Difference:
    """INV-12 voided in Xero, live in the host: accept only."""
    return Difference(
        tenant_id="T1",
        location_id="syd",
        kind="invoice",
        host_id="i12",
        row_id=row_id,
        difference="voided_in_xero",
        label="INV-12 Ann Lee",
        day="2025-02-10",
        host="AUTHORISED, total 120.00",
        xero="VOIDED",
        actions=("accept",),
        fix="void INV-12 in Pet Manager too",
        decided=decided,
        decided_by="alex" if decided else None,
        decided_at="2025-03-03T08:00:00+00:00" if decided else None,
    )


def deleted_payment(row_id: int = 15) -> Difference:
    """A payment deleted in Xero: resend or accept."""
    return Difference(
        tenant_id="T1",
        location_id="syd",
        kind="payment",
        host_id="p3:i12",
        row_id=row_id,
        difference="deleted_in_xero",
        label="PAY-3 Ann Lee",
        day="2025-02-11",
        host="paid 30.00",
        xero="DELETED",
        actions=("resend", "accept"),
        fix="delete the payment in Pet Manager too, or re-send it",
    )


def email_changed(row_id: int = 4) -> Difference:
    """A contact's email edited in Xero, already accepted."""
    return Difference(
        tenant_id="T1",
        location_id="syd",
        kind="contact",
        host_id="c1",
        row_id=row_id,
        difference="details_changed",
        label="Ann Lee",
        day=None,
        host="email ann@old.example",
        xero="email ann@new.example",
        actions=("resend", "accept"),
        fix="re-send ours, or change it in Pet Manager",
        decided="accepted",
        decided_by="cli",
        decided_at="2025-03-02T10:00:00+00:00",
    )


def sample_report() -> BooksReport:
    """T1 (Sydney): two open differences, one decided, one day that differs and one that
    agrees; T2 (London): clean."""
    t1 = TenantBooks(
        tenant_id="T1",
        name="Sydney Vets",
        checked=40,
        read_at="2025-03-03T08:59:00+00:00",
        calls_today=14,
        call_budget=1000,
        events_pending=2,
        kinds_not_checked=["payout"],
        totals=[
            DayTotal("T1", "syd", "2025-02-10", "invoice", 3, "330.00", 3, "210.00"),
            DayTotal("T1", "syd", "2025-02-11", "payment", 2, "60.00", 2, "60.00"),
            DayTotal("T1", "syd", "2025-02-12", "invoice", 2, "80.00", 1, "40.00", pending=1),
        ],
        differences=[voided(), deleted_payment(), email_changed()],
        differences_total=2,
    )
    t2 = TenantBooks(
        tenant_id="T2",
        name="London Vets",
        checked=5,
        read_at="2025-03-03T08:58:00+00:00",
        calls_today=3,
        call_budget=1000,
        totals=[DayTotal("T2", "lon", "2025-02-05", "invoice", 1, "40.00", 1, "40.00")],
    )
    return BooksReport(generated_at=GENERATED_AT, tenants=[t1, t2])


def clean_report() -> BooksReport:
    """Every organisation read and nothing open."""
    report = sample_report()
    report.tenants[0].differences = [email_changed()]
    report.tenants[0].differences_total = 0
    report.tenants[0].totals = report.tenants[0].totals[1:2]
    return report


def keep_report(ledger_path: str, report: BooksReport) -> None:
    """``report`` kept in the ledger at ``ledger_path`` as a pass keeps it."""
    ledger = open_ledger(ledger_path)
    try:
        ledger.set_meta(REPORT_META_KEY, report.to_json())
    finally:
        ledger.close()


def keep_in_host(host: RefHost, report: BooksReport) -> None:
    """``report`` kept in the ledger of the add-on ``host`` runs."""
    from pm_xero_plugin import plugin

    engine = plugin.get_engine()
    assert engine is not None
    engine.ledger.set_meta(REPORT_META_KEY, report.to_json())
