"""Helpers for the ledger/rules/plugin tests: a reference host with the Xero add-on registered
through the real PluginManager, an in-memory chart of accounts, record builders and a fake
worker. (A module of its own, not conftest.py, so imports cannot collide with other folders'.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, get_args

from hookspecs.records import PaymentMethod
from hookspecs.refhost import ManualClock, RefHost
from pm_xero_plugin import plugin
from pm_xero_plugin.core.engine import Engine
from pm_xero_plugin.dashboard.status import build as build_status
from pm_xero_plugin.ledger import Ledger, NewRow, State
from pm_xero_plugin.xero.kinds import SEND_ORDER

START = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
"""20:00 in Sydney, 09:00 in London on a Saturday."""

METHODS: tuple[str, ...] = get_args(PaymentMethod)  # every method the host contract names

ACCOUNTS: list[dict[str, Any]] = [
    {"Code": "200", "Name": "Sales", "Status": "ACTIVE", "Type": "REVENUE", "Class": "REVENUE"},
    {"Code": "201", "Name": "Boarding", "Status": "ACTIVE", "Type": "REVENUE", "Class": "REVENUE"},
    {"Code": "090", "Name": "Bank", "Status": "ACTIVE", "Type": "BANK", "Class": "ASSET"},
    {
        "Code": "092",
        "Name": "Card clearing",
        "Status": "ACTIVE",
        "Type": "CURRENT",
        "Class": "ASSET",
        "EnablePaymentsToAccount": True,
    },
    {
        "Code": "610",
        "Name": "Accounts Receivable",
        "Status": "ACTIVE",
        "Type": "CURRENT",
        "Class": "ASSET",
    },
    {"Code": "860", "Name": "Rounding", "Status": "ACTIVE", "Type": "CURRENT", "Class": "ASSET"},
    {
        "Code": "299",
        "Name": "Old sales",
        "Status": "ARCHIVED",
        "Type": "REVENUE",
        "Class": "REVENUE",
    },
]
TAX_RATES = [
    {"TaxType": "OUTPUT", "Status": "ACTIVE"},
    {"TaxType": "EXEMPTOUTPUT", "Status": "ACTIVE"},
]


class FakeAccounts:
    """An :class:`~pm_xero_plugin.core.chart.AccountsSource` from memory; counts its reads."""

    def __init__(self, accounts: list[dict[str, Any]] | None = None) -> None:
        self.charts: dict[str, list[dict[str, Any]]] = {}
        self.default = list(accounts or ACCOUNTS)
        self.reads = 0

    def accounts(self, tenant_id: str) -> list[dict[str, Any]]:
        self.reads += 1
        return list(self.charts.get(tenant_id, self.default))

    def tax_rates(self, tenant_id: str) -> list[dict[str, Any]]:
        return list(TAX_RATES)

    def tracking_categories(self, tenant_id: str) -> list[dict[str, Any]]:
        return []


def codes(**override: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "income": {"default": "200", "boarding": "201"},
        "credit_notes": "200",
        "payments": {
            m: ("090" if m in ("cash", "bank_transfer", "voucher") else "092") for m in METHODS
        },
        "overpayments": "610",
        "rounding": "860",
        "tax_types": {"10": "OUTPUT", "0": "EXEMPTOUTPUT"},
    }
    base.update(override)
    return base


def settings(
    start_date: str | None = "2025-02-01",
    *,
    enabled: bool = True,
    locations: dict[str, str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Per-location settings: location -> tenant, every connection enabled, codes for each."""
    locations = locations if locations is not None else {"syd": "T1", "lon": "T2"}
    out: dict[str, Any] = {
        "enabled": enabled,
        "organisation_mode": "per_location",
        "locations": {
            loc: {"tenant_id": tenant, "connection_enabled": True}
            for loc, tenant in locations.items()
        },
        "account_codes": {tenant: codes() for tenant in sorted(set(locations.values()))},
        "start_date": start_date,
    }
    out.update(extra)
    return out


SYDNEY = {
    "id": "syd",
    "name": "Sydney",
    "timezone": "Australia/Sydney",
    "currency": "AUD",
    "country": "AU",
}
LONDON = {
    "id": "lon",
    "name": "London",
    "timezone": "Europe/London",
    "currency": "GBP",
    "country": "GB",
}


def client(cid: str, number: int, location: str = "syd", **extra: Any) -> dict[str, Any]:
    return {
        "id": cid,
        "number": number,
        "location_id": location,
        "first_name": "Ann",
        "last_name": f"Lee{number}",
        **extra,
    }


def line(price: str = "100.00", qty: str = "1", **extra: Any) -> dict[str, Any]:
    return {
        "description": "Boarding night",
        "category": "boarding",
        "quantity": qty,
        "unit_price": price,
        "tax_rate": "10",
        **extra,
    }


def invoice(
    iid: str, number: int, client_id: str, day: str, location: str = "syd", **extra: Any
) -> dict[str, Any]:
    return {
        "id": iid,
        "number": number,
        "client_id": client_id,
        "location_id": location,
        "date": day,
        "due_date": day,
        "lines": [line()],
        **extra,
    }


def payment(
    pid: str,
    number: int,
    client_id: str,
    day: str,
    allocations: list[tuple[str, str]],
    location: str = "syd",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "id": pid,
        "number": number,
        "client_id": client_id,
        "location_id": location,
        "paid_date": day,
        "method": "card",
        "allocations": [{"invoice_id": i, "amount": a} for i, a in allocations],
        **extra,
    }


class Practice:
    """A reference host with the add-on loaded through the real PluginManager."""

    def __init__(self, root: Path, clock: ManualClock) -> None:
        self.clock = clock
        self.host = RefHost(root, clock=clock, load_entrypoints=False)
        self.host.add_location(SYDNEY)
        self.host.add_location(LONDON)
        self.host.register(plugin, name="xero")
        self.accounts = FakeAccounts()
        self.host.start()

    @property
    def engine(self) -> Engine:
        engine = plugin.get_engine()
        assert engine is not None
        return engine

    @property
    def ledger(self) -> Ledger:
        return self.engine.ledger

    def status(self, location_id: str | None = None) -> dict[str, Any]:
        """The dashboard's data (what ``sync_status`` shows), for one location or all."""
        return build_status(self.engine, location_id)

    def connect(self, *tenants: str) -> None:
        self.engine.set_accounts_source(self.accounts)
        for tenant in tenants or ("T1", "T2"):
            self.engine.set_connection(None, tenant, True)

    def setup(self, start_date: str | None = "2025-02-01", **kw: Any) -> None:
        """Saved settings, both organisations connected, contact sync started and finished."""
        errors = self.host.save_plugin_settings("xero", settings(start_date, **kw))
        assert errors == []
        self.connect()

    def state(self, kind: str, host_id: str, tenant: str = "T1") -> tuple[str, str | None]:
        row = self.ledger.find(kind, host_id, tenant)
        assert row is not None, (kind, host_id, tenant)
        return row.state, row.gate

    def drain(self, tenant: str | None = None, rounds: int = 10) -> int:
        """Play the worker: tick, claim everything ready and mark it synced, until nothing is
        ready."""
        sent = 0
        for _ in range(rounds):
            moved = 0
            now = self.host.now()
            self.engine.tick()  # as the worker's loop does, before it looks
            for t in self.ledger.tenants_with_ready_work(now):
                if tenant is not None and t != tenant:
                    continue
                for kind in SEND_ORDER:
                    for row in self.ledger.claim(t, kind, worker_id="test", now=now):
                        self.ledger.mark_sent([row.id], f"k{row.id}")
                        self.ledger.mark_synced(row.id, f"X-{row.kind}-{row.host_id}")
                        moved += 1
            sent += moved
            if not moved:
                return sent
        return sent

    def check_counts(self) -> None:
        """The counts table equals a GROUP BY over the rows (kept in the same transactions)."""
        engine = plugin.get_engine()
        if engine is None:
            return
        counted = {
            (c["tenant_id"], c["location_id"], c["kind"], c["state"], c["gate"] or ""): c["n"]
            for c in engine.ledger.counts()
        }
        grouped = {
            tuple(r[:5]): r[5]
            for r in engine.ledger._q(
                "SELECT tenant_id, location_id, kind, state, "
                "CASE WHEN state = 'waiting' THEN coalesce(gate, '') ELSE '' END, count(*) "
                "FROM rows GROUP BY 1, 2, 3, 4, 5"
            )
        }
        assert counted == grouped

    def close(self) -> None:
        self.check_counts()
        self.host.stop()
        self.host.close()


# -- rows for the ledger contract (tests/ledger/contract): the interface only --------------


def new_row(
    kind: str = "invoice",
    host_id: str = "i1",
    tenant: str = "T1",
    state: str = "ready",
    **kw: object,
) -> NewRow:
    """A row to insert (``kw``: any other :class:`NewRow` field)."""
    return NewRow(
        kind=kind,
        host_id=host_id,
        tenant_id=tenant,
        location_id="syd",
        state=state,
        payload=f'{{"id": "{host_id}"}}',
        payload_hash=host_id,
        **kw,  # type: ignore[arg-type]
    )


def one(ledger: Ledger, **kw: object) -> int:
    """Insert one row and return its id."""
    ledger.insert([new_row(**kw)])  # type: ignore[arg-type]
    row = ledger.find(str(kw.get("kind", "invoice")), str(kw.get("host_id", "i1")), "T1")
    assert row is not None
    return row.id


def put_in(ledger: Ledger, state: str, host_id: str = "i1") -> int:
    """A row in ``state``, reached by the ledger's own operations only (it claims every ready
    invoice of T1 on the way: put rows in states before inserting others)."""
    if state in (State.READY, State.WAITING, State.REJECTED):
        gate = "lock_date" if state == State.WAITING else None
        return one(ledger, host_id=host_id, state=state, gate=gate)
    row_id = one(ledger, host_id=host_id)
    if state == State.EXCLUDED:
        ledger.transition(row_id, State.EXCLUDED)
        return row_id
    [row] = [r for r in ledger.claim("T1", "invoice", worker_id="w", now=START) if r.id == row_id]
    if state == State.SYNCED:
        ledger.mark_synced(row.id, f"X-{host_id}")
    elif state == State.RETRYING:
        ledger.mark_retrying(row.id, START + timedelta(minutes=5), "503")
    elif state == State.FAILED:
        ledger.mark_failed(row.id, "refused")
    found = ledger.get(row_id)
    assert found is not None
    assert found.state == state
    return row_id
