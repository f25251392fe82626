"""``state_path``: a sandbox that stops – or is killed – resumes with the same organisations,
books, connections and tokens; the state file is always a whole old or new JSON document."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from support.sandbox_helpers import Api, Tokens, connect
from support.sandbox_money import Money

from pm_xero_plugin.sandbox import Sandbox, SandboxClock
from pm_xero_plugin.sandbox.persistence import write_atomic

HERE = Path(__file__).resolve().parent
START = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


def _client(sandbox: Sandbox) -> httpx.Client:
    return httpx.Client(transport=sandbox.transport(), base_url="http://xero.sandbox")


def _refresh(client: httpx.Client, refresh_token: str) -> httpx.Response:
    return client.post(
        "/connect/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=("sandbox-client", "sandbox-secret"),
    )


def _books(api: Api) -> None:
    """Contacts, an invoice (110 + 10% GST), a payment of 10.50 and an overpayment."""
    c = api.contact()
    api.contact("Second Owner", "C2")
    inv = api.invoice(c["ContactID"], "INV-1", amount="110.00").json()["Invoices"][0]
    pay = {
        "Invoice": {"InvoiceID": inv["InvoiceID"]},
        "Account": {"Code": "090"},
        "Amount": 10.5,
        "Date": "2024-03-02",
        "Reference": "PAY1",
    }
    assert api.put("/Payments", {"Payments": [pay]}).status_code == 200
    txn = {
        "Type": "RECEIVE-OVERPAYMENT",
        "Contact": {"ContactID": c["ContactID"]},
        "BankAccount": {"Code": "090"},
        "Date": "2024-03-02",
        "Reference": "PAY2",
        "LineAmountTypes": "NoTax",
        "LineItems": [{"Description": "prepaid", "LineAmount": 20}],
    }
    assert api.put("/BankTransactions", {"BankTransactions": [txn]}).status_code == 200


def test_a_new_sandbox_on_the_same_state_sees_books_tenants_and_tokens(
    tmp_path: Path, spec_path: str
) -> None:
    state = tmp_path / "sandbox.json"
    clock = SandboxClock(START)
    first = Sandbox(clock=clock, spec_path=spec_path, state_path=state)
    with _client(first) as client:
        tokens = connect(client)
        api = Api(client, tokens)
        _books(api)
        first.faults(first.tenant_ids[1]).lock_date = datetime(2024, 1, 31).date()
        first.faults(first.tenant_ids[1]).end_of_year_lock_date = datetime(2023, 6, 30).date()
        first.faults(first.tenant_ids[1]).adviser = True
        clock.advance(600)
        api.contact("Other Org", "C1", tenant=first.tenant_ids[1])  # saves; no save() call

    # another org count: the state file wins over seeding
    second = Sandbox(clock=SandboxClock(START), spec_path=spec_path, state_path=state, orgs=5)
    assert second.tenant_ids == first.tenant_ids
    assert second.inspect() == first.inspect()
    restored = second.faults(second.tenant_ids[1])
    assert restored.end_of_year_lock_date == datetime(2023, 6, 30).date()
    assert restored.adviser
    assert second.clock() == clock()  # sandbox time does not run backwards across a restart
    invoice = next(iter(second.org(second.tenant_ids[0]).invoices.values()))
    assert invoice["AmountDue"] == Decimal("110.50")
    assert isinstance(invoice["Date"], type(START.date()))
    with _client(second) as client:
        api = Api(client, tokens)  # the old access token still works
        assert api.get("/Overpayments").json()["Overpayments"]
        refreshed = _refresh(client, tokens.refresh_token or "")
        assert refreshed.status_code == 200, refreshed.text
        assert refreshed.json()["refresh_token"] != tokens.refresh_token
    # tenant ids keep coming from the same sequence: no clash with the restored ones
    assert second.add_org() == first.add_org()


def test_every_acknowledged_write_is_on_disk_before_the_answer_even_a_lost_one(
    tmp_path: Path, spec_path: str
) -> None:
    state = tmp_path / "sandbox.json"
    sandbox = Sandbox(clock=SandboxClock(START), spec_path=spec_path, state_path=state)
    with _client(sandbox) as client:
        api = Api(client, connect(client))
        sandbox.faults(api.tenant).script.append("lost")
        with pytest.raises(httpx.ReadTimeout):
            api.put("/Contacts", {"Contacts": [{"Name": "Committed", "ContactNumber": "C9"}]})
    # no save() call: the write itself saved
    restored = Sandbox(clock=SandboxClock(START), spec_path=spec_path, state_path=state)
    names = [c["Name"] for c in restored.org(api.tenant).contacts.values()]
    assert names == ["Committed"]


def test_a_rotated_refresh_token_survives_a_restart_and_the_old_ones_grace_runs_out(
    tmp_path: Path,
) -> None:
    state = tmp_path / "sandbox.json"
    first = Sandbox(clock=SandboxClock(START), state_path=state)
    with _client(first) as client:
        tokens = connect(client)
        rotated = _refresh(client, tokens.refresh_token or "").json()["refresh_token"]
        assert _refresh(client, rotated).status_code == 200  # the successor is in use
    clock = SandboxClock(START)
    second = Sandbox(clock=clock, state_path=state)
    with _client(second) as client:
        again = _refresh(client, tokens.refresh_token or "")  # within Xero's 30-minute grace
        assert again.status_code == 200
        assert again.json()["refresh_token"] == rotated
        clock.advance(31 * 60)
        assert _refresh(client, tokens.refresh_token or "").json()["error"] == "invalid_grant"


def test_a_disconnect_is_remembered(tmp_path: Path) -> None:
    state = tmp_path / "sandbox.json"
    first = Sandbox(clock=SandboxClock(START), state_path=state)
    with _client(first) as client:
        tokens: Tokens = connect(client)
    first.faults(tokens.tenant_ids[0]).disconnect()
    second = Sandbox(clock=SandboxClock(START), state_path=state)
    with _client(second) as client:
        api = Api(client, tokens)
        assert api.get("/Organisation").status_code == 403
        assert api.get("/Organisation", tenant=tokens.tenant_ids[1]).status_code == 200


def test_an_unreadable_state_file_is_refused_not_overwritten(tmp_path: Path) -> None:
    state = tmp_path / "sandbox.json"
    state.write_text("{not json")
    with pytest.raises(ValueError, match="cannot read sandbox state"):
        Sandbox(state_path=state)
    assert state.read_text() == "{not json"


def test_atomic_write_leaves_the_old_file_when_interrupted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.json"
    write_atomic(path, '{"v": 1}')

    def killed(*args: object) -> None:
        raise KeyboardInterrupt  # dies between writing the temp file and renaming it

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(path, '{"v": 2}')
    assert json.loads(path.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # no temp file left behind


def test_state_file_is_always_whole_json_while_a_writer_is_killed(tmp_path: Path) -> None:
    state = tmp_path / "sandbox.json"
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "sandbox_state_child.py"), str(state)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=HERE,
        env={**os.environ, "PYTHONPATH": str(HERE)},
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        counts = []
        deadline = time.monotonic() + 0.6
        while time.monotonic() < deadline:  # read while the child keeps replacing the file
            data = json.loads(state.read_text())
            counts.append(sum(len(o["contacts"]) for o in data["orgs"].values()))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert counts == sorted(counts)
    assert counts[-1] > counts[0]
    resumed = Sandbox(state_path=state)
    contacts = resumed.org(resumed.tenant_ids[0]).contacts.values()
    assert len(contacts) >= counts[-1]
    assert {c["ContactNumber"] for c in contacts} == {f"C{n}" for n in range(1, len(contacts) + 1)}


def test_saving_only_the_touched_documents_matches_a_full_save(
    tmp_path: Path, spec_path: str
) -> None:
    """Every kind of write, failures included: the incrementally saved file must equal a fresh
    full encoding – a side effect missed by the touched-ids rule would show up here."""
    state = tmp_path / "sandbox.json"
    sandbox = Sandbox(clock=SandboxClock(START), spec_path=spec_path, state_path=state)
    with _client(sandbox) as client:
        api = Api(client, connect(client))
        _books(api)
        c = api.get("/Contacts", where='ContactNumber=="C1"').json()["Contacts"][0]
        inv = api.invoice(c["ContactID"], "INV-2", amount="50.00").json()["Invoices"][0]
        api.post("/Contacts", {"Contacts": [{"ContactNumber": "C2", "EmailAddress": "a@b.c"}]})
        api.post("/Contacts", {"Contacts": [{"ContactNumber": "C2", "ContactStatus": "ARCHIVED"}]})
        bad_line = [{"Description": "x", "Quantity": 1, "UnitAmount": 1, "AccountCode": "999"}]
        by_name = {"Type": "ACCREC", "Contact": {"Name": "Walk In"}, "LineItems": bad_line}
        api.put("/Invoices", {"Invoices": [by_name]}, summarizeErrors="false")  # fails
        api.post("/Invoices", {"Invoices": [{"InvoiceNumber": "INV-2", "Reference": "edited"}]})
        cn = {
            "Type": "ACCRECCREDIT",
            "Contact": {"ContactID": c["ContactID"]},
            "CreditNoteNumber": "CN-1",
            "Status": "AUTHORISED",
            "Date": "2024-03-02",
            "LineItems": [
                {"Description": "r", "Quantity": 1, "UnitAmount": 5, "AccountCode": "201"}
            ],
        }
        note = api.put("/CreditNotes", {"CreditNotes": [cn]}).json()["CreditNotes"][0]
        alloc = {"Invoice": {"InvoiceID": inv["InvoiceID"]}, "Amount": 5.5, "Date": "2024-03-02"}
        api.put(f"/CreditNotes/{note['CreditNoteID']}/Allocations", {"Allocations": [alloc]})
        op = api.get("/Overpayments").json()["Overpayments"][0]
        api.put(f"/Overpayments/{op['OverpaymentID']}/Allocations", {"Allocations": [alloc]})
        pay = api.get("/Payments").json()["Payments"][0]
        api.post(f"/Payments/{pay['PaymentID']}", {"Status": "DELETED"})
        api.post("/Invoices", {"Invoices": [{"InvoiceNumber": "INV-1", "Status": "VOIDED"}]})
        cat = api.put("/TrackingCategories", {"Name": "Service"}).json()["TrackingCategories"][0]
        api.put(
            f"/TrackingCategories/{cat['TrackingCategoryID']}/Options",
            {"Options": [{"Name": "Grooming"}]},
        )
    incremental = json.loads(state.read_text())
    sandbox.save()
    assert incremental == json.loads(state.read_text())
    org = incremental["orgs"][api.tenant]
    assert len(org["contacts"]) == 3
    assert len(org["credit_notes"]) == 1


def test_transfers_prepayments_allocations_and_refunds_survive_a_restart(
    tmp_path: Path, spec_path: str
) -> None:
    state = tmp_path / "sandbox.json"
    first = Sandbox(clock=SandboxClock(START), spec_path=spec_path, state_path=state)
    with _client(first) as client:
        tokens = connect(client)
        money = Money(Api(client, tokens))
        jane = money.contact()
        inv = money.invoice(jane, "INV-1", "80")
        pre = money.prepayment(jane, "100", bank="093")
        money.ok(
            money.allocate("Prepayments", pre["PrepaymentID"], inv["InvoiceID"], "80"),
            "Allocations",
        )
        ref = {"PrepaymentID": pre["PrepaymentID"]}
        money.ok(money.refund("Prepayment", ref, "20", account="093"), "Payments")
        transfer = money.ok(money.transfer("093", "090", "0.01"), "BankTransfers")
        before = client.get(f"/sandbox/balances/{money.api.tenant}").json()

    second = Sandbox(clock=SandboxClock(START), spec_path=spec_path, state_path=state)
    assert second.inspect() == first.inspect()
    with _client(second) as client:
        api = Api(client, tokens)
        [restored] = api.get(f"/Prepayments/{pre['PrepaymentID']}").json()["Prepayments"]
        assert (restored["RemainingCredit"], restored["Status"]) == (0, "PAID")
        assert [a["Amount"] for a in restored["Allocations"]] == [80]
        assert [p["Amount"] for p in restored["Payments"]] == [20]
        [moved] = api.get(f"/BankTransfers/{transfer['BankTransferID']}").json()["BankTransfers"]
        assert moved["Amount"] == 0.01
        assert client.get(f"/sandbox/balances/{api.tenant}").json() == before
        # a change to a stored prepayment is saved too: deleting the refund gives its 20 back
        [refund] = api.get("/Payments").json()["Payments"]
        gone = api.put(f"/Payments/{refund['PaymentID']}", {"Status": "DELETED"})
        assert gone.status_code == 200, gone.text
    third = Sandbox(clock=SandboxClock(START), spec_path=spec_path, state_path=state)
    kept = third.org(third.tenant_ids[0]).prepayments[pre["PrepaymentID"]]
    assert (kept["RemainingCredit"], kept["Status"], kept["Payments"]) == (
        Decimal("20"),
        "AUTHORISED",
        [],
    )
