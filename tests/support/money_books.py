"""What Xero must show for a month of money (:mod:`support.money_month`), read back from the
sandbox – over its API, its raw ``/sandbox/state`` and ``/sandbox/balances/{tenant}`` – and
compared with the host's own records, never with the ledger. Each check returns the
differences in words (empty: none), so a failing test says what is wrong and where.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import httpx

from hookspecs.refhost import RefHost
from support.money_month import BANK, CLEARING, DEPOSITS, FEES, LOCATION, VOUCHERS
from support.sandbox_helpers import Api, connect

# -- reading the sandbox back ---------------------------------------------------------------------


@dataclass
class Readback:
    """One organisation as the sandbox holds it: over its API, raw, and its balances."""

    invoices: list[dict[str, Any]]
    """``GET /Invoices`` (every page): AmountDue as Xero answers it."""
    transfers: list[dict[str, Any]]
    """``GET /BankTransfers``."""
    state: dict[str, Any]
    """The organisation's raw documents (``/sandbox/state``)."""
    balances: dict[str, Decimal]
    """``GET /sandbox/balances/{tenant}``: account code -> balance, debit positive."""

    def balance(self, code: str) -> Decimal:
        """An account's balance (an account nothing was posted to: 0.00)."""
        return self.balances.get(code, Decimal("0.00"))


def read_back(url: str, tenant: str) -> Readback:
    """Read ``tenant`` back from the sandbox served at ``url`` (a connection of its own)."""
    with httpx.Client(base_url=url, timeout=30.0) as client:
        api = Api(client, connect(client, tenant=tenant))
        api.tenant = tenant
        invoices = _pages(api, "/Invoices", "Invoices")
        answer = api.get("/BankTransfers")
        assert answer.status_code == 200, answer.text
        transfers = list(answer.json()["BankTransfers"])
        state = client.get("/sandbox/state")
        assert state.status_code == 200, state.text
        balances = client.get(f"/sandbox/balances/{tenant}")
        assert balances.status_code == 200, f"/sandbox/balances: {balances.status_code}"
    return Readback(
        invoices=invoices,
        transfers=transfers,
        state=state.json()[tenant],
        balances={str(k): Decimal(str(v)) for k, v in _balances(balances.json()).items()},
    )


def _balances(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """The code -> balance map of the endpoint's answer (``{"balances": {...}}``, or the bare
    map the design first named)."""
    inner = body.get("balances")
    return inner if isinstance(inner, Mapping) else body


def _pages(api: Api, path: str, key: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    page = 1
    while True:
        answer = api.get(path, page=str(page))
        assert answer.status_code == 200, answer.text
        items = list(answer.json()[key])
        found += items
        if len(items) < 100:
            return found
        page += 1


# -- what the host says, and the checks ------------------------------------------------------------


def _money(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def _history(host: RefHost, kind: str) -> list[dict[str, Any]]:
    return list(host.iter_history(kind))  # type: ignore[arg-type]


def owed_by_host(host: RefHost) -> dict[str, Decimal]:
    """Invoice number (``INV12``) -> what the host says is still owed (0.00 when settled):
    total less payments, deposits applied and credit notes against it."""
    outstanding = {
        invoice["id"]: owed
        for invoice, owed in host.store.outstanding(LOCATION["id"], before=date(9999, 1, 1))
    }
    return {
        f"INV{i['number']}": _money(outstanding.get(i["id"], Decimal(0)))
        for i in _history(host, "invoices")
    }


def clearing_problems(back: Readback) -> list[str]:
    """The card clearing account is back to zero once both payouts are in."""
    balance = back.balance(CLEARING)
    return [] if balance == 0 else [f"clearing account {CLEARING} holds {balance}, not 0.00"]


def payout_problems(host: RefHost, back: Readback) -> list[str]:
    """Each payout: one bank transfer clearing -> bank of its amount, one fee SPEND of its fees
    on the clearing account to the fee account (both found by Reference ``PO{n}``)."""
    problems = []
    spends = [
        t
        for t in back.state["bank_transactions"]
        if t.get("Type") == "SPEND" and t.get("Status") != "DELETED"
    ]
    for payout in _history(host, "payouts"):
        ref = f"PO{payout['number']}"
        transfers = [t for t in back.transfers if t.get("Reference") == ref]
        if len(transfers) != 1:
            problems.append(f"{ref}: {len(transfers)} bank transfers, not 1")
        for t in transfers:
            route = (t["FromBankAccount"].get("Code"), t["ToBankAccount"].get("Code"))
            if route != (CLEARING, BANK) or _money(t["Amount"]) != _money(payout["amount"]):
                problems.append(
                    f"{ref}: transfer {route} of {t['Amount']}, not {(CLEARING, BANK)} of "
                    f"{payout['amount']}"
                )
        fees = [t for t in spends if t.get("Reference") == ref]
        if len(fees) != 1:
            problems.append(f"{ref}: {len(fees)} fee spends, not 1")
        for t in fees:
            codes = {line.get("AccountCode") for line in t.get("LineItems", [])}
            account = t["BankAccount"].get("Code")
            if _money(t["Total"]) != _money(payout["fees"]) or (account, codes) != (
                CLEARING,
                {FEES},
            ):
                problems.append(
                    f"{ref}: fee spend of {t['Total']} from {account} to {codes}, not "
                    f"{payout['fees']} from {CLEARING} to {FEES}"
                )
    return problems


def vouchers_sold_less_redeemed(host: RefHost) -> Decimal:
    """Gift vouchers sold (voucher lines) less redeemed (payments by voucher), by the host."""
    sold = sum(
        (
            Decimal(line["quantity"]) * Decimal(line["unit_price"])
            for invoice in _history(host, "invoices")
            for line in invoice["lines"]
            if line["category"] == "voucher"
        ),
        Decimal(0),
    )
    redeemed = sum(
        (Decimal(p["amount"]) for p in _history(host, "payments") if p["method"] == "voucher"),
        Decimal(0),
    )
    return _money(sold - redeemed)


def voucher_problems(host: RefHost, back: Readback) -> list[str]:
    """The voucher liability is what was sold less what was redeemed – a credit balance, so
    minus that amount in the sandbox's debit-positive balances."""
    want = vouchers_sold_less_redeemed(host)
    got = -back.balance(VOUCHERS)
    if want <= 0:
        return [f"the month sold no more vouchers than it redeemed ({want}): nothing to check"]
    return [] if got == want else [f"voucher liability {VOUCHERS} holds {got} (credit), not {want}"]


def deposit_problems(host: RefHost, back: Readback) -> list[str]:
    """The deposits liability holds what was taken and neither applied to an invoice nor given
    back (a credit balance, as the voucher liability)."""
    held = Decimal(0)
    for deposit in _history(host, "deposits"):
        held += Decimal(deposit["amount"]) - sum(
            (Decimal(a["amount"]) for a in deposit["allocations"]), Decimal(0)
        )
    held -= sum(
        (Decimal(r["amount"]) for r in _history(host, "refunds") if r.get("deposit_id")),
        Decimal(0),
    )
    got = -back.balance(DEPOSITS)
    return [] if got == _money(held) else [f"deposits {DEPOSITS} hold {got}, not {held:.2f}"]


def amount_due_problems(host: RefHost, back: Readback) -> list[str]:
    """Every invoice's AmountDue in Xero equals what the host says is still owed."""
    owed = owed_by_host(host)
    due = {str(i["InvoiceNumber"]): _money(i["AmountDue"]) for i in back.invoices}
    return [
        f"{number}: AmountDue {due.get(number, 'missing')} in Xero, the host says {want}"
        for number, want in sorted(owed.items())
        if due.get(number) != want
    ]


def _once(what: str, want: Iterable[Any], found: Iterable[Any]) -> list[str]:
    """Each of ``want`` exactly once among ``found``, and nothing else."""
    wanted, counted = set(want), Counter(found)
    problems = []
    missing = sorted(wanted - set(counted), key=str)
    extra = sorted(set(counted) - wanted, key=str)
    twice = sorted((k for k, n in counted.items() if n > 1), key=str)
    if missing:
        problems.append(f"{what} missing: {missing[:8]}")
    if extra:
        problems.append(f"{what} not the host's: {extra[:8]}")
    if twice:
        problems.append(f"{what} sent more than once: {twice[:8]}")
    return problems


def _live(items: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [i for i in items if i.get("Status") not in ("DELETED", "VOIDED")]


def exactly_once_problems(host: RefHost, back: Readback) -> list[str]:
    """Every host record in Xero exactly once, with its amounts, and nothing DELETED or VOIDED
    (a duplicate taken back is still a duplicate sent)."""
    book = back.state
    clients = {c["id"]: f"C{c['number']}" for c in _history(host, "clients")}
    invoices = {i["id"]: i for i in _history(host, "invoices")}
    numbers = {i["id"]: f"INV{i['number']}" for i in invoices.values()}
    problems = _once(
        "contacts",
        [*clients.values(), "Stripe"],  # the customers, and the processor the fees are paid to
        (c.get("ContactNumber") or c["Name"] for c in book["contacts"]),
    )
    problems += _once("invoices", numbers.values(), (i["InvoiceNumber"] for i in book["invoices"]))
    totals = {i["InvoiceNumber"]: _money(i["Total"]) for i in book["invoices"]}
    problems += [
        f"{numbers[i['id']]}: total {totals[numbers[i['id']]]} in Xero, {i['total']} in the host"
        for i in invoices.values()
        if totals.get(numbers[i["id"]], _money(i["total"])) != _money(i["total"])
    ]
    problems += _once(
        "credit notes",
        (f"CN{n['number']}" for n in _history(host, "credit_notes")),
        (n["CreditNoteNumber"] for n in book["credit_notes"]),
    )
    invoice_number = {i["InvoiceID"]: i["InvoiceNumber"] for i in book["invoices"]}
    problems += _once(
        "payments (Reference, Invoice, Amount)",
        (
            (f"PAY{p['number']}", numbers[a["invoice_id"]], _money(a["amount"]))
            for p in _history(host, "payments")
            for a in p["allocations"]
        ),
        (
            (p.get("Reference"), invoice_number.get(p["Invoice"]["InvoiceID"]), _money(p["Amount"]))
            for p in book["payments"]
            if p.get("Invoice")
        ),
    )
    problems += _prepayment_problems(host, book, clients, numbers)
    problems += _refund_problems(host, book)
    problems += _once(
        "payout transfers",
        (f"PO{p['number']}" for p in _history(host, "payouts")),
        (t.get("Reference") for t in book["bank_transfers"]),
    )
    gone = [
        f"{what} {d.get('Reference') or d.get('InvoiceNumber') or d.get('CreditNoteNumber')}"
        f" {d.get('Status')}"
        for what in ("invoices", "credit_notes", "payments", "bank_transactions", "prepayments")
        for d in book[what]
        if d.get("Status") in ("DELETED", "VOIDED")
    ]
    if gone:
        problems.append(f"documents taken back (a duplicate sent, then undone): {gone[:8]}")
    return problems


def _prepayment_problems(
    host: RefHost, book: Mapping[str, Any], clients: Mapping[str, str], numbers: Mapping[str, str]
) -> list[str]:
    """Each deposit one prepayment (its contact, the line naming ``DEP{n}``, its amount), its
    allocations those the host applied, what is left what the host has not applied or given
    back."""
    contact_number = {c["ContactID"]: c.get("ContactNumber") for c in book["contacts"]}
    invoice_number = {i["InvoiceID"]: i["InvoiceNumber"] for i in book["invoices"]}
    found = []
    by_key: dict[str, Mapping[str, Any]] = {}
    for p in _live(book["prepayments"]):
        line = str((p.get("LineItems") or [{}])[0].get("Description", ""))
        key = f"{contact_number.get(p['Contact']['ContactID'])} {line.split(' ')[0]}"
        found.append(key)
        by_key[key] = p
    refunded: dict[str, Decimal] = {}
    for r in _history(host, "refunds"):
        if r.get("deposit_id"):
            refunded[r["deposit_id"]] = refunded.get(r["deposit_id"], Decimal(0)) + _money(
                r["amount"]
            )
    deposits = _history(host, "deposits")
    problems = _once(
        "prepayments (contact, DEPn)",
        (f"{clients[d['client_id']]} DEP{d['number']}" for d in deposits),
        found,
    )
    for d in deposits:
        pre = by_key.get(f"{clients[d['client_id']]} DEP{d['number']}")
        if pre is None:
            continue
        applied = {numbers[a["invoice_id"]]: _money(a["amount"]) for a in d["allocations"]}
        got: dict[str, Decimal] = {}
        for a in pre.get("Allocations") or []:
            number = invoice_number.get(a["Invoice"]["InvoiceID"], "?")
            got[number] = got.get(number, Decimal(0)) + _money(a["Amount"])
        left = (
            _money(d["amount"])
            - sum(applied.values(), Decimal(0))
            - refunded.get(d["id"], Decimal(0))
        )
        if _money(pre["Total"]) != _money(d["amount"]) or got != applied:
            problems.append(
                f"DEP{d['number']}: prepayment of {pre['Total']} applied {got}, the host's "
                f"{d['amount']} applied {applied}"
            )
        if _money(pre["RemainingCredit"]) != left:
            problems.append(f"DEP{d['number']}: {pre['RemainingCredit']} left in Xero, not {left}")
    return problems


def _refund_problems(host: RefHost, book: Mapping[str, Any]) -> list[str]:
    """Each refund one payment out of its credit (Reference ``RF{n}``, its type and amount)."""
    types = {
        "credit_note_id": "ARCREDITPAYMENT",
        "payment_id": "AROVERPAYMENTPAYMENT",
        "deposit_id": "ARPREPAYMENTPAYMENT",
    }
    want = [
        (f"RF{r['number']}", next(t for k, t in types.items() if r.get(k)), _money(r["amount"]))
        for r in _history(host, "refunds")
    ]
    found = [
        (p.get("Reference"), p.get("PaymentType"), _money(p["Amount"]))
        for p in book["payments"]
        if str(p.get("Reference", "")).startswith("RF")
    ]
    return _once("refunds (Reference, PaymentType, Amount)", want, found)
