"""A month of a pet resort's money, end to end: card payments through Stripe and two payouts
with fees, deposits taken before stays and applied when the stays are invoiced (one refunded,
one kept as a cancellation fee), a credit note given back as money, gift vouchers sold and
redeemed – recorded live through the reference host's hooks while ``pm-xero worker`` processes
send it to a sandbox served on loopback, each worker SIGKILLed after a seeded number of further
sandbox calls and started again.

At the end, read back from the sandbox and compared with the host's own records (never with the
ledger): the card clearing account is back to 0.00, each payout's bank transfer is its amount
and its fee spend its fees, the voucher liability is what was sold less what was redeemed, each
invoice's AmountDue is what the host says is owed, every record is in Xero exactly once (none
sent twice, none taken back), and every ledger row is synced.
"""

from __future__ import annotations

import itertools
import os
import random
import threading
import time
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.fleet_world import Workers, wait_until
from support.money_books import (
    Readback,
    amount_due_problems,
    clearing_problems,
    deposit_problems,
    exactly_once_problems,
    payout_problems,
    read_back,
    voucher_problems,
)
from support.money_month import LOCATION, MONEY_CODES, PAYMENT_CODES, Month, plan_month, replay
from support.reliability_practice import relaxed_limits

from hookspecs.refhost import RefHost
from pm_xero_plugin import plugin
from pm_xero_plugin.demo import practice
from pm_xero_plugin.sandbox import Sandbox
from pm_xero_plugin.sandbox.host_settings import environment

pytestmark = pytest.mark.timeout(240)

SEED = 1505
KILLS = 6
"""Workers SIGKILLed, each after 1-6 further sandbox calls (a seeded number)."""
DAY_SECONDS = 0.3
"""Real seconds between two business days recorded: the workers send while the month goes on."""
SETTLE_SECONDS = 90.0
"""How long the last worker may take to send what is left once the month is recorded."""
WORKER_ARGS = ("--threads", "2", "--batch-size", "5", "--progress-seconds", "0")
"""Small batches: more requests, so more points at which a kill lands."""


def last_month() -> date:
    """The first day of the calendar month before this one (every day of it is in the past)."""
    return (datetime.now(UTC).date().replace(day=1) - timedelta(days=1)).replace(day=1)


def set_up(host: RefHost, tenant: str, start: date) -> None:
    """The admin: "Connect to Xero", the account codes (the chart's, with card payments into the
    card clearing account, a voucher liability, the deposits, fee and payout accounts), the
    contact sync, the start date and "Start syncing data"."""
    runtime = plugin.get_runtime()
    assert runtime is not None, host.hook_failures
    with httpx.Client(timeout=30.0) as browser:
        practice.authorize(runtime, LOCATION["id"], browser, tenant)
    codes = practice.account_codes(runtime, tenant)
    codes = {**codes, "payments": dict(PAYMENT_CODES), **MONEY_CODES}
    tenants = {LOCATION["id"]: tenant}
    settings = practice.practice_settings(host.locations(), tenants, {tenant: codes}, None)
    assert host.save_plugin_settings("xero", settings) == []
    host.start_contact_sync(None)
    started = dict(settings, start_date=start.isoformat())
    assert host.save_plugin_settings("xero", started) == []
    host.backfill(None, None)


def ledger() -> Any:
    engine = plugin.get_engine()
    assert engine is not None
    return engine.ledger


def not_settled(counts: list[Mapping[str, Any]]) -> dict[str, int]:
    """Rows not in Xero yet, by kind, state and gate (every row of this month must get there)."""
    left: dict[str, int] = {}
    for row in counts:
        if row["state"] != "synced" and row["n"]:
            key = f"{row['kind']}:{row['state']}" + (f":{row['gate']}" if row["gate"] else "")
            left[key] = left.get(key, 0) + int(row["n"])
    return left


def assert_month_has_everything(month: Month) -> None:
    """The seeded month holds what the issue asks for (a seed change cannot quietly drop one)."""

    def records(action: str) -> list[dict[str, Any]]:
        return [s.record for s in month.steps if s.action == action]

    payouts = records("record_payout")
    assert len(payouts) == 2
    assert all(Decimal(p["fees"]) > 0 for p in payouts), payouts
    assert all(len(p["payment_ids"]) >= 5 for p in payouts), "each payout settles card payments"
    credits = sorted(
        k for r in records("record_refund") for k in ("deposit_id", "credit_note_id") if r.get(k)
    )
    assert credits == ["credit_note_id", "deposit_id"]
    assert sum(1 for r in records("record_deposit") if r["allocations"]) >= 4, "deposits applied"
    lines = [line for r in records("create_invoice") for line in r["lines"]]
    assert sum(1 for line in lines if line["category"] == "voucher") >= 2, "vouchers sold"
    methods = [r["method"] for r in records("record_payment")]
    assert methods.count("voucher") >= 2, "vouchers redeemed"
    assert 30 <= month.count("create_invoice") <= 50
    assert len(month.clients) == 15


class Crashes(threading.Thread):
    """One ``pm-xero worker`` at a time, SIGKILLed after a seeded number of further sandbox
    calls and started again, ``kills`` times; the last one started is left running."""

    def __init__(self, workers: Workers, sandbox: Sandbox, kills: int, month: Month) -> None:
        super().__init__(name="crashes", daemon=True)
        self.workers, self.sandbox, self.kills, self.month = workers, sandbox, kills, month
        self.rng = random.Random(SEED)
        self.day = 0
        """The business day being recorded (the main thread moves it)."""
        self.points: list[str] = []
        self.held: list[int] = []
        """Rows left in sending by each killed worker (taken over by the next one)."""
        self.stopping = threading.Event()

    def run(self) -> None:
        self.workers.start(1)
        while len(self.points) < self.kills:
            calls = self.rng.randint(1, 6)
            target = self.sandbox.api_calls() + calls
            while self.sandbox.api_calls() < target:
                if self.stopping.wait(0.002):
                    return
            self.workers.kill_and_restart(0)
            held = not_settled(ledger().counts())
            self.held.append(sum(n for key, n in held.items() if ":sending" in key))
            self.points.append(f"day {self.day}, after {calls} calls")

    def finish(self) -> None:
        self.stopping.set()
        self.join(timeout=60)
        assert not self.is_alive()


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_a_month_of_money_reaches_xero_exactly_once_through_killed_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spec_path: Path
) -> None:
    month = plan_month(SEED, last_month())
    assert_month_has_everything(month)
    sandbox = Sandbox(
        orgs=1, spec_path=spec_path, limits=relaxed_limits(), seed=SEED, check_responses=True
    )
    [tenant] = sandbox.tenant_ids
    root = tmp_path / "pm"
    with sandbox.serve(port=0) as server:
        app = environment(server.url, sandbox.client_id, sandbox.client_secret)
        for name, value in {**app, "PM_XERO_WORKER": "off"}.items():
            monkeypatch.setenv(name, value)
        host = RefHost(root, load_entrypoints=False)
        host.add_location(LOCATION)
        for client in month.clients:  # the practice's customers, before the add-on
            host.save_client(client)
        host.register(plugin, name="xero")
        host.start()
        env = {k: v for k, v in os.environ.items() if not k.startswith("PM_XERO_")}
        workers = Workers(
            [*WORKER_ARGS, "--data-dir", str(root)],
            {**env, **app, "PYTHONUNBUFFERED": "1"},
            tmp_path / "logs",
        )
        crashes = Crashes(workers, sandbox, KILLS, month)
        try:
            set_up(host, tenant, month.first)
            crashes.start()
            for day, steps in itertools.groupby(month.steps, key=lambda s: s.day):
                crashes.day = day
                replay(host, steps)
                time.sleep(DAY_SECONDS)
            wait_until(
                lambda: len(crashes.points) == KILLS or not not_settled(ledger().counts()),
                SETTLE_SECONDS,
                every=0.2,
            )
            crashes.finish()
            settled = wait_until(lambda: not not_settled(ledger().counts()), SETTLE_SECONDS)
            left = not_settled(ledger().counts())
            failed = ledger()._q("SELECT kind, host_id, message FROM rows WHERE state = 'failed'")
            stopped = workers.stop()
            assert settled, (
                f"still on its way after {SETTLE_SECONDS:.0f} s: {left}; failed: {failed[:5]}\n"
                + workers.output()
            )
            assert failed == [], failed
            assert left == {}, left
            assert stopped == [0], workers.output()
            assert workers.killed == [-9] * len(crashes.points)
            assert len(crashes.points) >= KILLS // 2, f"only {crashes.points} kills landed"
            assert host.hook_failures == []

            back = read_back(server.url, tenant)
            assert clearing_problems(back) == []
            assert payout_problems(host, back) == []
            assert voucher_problems(host, back) == []
            assert deposit_problems(host, back) == []
            assert amount_due_problems(host, back) == []
            assert exactly_once_problems(host, back) == []
            assert sandbox.response_violations == [], sandbox.response_violations[:5]
            adopted = ledger()._q("SELECT count(*) FROM rows WHERE reply LIKE '%adopted%'")
            print(
                f"\nmoney month: {len(month.steps)} steps, {sandbox.api_calls()} API calls, "
                f"{workers.runs} worker processes, kills at {crashes.points}, rows in sending "
                f"at each kill {crashes.held}, {adopted[0][0]} rows adopted by look-up; "
                f"{len(back.state['prepayments'])} prepayments, {len(back.transfers)} transfers, "
                f"balances {dict(sorted(back.balances.items()))}"
            )
        finally:
            if crashes.is_alive():
                crashes.finish()
            workers.stop()
            host.stop()


def test_the_checks_name_a_duplicate_a_document_taken_back_and_a_wrong_balance(
    tmp_path: Path,
) -> None:
    """The read-back checks themselves, on books written by hand: right books pass, and each
    kind of wrong one is named (so the month's test cannot pass by checking nothing)."""
    host = RefHost(tmp_path / "pm", load_entrypoints=False)
    try:
        host.add_location(LOCATION)
        client = host.save_client({"id": "cl-1", "location_id": "bondi", "last_name": "Pawson"})
        line = {"description": "Groom", "category": "grooming", "quantity": "1",
                "unit_price": "110.00", "tax_rate": "10"}  # fmt: skip
        invoice = host.create_invoice(
            {"id": "inv-1", "location_id": "bondi", "client_id": "cl-1", "lines": [line]}
        )
        host.record_payment(
            {"id": "pay-1", "location_id": "bondi", "client_id": "cl-1", "method": "stripe",
             "amount": "110.00", "allocations": [{"invoice_id": "inv-1", "amount": "110.00"}]}
        )  # fmt: skip
        host.record_payout(
            {"id": "po-1", "location_id": "bondi", "fees": "2.23", "payment_ids": ["pay-1"]}
        )
        host.create_credit_note(
            {"id": "cn-1", "location_id": "bondi", "client_id": "cl-1",
             "lines": [dict(line, unit_price="40.00")]}
        )  # fmt: skip
        host.record_refund(
            {"id": "rf-1", "location_id": "bondi", "client_id": "cl-1", "amount": "40.00",
             "credit_note_id": "cn-1"}
        )  # fmt: skip
        right = _hand_written_books(client["number"], invoice["number"])
        assert clearing_problems(right) == []
        assert exactly_once_problems(host, right) == []
        assert payout_problems(host, right) == []
        assert amount_due_problems(host, right) == []

        twice = _hand_written_books(client["number"], invoice["number"])
        twice.state["payments"].append(dict(twice.state["payments"][-1]))
        assert exactly_once_problems(host, twice) == [
            "refunds (Reference, PaymentType, Amount) sent more than once: "
            "[('RF1', 'ARCREDITPAYMENT', Decimal('40.00'))]"
        ]
        undone = _hand_written_books(client["number"], invoice["number"])
        undone.state["payments"].append({**undone.state["payments"][0], "Status": "DELETED"})
        assert any("taken back" in p for p in exactly_once_problems(host, undone))
        off = _hand_written_books(client["number"], invoice["number"])
        off.balances["093"] = Decimal("2.23")
        off.transfers[0]["Amount"] = 110.0
        off.invoices[0]["AmountDue"] = 10.0
        assert clearing_problems(off) == ["clearing account 093 holds 2.23, not 0.00"]
        assert payout_problems(host, off) == [
            "PO1: transfer ('093', '090') of 110.0, not ('093', '090') of 107.77"
        ]
        assert amount_due_problems(host, off) == [
            f"INV{invoice['number']}: AmountDue 10.00 in Xero, the host says 0.00"
        ]
    finally:
        host.close()


def _hand_written_books(client_number: int, invoice_number: int) -> Readback:
    """The books Xero should hold for the hand-written practice above."""
    contact = {"ContactID": "x-c", "ContactNumber": f"C{client_number}", "Name": "Pawson"}
    invoice = {"InvoiceID": "x-i", "InvoiceNumber": f"INV{invoice_number}", "Total": 110.0,
               "AmountDue": 0.0, "Status": "PAID"}  # fmt: skip
    transfer = {"Reference": "PO1", "Amount": 107.77, "FromBankAccount": {"Code": "093"},
                "ToBankAccount": {"Code": "090"}}  # fmt: skip
    state = {
        "contacts": [contact, {"ContactID": "x-s", "Name": "Stripe"}],
        "invoices": [invoice],
        "credit_notes": [{"CreditNoteNumber": "CN1", "Status": "PAID"}],
        "payments": [
            {
                "Reference": "PAY1",
                "Invoice": {"InvoiceID": "x-i"},
                "Amount": 110.0,
                "PaymentType": "ACCRECPAYMENT",
                "Status": "AUTHORISED",
            },
            {
                "Reference": "RF1",
                "CreditNote": {"CreditNoteID": "x-n"},
                "Amount": 40.0,
                "PaymentType": "ARCREDITPAYMENT",
                "Status": "AUTHORISED",
            },
        ],
        "bank_transactions": [
            {
                "Type": "SPEND",
                "Reference": "PO1",
                "Total": 2.23,
                "Status": "AUTHORISED",
                "BankAccount": {"Code": "093"},
                "LineItems": [{"AccountCode": "406"}],
            }
        ],
        "prepayments": [],
        "bank_transfers": [transfer],
    }
    return Readback(invoices=[dict(invoice)], transfers=[dict(transfer)], state=state, balances={})
