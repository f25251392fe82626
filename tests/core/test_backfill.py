"""Backfill and contact sync: through the same rules, resumable, idempotent, bounded memory."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any

import pytest
from support.ledger_helpers import Practice, settings

from hookspecs.refhost import generate_practice


@pytest.fixture
def history(practice: Practice) -> dict[str, str]:
    before = {loc["id"] for loc in practice.host.locations()}
    generate_practice(
        practice.host,
        seed=3,
        locations=2,
        clients=40,
        start=date(2025, 1, 1),
        end=date(2025, 2, 28),
    )
    new = sorted({loc["id"] for loc in practice.host.locations()} - before)
    mapping = dict(zip(new, ("T1", "T2"), strict=True))
    assert (
        practice.host.save_plugin_settings("xero", settings("2025-02-01", locations=mapping)) == []
    )
    practice.connect()
    return mapping


def _rows(practice: Practice) -> list[tuple[Any, ...]]:
    return practice.ledger._q(
        "SELECT kind, host_id, tenant_id, state, gate, payload_hash, updated_at FROM rows "
        "ORDER BY kind, host_id, tenant_id"
    )


def _expected_documents(practice: Practice, since: date) -> int:
    return sum(1 for _ in practice.host.iter_history("invoices", None, since))


def test_backfill_replays_the_window_through_the_rules_and_twice_adds_nothing(
    practice: Practice, history: dict[str, str]
) -> None:
    practice.host.start_contact_sync()
    practice.host.backfill()
    invoices = practice.ledger._q("SELECT count(*) FROM rows WHERE kind = 'invoice'")[0][0]
    assert invoices == _expected_documents(practice, date(2025, 2, 1)) > 0
    assert (
        practice.ledger._q(
            "SELECT count(*) FROM rows WHERE kind = 'invoice' AND doc_date < '2025-02-01'"
        )[0][0]
        == 0
    )
    first = _rows(practice)
    practice.host.backfill()
    assert _rows(practice) == first  # not one row added or touched
    practice.drain(rounds=50)
    states = {s for (s,) in practice.ledger._q("SELECT DISTINCT state FROM rows")}
    assert states <= {"synced", "waiting", "excluded"}
    waiting = practice.ledger._q("SELECT DISTINCT gate FROM rows WHERE state = 'waiting'")
    assert {g for (g,) in waiting} <= {"invoice_before_start", "before_start_date"}


def test_an_interrupted_backfill_resumes_from_its_checkpoint(
    practice: Practice, history: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pm_xero_plugin.core import history as history_module

    monkeypatch.setattr(history_module, "BATCH", 10)
    real = practice.host.iter_history
    served: list[int] = []

    def crashing(
        kind: str, location_id: str | None = None, since: date | None = None
    ) -> Iterator[Mapping[str, Any]]:
        for n, record in enumerate(real(kind, location_id, since)):
            if kind == "invoices" and n == 25 and not served:
                served.append(n)
                raise ConnectionError("host database went away")
            yield record

    monkeypatch.setattr(practice.host, "iter_history", crashing)
    location = max(history, key=lambda loc: sum(1 for _ in real("invoices", loc, None)))
    with pytest.raises(ConnectionError):
        practice.engine.backfill(location, None)
    written = practice.ledger._q("SELECT count(*) FROM rows WHERE kind = 'invoice'")[0][0]
    assert written == 20  # two committed batches of 10, the third was lost with the crash
    seen: list[str] = []
    original = practice.engine.history.write_history

    def spy(kind: str, records: list[Any], until: date | None, **window: Any) -> None:
        seen.extend(r["id"] for r in records if kind == "invoice")
        original(kind, records, until, **window)

    monkeypatch.setattr(practice.engine.history, "write_history", spy)
    practice.engine.backfill(location, None)
    total = sum(1 for _ in real("invoices", location, date(2025, 2, 1)))
    assert len(seen) == total - 20  # resumed after the checkpoint, not from the start
    assert (
        practice.ledger._q(
            "SELECT count(*) FROM rows WHERE kind = 'invoice' AND location_id = ?", (location,)
        )[0][0]
        == total
    )


def test_backfill_memory_stays_bounded(practice: Practice) -> None:
    practice.setup("2025-02-01")
    template = {
        "number": 0,
        "client_id": "c1",
        "location_id": "syd",
        "date": "2025-02-10",
        "due_date": "2025-02-10",
        "currency": "AUD",
        "line_amount_types": "exclusive",
        "status": "open",
        "total": "110.00",
        "updated_at": "x",
        "lines": [
            {
                "description": "Boarding night " * 20,
                "category": "boarding",
                "quantity": "1",
                "unit_price": "100.00",
                "tax_rate": "10",
            }
        ],
    }

    def stream(n: int) -> Iterator[dict[str, Any]]:
        for i in range(n):
            yield {**template, "id": f"i{n}-{i}", "number": i}

    def peak(n: int) -> int:
        practice.host.iter_history = lambda kind, loc=None, since=None: (  # type: ignore[method-assign]
            stream(n) if kind == "invoices" and loc == "syd" else iter(())
        )
        tracemalloc.start()
        practice.engine.backfill("syd", None)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    small, large = peak(1_000), peak(4_000)
    assert large < small * 1.5  # four times the records, not four times the memory


def test_contact_sync_streams_customers_and_is_idempotent(
    practice: Practice, history: dict[str, str]
) -> None:
    practice.host.start_contact_sync()
    contacts = practice.ledger._q("SELECT count(*) FROM rows WHERE kind = 'contact'")[0][0]
    assert contacts >= 40
    first = _rows(practice)
    practice.host.start_contact_sync()
    assert _rows(practice) == first
    assert {t.contact_sync for t in practice.ledger.tenants()} == {"running"}
    practice.drain(rounds=50)
    assert {t.contact_sync for t in practice.ledger.tenants()} == {"finished"}


def test_settling_asks_the_host_nothing_and_still_names_an_invoice_before_the_window(
    practice: Practice, history: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    practice.host.start_contact_sync()
    practice.host.backfill()
    host = practice.engine.host
    asked: list[tuple[Any, ...]] = []
    real = host.get_record

    def counting(*args: Any) -> Any:
        asked.append(args)
        return real(*args)

    monkeypatch.setattr(host, "get_record", counting)
    practice.drain(rounds=50)  # the last contact settled finishes contact sync: a recheck
    assert asked == []  # the worker's side reads dependency facts from the ledger only
    waiting = practice.ledger._q("SELECT DISTINCT gate FROM rows WHERE state = 'waiting'")
    assert "invoice_before_start" in {g for (g,) in waiting}


def test_a_payment_recorded_before_the_invoice_date_was_kept_stays_held_for_the_admin(
    practice: Practice, history: dict[str, str]
) -> None:
    """A ledger from schema v2 has no invoice date on a payment whose invoice predates the
    start: a re-check on the worker's side must not turn "invoice before the start date" (with
    its two ways out) into a silent wait for an invoice that will never come."""
    from pm_xero_plugin.core.gates import recheck_dependencies

    practice.host.start_contact_sync()
    practice.host.backfill()
    practice.drain(rounds=50)
    held, _ = practice.ledger.find_rows(held_gates=["invoice_before_start"], limit=None)
    assert held
    for row in held:
        practice.ledger.set_fields(row.id, dep_invoice_date=None)

    recheck_dependencies(
        practice.ledger,
        lambda after: practice.ledger.waiting_behind(["invoice_before_start"], after_id=after),
    )

    for row in held:
        again = practice.ledger.get(row.id)
        assert again is not None
        assert again.gate == "invoice_before_start", (row.host_id, again.gate)
