"""The rules as pure functions: which gate holds a row, in which order (no database)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime

import pytest

from pm_xero_plugin.core.rules import (
    DepFacts,
    RuleContext,
    TenantFacts,
    dependency_gate,
    gates_for,
    local_today,
)

OPEN = TenantFacts(connected=True, codes_state="ok", contact_sync="finished")


@dataclass(frozen=True)
class R:
    kind: str = "invoice"
    location_id: str = "syd"
    tenant_id: str = "T1"
    doc_date: str | None = "2025-02-01"
    dep_contact: str | None = "c1"
    dep_invoice: str | None = None
    dep_credit_note: str | None = None
    include_before_start: bool = False


def ctx(deps: dict[tuple[str, str], DepFacts] | None = None, **kw: object) -> RuleContext:
    deps = deps if deps is not None else {("contact", "c1"): DepFacts(True)}
    base = {
        "enabled": True,
        "start_date": date(2025, 2, 1),
        "location_enabled": {"syd": True},
        "today": {"syd": date(2025, 3, 1)},
        "tenants": {"T1": OPEN},
        "dep": lambda kind, host_id, tenant: deps.get((kind, host_id)),
    }
    base.update(kw)
    return RuleContext(**base)  # type: ignore[arg-type]


def gate(row: R, context: RuleContext) -> str | None:
    found = gates_for(row, context)
    return None if found is None else found.name


def test_an_invoice_with_every_gate_open_is_ready() -> None:
    assert gate(R(), ctx()) is None


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"enabled": False}, "disabled"),
        ({"location_enabled": {"syd": False}}, "connection"),
        ({"tenants": {"T1": replace(OPEN, connected=False)}}, "connection"),
        ({"tenants": {}}, "connection"),
        ({"tenants": {"T1": replace(OPEN, codes_state="unverified")}}, "account_codes"),
        ({"tenants": {"T1": replace(OPEN, codes_state="invalid")}}, "account_codes"),
        ({"start_date": None}, "start_date_unset"),
        ({"today": {"syd": date(2025, 1, 31)}}, "start_date_future"),
        ({"tenants": {"T1": replace(OPEN, contact_sync="running")}}, "contact_sync"),
        ({"deps": {}}, "contact"),
        ({"deps": {("contact", "c1"): DepFacts(False)}}, "contact"),
    ],
)
def test_each_closed_gate_holds_an_invoice(change: dict[str, object], expected: str) -> None:
    deps = change.pop("deps", None)
    assert gate(R(), ctx(deps, **change) if deps is not None else ctx(**change)) == expected


def test_gates_are_checked_in_priority_order() -> None:
    everything_closed = ctx(
        {},
        enabled=False,
        start_date=None,
        tenants={"T1": TenantFacts()},
        location_enabled={},
    )
    assert gate(R(), everything_closed) == "disabled"
    assert gate(R(tenant_id=""), ctx()) == "organisation"
    assert gate(R(), ctx({}, today={"syd": date(2025, 1, 1)})) == "start_date_future"


def test_the_start_date_itself_is_in_and_the_day_before_is_out() -> None:
    assert gate(R(doc_date="2025-02-01"), ctx()) is None
    assert gate(R(doc_date="2025-01-31"), ctx()) == "before_start_date"
    assert gate(R(doc_date="2025-01-31", include_before_start=True), ctx()) is None


def test_a_future_start_date_holds_data_until_that_local_date() -> None:
    future = ctx(start_date=date(2025, 3, 2))
    assert gate(R(doc_date="2025-03-02"), future) == "start_date_future"
    reached = ctx(start_date=date(2025, 3, 2), today={"syd": date(2025, 3, 2)})
    assert gate(R(doc_date="2025-03-02"), reached) is None


def test_contacts_wait_for_contact_sync_to_start_but_not_for_the_start_date() -> None:
    contact = R(kind="contact", doc_date=None, dep_contact=None)
    not_started = ctx(tenants={"T1": replace(OPEN, contact_sync="not_started")}, start_date=None)
    assert gate(contact, not_started) == "contact_sync_not_started"
    running = ctx(tenants={"T1": replace(OPEN, contact_sync="running")}, start_date=None)
    assert gate(contact, running) is None


def test_a_payment_waits_for_its_invoice_and_is_told_when_that_is_before_the_start() -> None:
    pay = R(kind="payment", dep_contact=None, dep_invoice="i1")
    assert gate(pay, ctx({})) == "invoice"
    assert gate(pay, ctx({("invoice", "i1"): DepFacts(False, "2025-02-01")})) == "invoice"
    held = gates_for(pay, ctx({("invoice", "i1"): DepFacts(False, "2025-01-31")}))
    assert held is not None
    assert held.name == "invoice_before_start"
    assert "2025-01-31" in (held.detail or "")
    included = ctx({("invoice", "i1"): DepFacts(False, "2025-01-31", include_before_start=True)})
    assert gate(pay, included) == "invoice"
    assert gate(pay, ctx({("invoice", "i1"): DepFacts(True, "2025-01-31")})) is None


def test_an_allocation_waits_for_its_credit_note_then_its_invoice() -> None:
    alloc = R(kind="allocation", dep_contact=None, dep_invoice="i1", dep_credit_note="n1")
    assert gate(alloc, ctx({})) == "credit_note"
    assert gate(alloc, ctx({("credit_note", "n1"): DepFacts(True)})) == "invoice"
    both = {("credit_note", "n1"): DepFacts(True), ("invoice", "i1"): DepFacts(True)}
    assert gate(alloc, ctx(both)) is None


def test_dependency_gate_alone_ignores_tenant_level_gates() -> None:
    lookup = ctx().dep
    assert dependency_gate(R(), lookup, date(2025, 2, 1)) is None


@pytest.mark.parametrize(
    ("moment", "zone", "expected"),
    [
        (datetime(2025, 1, 31, 13, 30, tzinfo=UTC), "Australia/Sydney", date(2025, 2, 1)),
        (datetime(2025, 1, 31, 12, 59, tzinfo=UTC), "Australia/Sydney", date(2025, 1, 31)),
        (datetime(2025, 2, 1, 0, 30, tzinfo=UTC), "America/Los_Angeles", date(2025, 1, 31)),
        (datetime(2025, 2, 1, 0, 30, tzinfo=UTC), "Not/AZone", date(2025, 2, 1)),
    ],
)
def test_today_is_the_locations_local_business_date(
    moment: datetime, zone: str, expected: date
) -> None:
    assert local_today(moment, zone) == expected
