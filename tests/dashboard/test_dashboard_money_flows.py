"""The money flows on the dashboard: payouts (with their fees), deposits (with their
allocations) and refunds counted as a bookkeeper counts them beside the documents, each new
kind named in words, and a refund held because its credit is dated before the start date
listed with the ways out."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console
from support.pages_books import open_practice, synced_books

from pm_xero_plugin import plugin
from pm_xero_plugin.core.engine import Engine
from pm_xero_plugin.dashboard.render import print_status
from pm_xero_plugin.dashboard.status import build, money_flows
from pm_xero_plugin.ledger import NewRow
from pm_xero_plugin.ledger.states import STATES


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    with open_practice(tmp_path) as books:
        synced_books(books, invoices=1)
        books.drain()
        running = plugin.get_engine()
        assert running is not None
        yield running


def add(
    engine: Engine,
    kind: str,
    host_id: str,
    state: str,
    gate: str | None = None,
    detail: str | None = None,
) -> None:
    [sydney] = [loc for loc, info in engine.locations().items() if info.get("name") == "Sydney"]
    payload = json.dumps({"id": host_id})
    engine.ledger.insert(
        [
            NewRow(
                kind,
                host_id,
                "T1",
                sydney,
                state,
                payload,
                f"h-{host_id}",
                gate=gate,
                detail=detail,
                doc_date="2025-02-10",
                number=7,
            )
        ]
    )


def sydney_section(status: dict[str, object]) -> dict[str, object]:
    sections = status["sections"]
    assert isinstance(sections, list)
    [section] = [s for s in sections if s["location_name"] == "Sydney"]
    assert isinstance(section, dict)
    return section


def test_the_money_flows_are_counted_by_flow_beside_the_kinds(engine: Engine) -> None:
    add(engine, "payout", "po1", "ready")
    add(engine, "payout_fee", "po1", "ready")
    add(engine, "payout", "po2", "waiting", "payments")
    add(engine, "deposit", "d1", "ready")
    add(engine, "deposit_allocation", "d1:i1", "waiting", "deposit")
    add(engine, "credit_note_refund", "r1", "ready")
    add(engine, "deposit_refund", "r2", "ready")

    section = sydney_section(build(engine, None))

    flows = section["money_flows"]
    assert isinstance(flows, dict)
    assert set(flows) == {"payouts", "deposits", "refunds"}
    assert {state for flow in flows.values() for state in flow} == set(STATES)
    assert (flows["payouts"]["ready"], flows["payouts"]["waiting"]) == (2, 1)
    assert (flows["deposits"]["ready"], flows["deposits"]["waiting"]) == (1, 1)
    assert flows["refunds"]["ready"] == 2
    counts = section["counts"]
    assert isinstance(counts, dict)
    assert counts["payout"]["ready"] == 1, "the kinds are still counted one by one"
    assert "payouts" not in counts, "a flow is not a kind: its rows are not counted twice"
    waits = {(w["kind"], w["gate"]): w["reason"] for w in section["waiting"]}  # type: ignore[attr-defined]
    assert "card payments" in waits[("payout", "payments")]
    assert waits[("deposit_allocation", "deposit")] == "waiting for its deposit to reach Xero"


def test_money_flows_sum_the_kinds_of_each_flow_state_by_state() -> None:
    zero = dict.fromkeys(STATES, 0)
    counts = {
        "payment": {**zero, "synced": 9},
        "payout": {**zero, "synced": 2},
        "payout_fee": {**zero, "synced": 2, "failed": 1},
        "overpayment_refund": {**zero, "retrying": 1},
    }
    flows = money_flows(counts)
    assert flows["payouts"] == {**zero, "synced": 4, "failed": 1}
    assert flows["deposits"] == zero
    assert flows["refunds"] == {**zero, "retrying": 1}


def test_a_refund_whose_credit_predates_the_start_is_held_with_both_ways_out(
    engine: Engine,
) -> None:
    add(engine, "overpayment_refund", "r9", "waiting", "credit_before_start")

    status = build(engine, None)

    [held] = [f for f in status["failures"] if f["kind"] == "overpayment_refund"]
    assert held["actions"] == ["widen_start_date", "include_parent", "exclude"]
    assert "widen the start date" in held["hint"]
    assert "include parent" in held["hint"]
    assert "dated before the start date" in held["message"]
    assert status["failures_total"] >= 1


def test_the_text_dashboard_names_each_new_kind_and_counts_the_flows(engine: Engine) -> None:
    for kind, host_id in (
        ("payout", "po1"),
        ("payout_fee", "po1"),
        ("deposit", "d1"),
        ("deposit_allocation", "d1:i1"),
        ("credit_note_refund", "r1"),
        ("overpayment_refund", "r2"),
        ("deposit_refund", "r3"),
    ):
        add(engine, kind, host_id, "ready")
    add(engine, "credit_note_refund", "r4", "waiting", "credit_before_start")
    console = Console(width=80, record=True)

    print_status(build(engine, None), console=console)

    text = console.export_text()
    for noun in (
        "payouts",
        "payout fees",
        "deposits",
        "deposit allocations",
        "credit note refunds",
        "overpayment refunds",
        "deposit refunds",
    ):
        assert f"\n{noun} " in text, noun
    assert "money flows – payouts: 2 ready; deposits: 2 ready; refunds: 1 wait, 3 ready" in text
    assert "1 credit note refund waiting" in text
    assert "held: credit_before_start" in text
    assert "retry --include-parent" in text


def test_a_payout_waiting_for_payments_that_will_not_come_says_what_to_do(
    engine: Engine,
) -> None:
    """A payout whose card payments will not reach Xero by themselves is listed (the ledger
    says which): the hint is about those payments, not a refusal by Xero."""
    detail = "1 of its 2 card payments will not reach Xero by itself (PAY3: dated before the start)"
    add(engine, "payout", "po9", "waiting", "payments", detail)
    add(engine, "deposit_refund", "r9", "waiting", "deposit", "its deposit DEP4 failed")

    failures = {f["kind"]: f for f in build(engine, None)["failures"]}

    payout = failures["payout"]
    assert detail in payout["message"]
    assert "widen the start date to their dates" in payout["hint"]
    assert "clearing account would not return to zero" in payout["hint"]
    assert "Xero refused" not in payout["hint"]
    refund = failures["deposit_refund"]
    assert refund["hint"].startswith("It waits for its deposit, which will not reach Xero by")
