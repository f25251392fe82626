"""A synthetic practice that implements the host contract by streaming generated records.

The backfill benchmark needs 100,000 and 1,000,000 historical records. Building them through the
reference host's generator would measure that generator (and its SQLite store), not the plugin,
so this host makes valid records on the fly from their index: ``iter_history`` is a generator
(never a list, as the contract requires) and ``get_record`` rebuilds any record from its id.
Every record passes the host contract's shapes, so the plugin validates them in full.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hookspecs.host import HistoryKind
from hookspecs.records import Location

if TYPE_CHECKING:
    from pm_xero_plugin.core.engine import Engine

__all__ = ["LOCATIONS", "TENANTS", "SynthHost", "settings_for"]

LOCATIONS = ("loc-a", "loc-b")
TENANTS = {"loc-a": "tenant-a", "loc-b": "tenant-b"}
START = date(2020, 1, 1)
CATEGORIES = ("boarding", "daycare", "grooming", "retail", "extras")
_CODES = {
    "income": {
        "default": "200",
        "boarding": "201",
        "daycare": "202",
        "grooming": "203",
        "retail": "204",
        "extras": "205",
    },
    "credit_notes": "200",
    "payments": {
        "cash": "090",
        "card": "092",
        "eftpos": "092",
        "bank_transfer": "090",
        "stripe": "092",
        "voucher": "090",
    },
    "overpayments": "610",
    "rounding": "860",
    "tax_types": {"10": "OUTPUT", "0": "EXEMPTOUTPUT"},
}


def settings_for(start: date = START) -> dict[str, Any]:
    """Valid plugin settings: each location its own organisation."""
    return {
        "enabled": True,
        "prefixes": {"client": "C", "invoice": "INV", "credit_note": "CN", "payment": "PAY"},
        "organisation_mode": "per_location",
        "locations": {
            loc: {"tenant_id": TENANTS[loc], "connection_enabled": True} for loc in LOCATIONS
        },
        "account_codes": {tenant: json.loads(json.dumps(_CODES)) for tenant in TENANTS.values()},
        "start_date": start.isoformat(),
        "rounding_tolerance": "0.02",
    }


class SynthHost:
    """``invoices`` invoices of five lines each and as many payments (one per invoice, in
    full), over ``clients`` customers and two locations, dated one a few minutes apart from
    :data:`START`. Records are pure functions of their index."""

    def __init__(self, root: Path, *, invoices: int, clients: int = 1000) -> None:
        self.root = Path(root)
        self.invoices = invoices
        self.clients = clients + clients % 2
        self._settings: dict[str, Any] = settings_for()
        self._now = datetime(2030, 1, 1, tzinfo=UTC)
        self.hidden: Callable[[int], bool] | None = None
        """Records whose index it holds are not streamed (a ledger built without them lacks
        them: the reconciliation benchmark's "1% missing")."""
        self.touched: frozenset[int] = frozenset()
        """Invoice indices changed "now" (their ``updated_at`` is :meth:`now`): what a change
        cursor finds."""

    # -- records ------------------------------------------------------------------------------

    def client(self, i: int) -> dict[str, Any]:
        """The ``i``-th client."""
        return {
            "id": f"c-{i}",
            "number": i + 1,
            "location_id": LOCATIONS[i % 2],
            "first_name": f"Owner{i}",
            "last_name": "Bench",
            "email": f"owner{i}@example.org",
            "phone": "0400 000 000",
            "customer_type": "standard",
            "updated_at": "2020-01-01T09:00:00+11:00",
        }

    def _day(self, k: int) -> date:
        return START + timedelta(days=k * 1500 // max(self.invoices, 1))

    def invoice(self, k: int) -> dict[str, Any]:
        """The ``k``-th invoice."""
        client = k % self.clients
        day = self._day(k)
        lines = [
            {
                "description": f"Service {j} for pet {k}",
                "category": CATEGORIES[j],
                "quantity": "1",
                "unit_price": f"{10 + (k + j) % 90}.{(k * 7 + j) % 100:02d}",
                "tax_rate": "10",
            }
            for j in range(5)
        ]
        total = sum((Decimal(line["unit_price"]) for line in lines), Decimal(0))
        return {
            "id": f"i-{k}",
            "number": k + 1,
            "location_id": LOCATIONS[client % 2],
            "client_id": f"c-{client}",
            "date": day.isoformat(),
            "due_date": (day + timedelta(days=7)).isoformat(),
            "currency": "AUD",
            "line_amount_types": "inclusive",
            "status": "paid",
            "lines": lines,
            "total": str(total),
            "reference": f"Pet {k}",
            "updated_at": self._now.isoformat()
            if k in self.touched
            else f"{day.isoformat()}T17:00:00+11:00",
        }

    def payment(self, k: int) -> dict[str, Any]:
        """The ``k``-th invoice's payment."""
        invoice = self.invoice(k)
        return {
            "id": f"p-{k}",
            "number": k + 1,
            "location_id": invoice["location_id"],
            "client_id": invoice["client_id"],
            "paid_date": invoice["date"],
            "amount": invoice["total"],
            "currency": "AUD",
            "method": "card",
            "allocations": [{"invoice_id": invoice["id"], "amount": invoice["total"]}],
            "updated_at": f"{invoice['date']}T17:05:00+11:00",
        }

    def records(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every history record in backfill order, as ``(kind, record)``: the baseline's feed."""
        for k in range(self.invoices):
            yield "invoice", self.invoice(k)
        for k in range(self.invoices):
            yield "payment", self.payment(k)

    # -- the Host protocol --------------------------------------------------------------------

    def locations(self) -> list[Location]:
        """The host contract's :meth:`~hookspecs.host.Host.locations`."""
        return [
            {
                "id": loc,
                "name": f"Bench {loc}",
                "timezone": "Australia/Sydney",
                "currency": "AUD",
                "country": "AU",
            }
            for loc in LOCATIONS
        ]

    def iter_history(
        self,
        kind: HistoryKind,
        location_id: str | None = None,
        since: date | None = None,
        *,
        changed_since: datetime | None = None,
    ) -> Iterator[Mapping[str, Any]]:
        """Every record of ``kind``, made on the fly from its index (never a list).

        ``changed_since``: a record's change moment is its ``updated_at``; only the touched
        invoices are changed after the records were made, so a cursor skips the rest without
        building them, as a host's index would."""
        if changed_since is not None:
            if kind == "invoices":
                for k in sorted(self.touched):
                    record = self.invoice(k)
                    if (
                        datetime.fromisoformat(record["updated_at"]) >= changed_since
                        and location_id in (None, record["location_id"])
                        and (since is None or record["date"] >= since.isoformat())
                    ):
                        yield record
            return
        make: Callable[[int], dict[str, Any]]
        if kind == "clients":
            make, count = self.client, self.clients
        elif kind == "invoices":
            make, count = self.invoice, self.invoices
        elif kind == "payments":
            make, count = self.payment, self.invoices
        else:
            return
        # Record i belongs to location i % 2 (clients are even in number): skip the others
        # without building them, as a host's indexed query would.
        first, step = (0, 1) if location_id is None else (LOCATIONS.index(location_id), 2)
        hidden = self.hidden
        for i in range(first, count, step):
            if hidden is not None and hidden(i):
                continue
            record = make(i)
            dated = record.get("date") or record.get("paid_date")
            if since is not None and dated is not None and dated < since.isoformat():
                continue
            yield record

    def get_record(self, kind: HistoryKind, record_id: str) -> Mapping[str, Any] | None:
        """Any record, rebuilt from the index in its id."""
        prefix, _, number = record_id.partition("-")
        if not number.isdigit():
            return None
        index = int(number)
        if kind == "clients" and prefix == "c" and index < self.clients:
            return self.client(index)
        if kind == "invoices" and prefix == "i" and index < self.invoices:
            return self.invoice(index)
        if kind == "payments" and prefix == "p" and index < self.invoices:
            return self.payment(index)
        return None

    def data_dir(self, plugin: str) -> Path:
        """``<root>/plugins/<plugin>``, created if missing."""
        path = self.root / "plugins" / plugin
        path.mkdir(parents=True, exist_ok=True)
        return path

    def now(self) -> datetime:
        """A fixed moment: the benchmark measures the plugin, not time."""
        return self._now

    def settings(self, plugin: str) -> Mapping[str, Any]:
        """The add-on's settings (nothing for another plugin)."""
        return self._settings if plugin == "xero" else {}

    def is_enabled(self, plugin: str) -> bool:
        """Only the Xero add-on is on."""
        return plugin == "xero"

    def secret(self, plugin: str) -> bytes:
        """A stable per-plugin secret (not secret at all: a benchmark's)."""
        return (plugin.encode() * 32)[:32]


@contextmanager
def filled_engine(
    prefix: str, rows: int, fill: Callable[[Path, int], None]
) -> Iterator[tuple[Engine, float]]:
    """An engine over a ledger of ``rows`` synthetic rows written by ``fill`` (straight into
    SQLite: a million rows through the hooks would take the bench's whole budget), with no Xero
    app configured; yields it and the seconds the fill took, and closes it after."""
    for name in ("PM_XERO_CLIENT_ID", "PM_XERO_CLIENT_SECRET"):
        os.environ.pop(name, None)
    from pm_xero_plugin.core.engine import Engine

    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        host = SynthHost(Path(tmp), invoices=0)
        started = time.perf_counter()
        fill(host.data_dir("xero") / "ledger.sqlite3", rows)
        fill_seconds = time.perf_counter() - started
        engine = Engine(host)
        try:
            yield engine, fill_seconds
        finally:
            engine.close()
