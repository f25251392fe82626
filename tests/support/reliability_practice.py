"""A small practice prepared the way an admin would, and the end condition every reliability test
checks: each eligible host record is in the sandbox exactly once, nothing else is.

``prepare`` runs a reference host with the add-on (``PM_XERO_WORKER=off``: no in-host worker)
against a sandbox served on loopback: connects every location through the real authorize
redirect, saves settings with account codes read from each organisation's chart, starts the
contact sync, sets the start date and backfills, then stops the host. Whatever sends the rows
afterwards (a worker process, a worker in the test) starts from a data directory exactly as an
operator's would be.

"Eligible" is computed from the host's own data and the documented rules, not from the ledger:
the location's own customers, plus visiting customers (home elsewhere) that a document sent to
this organisation needs (see the report: a visiting customer whose only documents here predate
the start date is not created here by the contact sync); invoices and credit notes dated on or
after the start date (voided ones may be in Xero only as VOIDED); payments paid on or after the
start date to an invoice dated on or after it (one Xero payment per allocation); the unallocated
excess of such a payment as an overpayment.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from hookspecs.refhost import ManualClock, RefHost, generate_practice
from pm_xero_plugin import plugin
from pm_xero_plugin.core.gates import open_ledger
from pm_xero_plugin.ledger import SqliteLedger
from pm_xero_plugin.sandbox import Limits, Sandbox

CLIENT_ID = "reliability-client"
CLIENT_SECRET = "reliability-client-secret-7f3a9c"
PLUGIN = "xero"

HELD_GATES = frozenset(
    {"before_start_date", "invoice_before_start", "start_date_future", "start_date_unset"}
)
"""Gates that hold a row on purpose (outside the window): not expected to reach Xero."""


def relaxed_limits() -> Limits:
    """Xero's limits with the minute/day budgets lifted: the sandbox clock is frozen in these
    tests, so a fixed minute window would never reset. Concurrency (5) stays as Xero's."""
    return Limits(per_minute=1_000_000, per_day=1_000_000, app_per_minute=1_000_000)


def make_sandbox(orgs: int, seed: int, limits: Limits | None = None) -> Sandbox:
    return Sandbox(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        orgs=orgs,
        seed=seed,
        limits=limits or relaxed_limits(),
    )


def app_env(url: str) -> dict[str, str]:
    """The Xero app's configuration, as a host or ``pm-xero worker`` reads it."""
    return {
        "PM_XERO_URL": url,
        "PM_XERO_CLIENT_ID": CLIENT_ID,
        "PM_XERO_CLIENT_SECRET": CLIENT_SECRET,
        "PM_XERO_WORKER": "off",
    }


@contextmanager
def app_environment(url: str) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in app_env(url)}
    os.environ.update(app_env(url))
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass
class Prepared:
    """What a test needs to know about the prepared data directory."""

    root: Path
    start_date: date
    tenants: dict[str, str]
    """location id -> tenant id"""
    today: date

    def ledger(self) -> SqliteLedger:
        return open_ledger(self.root / "plugins" / PLUGIN / "ledger.sqlite3")


def codes_from_chart(runtime: Any, tenant_id: str) -> dict[str, Any]:
    """Account codes picked from the organisation's own chart (by name), as an admin would."""
    connection = runtime.connection_for_any(tenant_id)
    accounts = runtime.client.accounts(tenant_id, connection)
    by_name = {
        str(a["Name"]): str(a["Code"])
        for a in accounts
        if a.get("Status") == "ACTIVE" and a.get("Code")
    }
    bank = by_name["Business Bank Account"]
    card = by_name.get("Stripe Clearing", bank)
    return {
        "income": {
            "default": by_name["Sales"],
            "boarding": by_name.get("Boarding", by_name["Sales"]),
            "daycare": by_name.get("Daycare", by_name["Sales"]),
            "grooming": by_name.get("Grooming", by_name["Sales"]),
            "retail": by_name.get("Retail Products", by_name["Sales"]),
            "extras": by_name.get("Extras", by_name["Sales"]),
        },
        "credit_notes": by_name["Sales"],
        "payments": {
            "cash": bank,
            "card": card,
            "eftpos": card,
            "bank_transfer": bank,
            "stripe": card,
            "voucher": bank,
        },
        "overpayments": by_name["Accounts Receivable"],
        "rounding": by_name.get("Rounding", by_name["Sales"]),
        "tax_types": {"10": "OUTPUT", "0": "EXEMPTOUTPUT"},
    }


def connect(runtime: Any, location_id: str, tenant_id: str) -> None:
    """ "Connect to Xero" through the sandbox's authorize redirect, choosing ``tenant_id``."""
    url = runtime.connect_url(location_id) + f"&tenant={tenant_id}"
    with httpx.Client(timeout=10.0) as browser:
        answer = browser.get(url, follow_redirects=False)
    assert answer.status_code in (302, 303), answer.text
    params = dict(parse_qsl(urlsplit(answer.headers["location"]).query))
    runtime.complete_connect(params)


def prepare(
    root: Path,
    sandbox: Sandbox,
    url: str,
    *,
    seed: int,
    locations: int,
    clients: int,
    days: int,
    window_days: int,
    clock: Any = None,
    backfill: bool = True,
) -> Prepared:
    """Build, connect and configure a practice; queue contact sync and backfill; stop the host.

    :param clock: the host clock (default: the real time – what ``pm-xero worker`` uses).
    :param backfill: ``False`` stops before "Start syncing data" (the start date is saved), for
        a test that presses it in a host process of its own.
    """
    now = clock.now() if clock is not None else datetime.now(UTC)
    today = now.date()
    start_date = today - timedelta(days=window_days)
    with app_environment(url):
        host = (
            RefHost(root, clock=clock, load_entrypoints=False)
            if clock
            else RefHost(root, load_entrypoints=False)
        )
        host.register(plugin, name=PLUGIN)
        generate_practice(
            host,
            seed=seed,
            locations=locations,
            clients=clients,
            start=today - timedelta(days=days),
            end=today - timedelta(days=1),
        )
        host.start()
        try:
            runtime = plugin.get_runtime()
            assert runtime is not None, host.hook_failures
            locs = [loc["id"] for loc in host.locations()]
            tenants = {
                loc: sandbox.tenant_ids[i % len(sandbox.tenant_ids)] for i, loc in enumerate(locs)
            }
            for loc, tenant in tenants.items():
                connect(runtime, loc, tenant)
            settings: dict[str, Any] = {
                "enabled": True,
                "prefixes": {
                    "client": "C",
                    "invoice": "INV",
                    "credit_note": "CN",
                    "payment": "PAY",
                },
                "organisation_mode": "per_location",
                "locations": {
                    loc: {"tenant_id": t, "connection_enabled": True} for loc, t in tenants.items()
                },
                "account_codes": {t: codes_from_chart(runtime, t) for t in set(tenants.values())},
                "start_date": None,
                "rounding_tolerance": "0.02",
            }
            assert host.save_plugin_settings(PLUGIN, settings) == []
            host.start_contact_sync(None)
            settings["start_date"] = start_date.isoformat()
            assert host.save_plugin_settings(PLUGIN, settings) == []
            if backfill:
                host.backfill(None, None)
            assert host.hook_failures == []
        finally:
            host.stop()
            host.close()
    return Prepared(root=root, start_date=start_date, tenants=tenants, today=today)


# -- the end condition ---------------------------------------------------------------------------


@dataclass
class Expected:
    """Per tenant: the Xero keys that must exist exactly once."""

    contacts: dict[str, set[str]] = field(default_factory=dict)
    invoices: dict[str, set[str]] = field(default_factory=dict)
    voided: dict[str, set[str]] = field(default_factory=dict)
    credit_notes: dict[str, set[str]] = field(default_factory=dict)
    payments: dict[str, set[tuple[str, str]]] = field(default_factory=dict)
    """(Reference, InvoiceNumber)"""
    overpayments: dict[str, set[str]] = field(default_factory=dict)

    def total(self) -> int:
        return sum(
            len(s)
            for bucket in (
                self.contacts,
                self.invoices,
                self.credit_notes,
                self.payments,
                self.overpayments,
            )
            for s in bucket.values()
        )


def expected(prepared: Prepared) -> Expected:
    """What must be in Xero, from the host's data and the documented rules."""
    start = prepared.start_date
    out = Expected()
    host = RefHost(prepared.root, load_entrypoints=False)
    try:
        for loc, tenant in prepared.tenants.items():
            for bucket in (
                out.contacts,
                out.invoices,
                out.voided,
                out.credit_notes,
                out.payments,
                out.overpayments,
            ):
                bucket.setdefault(tenant, set())
            numbers = {c["id"]: c["number"] for c in host.iter_history("clients", loc)}
            home = {c["id"] for c in host.iter_history("clients", loc) if c["location_id"] == loc}
            needed: set[str] = set()  # visiting customers with a document sent here
            dates: dict[str, tuple[date, int]] = {}
            for inv in host.iter_history("invoices", loc):
                day = date.fromisoformat(inv["date"])
                dates[inv["id"]] = (day, inv["number"])
                if day < start:
                    continue
                target = out.voided if inv.get("status") == "voided" else out.invoices
                target[tenant].add(f"INV{inv['number']}")
                needed.add(inv["client_id"])
            for cn in host.iter_history("credit_notes", loc):
                if date.fromisoformat(cn["date"]) >= start:
                    out.credit_notes[tenant].add(f"CN{cn['number']}")
                    needed.add(cn["client_id"])
            for pay in host.iter_history("payments", loc):
                if date.fromisoformat(pay["paid_date"]) < start:
                    continue
                allocated = Decimal(0)
                parents_ok = True
                for alloc in pay["allocations"]:
                    allocated += Decimal(alloc["amount"])
                    inv_day, inv_number = dates.get(alloc["invoice_id"], (date.min, 0))
                    if inv_day < start:
                        parents_ok = False
                        continue
                    out.payments[tenant].add((f"PAY{pay['number']}", f"INV{inv_number}"))
                if Decimal(pay["amount"]) > allocated and parents_ok:
                    out.overpayments[tenant].add(f"PAY{pay['number']}")
                    needed.add(pay["client_id"])
            out.contacts[tenant] |= {f"C{numbers[c]}" for c in home | needed if c in numbers}
    finally:
        host.close()
    return out


@dataclass
class Found:
    """Per tenant: how many times each key is in the sandbox."""

    contacts: dict[str, Counter[str]] = field(default_factory=dict)
    invoices: dict[str, Counter[str]] = field(default_factory=dict)
    invoice_status: dict[str, dict[str, str]] = field(default_factory=dict)
    credit_notes: dict[str, Counter[str]] = field(default_factory=dict)
    payments: dict[str, Counter[tuple[str, str]]] = field(default_factory=dict)
    overpayments: dict[str, Counter[str]] = field(default_factory=dict)


def found_in(sandbox: Sandbox, tenants: set[str]) -> Found:
    state = sandbox.inspect()
    out = Found()
    for tenant in tenants:
        books = state[tenant]
        out.contacts[tenant] = Counter(
            str(c.get("ContactNumber")) for c in books["contacts"] if c.get("ContactNumber")
        )
        number_of = {i["InvoiceID"]: str(i.get("InvoiceNumber")) for i in books["invoices"]}
        out.invoices[tenant] = Counter(number_of.values())
        out.invoice_status[tenant] = {
            str(i.get("InvoiceNumber")): str(i.get("Status")) for i in books["invoices"]
        }
        out.credit_notes[tenant] = Counter(
            str(c.get("CreditNoteNumber")) for c in books["credit_notes"]
        )
        out.payments[tenant] = Counter(
            (str(p.get("Reference")), number_of.get((p.get("Invoice") or {}).get("InvoiceID"), "?"))
            for p in books["payments"]
            if p.get("Status") != "DELETED"
        )
        # Xero keeps no Reference on an overpayment: the add-on names the payment in its line.
        out.overpayments[tenant] = Counter(
            str(b.get("LineItems", [{}])[0].get("Description", "")).removeprefix(
                "Overpayment on payment "
            )
            for b in books["bank_transactions"]
            if b.get("Type") == "RECEIVE-OVERPAYMENT" and b.get("Status") != "DELETED"
        )
    return out


def exactly_once_problems(
    exp: Expected, got: Found, *, check_void_status: bool = True
) -> list[str]:
    """Every way the sandbox differs from "each eligible record exactly once, nothing else".

    :param check_void_status: also require a host-voided invoice found in Xero to be VOIDED
        there (``test_voided_history.py`` pins that on its own, with a practice that has them).
    """
    problems: list[str] = []

    def compare(what: str, tenant: str, want: set[Any], have: Mapping[Any, int]) -> None:
        missing = sorted(want - set(have), key=str)
        extra = sorted(set(have) - want, key=str)
        dupes = sorted((k for k, n in have.items() if n > 1), key=str)
        if missing:
            problems.append(f"{tenant[:8]} {what} missing {len(missing)}: {missing[:5]}")
        if extra:
            problems.append(f"{tenant[:8]} {what} not eligible {len(extra)}: {extra[:5]}")
        if dupes:
            problems.append(f"{tenant[:8]} {what} duplicated {len(dupes)}: {dupes[:5]}")

    for tenant in exp.contacts:
        compare("contacts", tenant, exp.contacts[tenant], got.contacts[tenant])
        statuses = got.invoice_status[tenant]
        voided_in_xero = {n for n in exp.voided[tenant] if n in statuses}
        for number in sorted(voided_in_xero):
            if check_void_status and statuses[number] != "VOIDED":
                problems.append(f"{tenant[:8]} {number} voided in the host, {statuses[number]}")
        compare("invoices", tenant, exp.invoices[tenant] | voided_in_xero, got.invoices[tenant])
        compare("credit notes", tenant, exp.credit_notes[tenant], got.credit_notes[tenant])
        compare("payments", tenant, exp.payments[tenant], got.payments[tenant])
        compare("overpayments", tenant, exp.overpayments[tenant], got.overpayments[tenant])
    return problems


# -- the ledger's own consistency ----------------------------------------------------------------


def ledger_problems(ledger: SqliteLedger) -> list[str]:
    """The counts table equals a recount of the rows, and no row is in an impossible state."""
    problems: list[str] = []
    counted = {
        (c["tenant_id"], c["location_id"], c["kind"], c["state"], c["gate"] or ""): c["n"]
        for c in ledger.counts()
        if c["n"]
    }
    grouped = {
        tuple(r[:5]): r[5]
        for r in ledger._q(
            "SELECT tenant_id, location_id, kind, state, "
            "CASE WHEN state = 'waiting' THEN coalesce(gate, '') ELSE '' END, count(*) "
            "FROM rows GROUP BY 1, 2, 3, 4, 5"
        )
    }
    if counted != grouped:
        problems.append(f"counts table {counted} != recount {grouped}")
    impossible = {
        "waiting without a gate": "state = 'waiting' AND gate IS NULL",
        "synced without a Xero id": "state = 'synced' AND (xero_id IS NULL OR xero_id = '')",
        "sending without a lease": (
            "state = 'sending' AND (lease_until IS NULL OR worker_id IS NULL)"
        ),
        "retrying without a next attempt": "state = 'retrying' AND next_at IS NULL",
        "unknown state": "state NOT IN ('waiting','ready','sending','synced','retrying',"
        "'failed','excluded','rejected')",
    }
    for what, where in impossible.items():
        n = ledger._q(f"SELECT count(*) FROM rows WHERE {where}")[0][0]
        if n:
            problems.append(f"{n} rows {what}")
    return problems


def open_rows(ledger: SqliteLedger) -> dict[str, int]:
    """Rows the rules will send that are not settled yet, by state (held/excluded left out)."""
    out: Counter[str] = Counter()
    for c in ledger.counts():
        state, gate = c["state"], c["gate"]
        if state in ("synced", "excluded", "rejected") or not c["n"]:
            continue
        if state == "waiting" and gate in HELD_GATES:
            continue
        out[f"{state}:{gate}" if gate else state] += c["n"]
    return dict(out)


def frozen_clock(today: date) -> ManualClock:
    return ManualClock(datetime.combine(today, datetime.min.time(), UTC) + timedelta(hours=1))
