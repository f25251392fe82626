"""The ledger's state machine and the worker-facing API (claim, lease, mark_*, counts)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from support.ledger_helpers import START

from pm_xero_plugin.ledger import STATES, TRANSITIONS, IllegalTransition, NewRow, SqliteLedger
from pm_xero_plugin.ledger.migrations import MIGRATIONS


def _row(
    kind: str = "invoice",
    host_id: str = "i1",
    tenant: str = "T1",
    state: str = "ready",
    **kw: object,
) -> NewRow:
    return NewRow(
        kind=kind,
        host_id=host_id,
        tenant_id=tenant,
        location_id="syd",
        state=state,
        payload=f'{{"id": "{host_id}"}}',
        payload_hash=host_id,
        **kw,
    )  # type: ignore[arg-type]


def _force(ledger: SqliteLedger, row_id: int, state: str) -> None:
    """Put a row in any state behind the state machine's back (to test every move from it)."""
    with ledger.transaction():
        ledger._conn.execute("UPDATE rows SET state = ? WHERE id = ?", (state, row_id))


def _one(ledger: SqliteLedger, **kw: object) -> int:
    ledger.insert([_row(**kw)])  # type: ignore[arg-type]
    row = ledger.find(str(kw.get("kind", "invoice")), str(kw.get("host_id", "i1")), "T1")
    assert row is not None
    return row.id


@pytest.mark.parametrize("source", STATES)
@pytest.mark.parametrize("target", STATES)
def test_every_move_not_in_the_table_is_refused(
    ledger: SqliteLedger, source: str, target: str
) -> None:
    row_id = _one(ledger)
    _force(ledger, row_id, source)
    if source in TRANSITIONS[target]:
        ledger.transition(row_id, target, gate="lock_date" if target == "waiting" else None)
        assert ledger.get(row_id).state == target  # type: ignore[union-attr]
    else:
        with pytest.raises(IllegalTransition):
            ledger.transition(row_id, target)
        assert ledger.get(row_id).state == source  # type: ignore[union-attr]


def test_a_new_row_cannot_start_in_flight_or_done(ledger: SqliteLedger) -> None:
    for state in ("sending", "synced", "retrying", "failed", "excluded"):
        with pytest.raises(IllegalTransition):
            ledger.insert([_row(state=state)])
    assert ledger.counts() == []


def test_a_refused_batch_moves_nothing(ledger: SqliteLedger) -> None:
    a = _one(ledger, host_id="a")
    b = _one(ledger, host_id="b")
    _force(ledger, b, "synced")
    with pytest.raises(IllegalTransition) as info:
        ledger.transition_many([a, b], "sending")
    assert info.value.row_id == b
    assert ledger.get(a).state == "ready"  # type: ignore[union-attr]


def test_counts_follow_every_state_change_in_the_same_transaction(ledger: SqliteLedger) -> None:
    ledger.insert([_row(host_id=f"i{n}") for n in range(5)])
    ledger.insert([_row(host_id="w", state="waiting", gate="contact")])
    rows = ledger.claim("T1", "invoice", limit=2, worker_id="w1", now=START)
    ledger.mark_sent([r.id for r in rows], "key")
    ledger.mark_synced(rows[0].id, "X1")
    ledger.mark_failed(rows[1].id, "Invoice # must be unique.")
    by_state = {(c["state"], c["gate"]): c["n"] for c in ledger.counts()}
    assert by_state == {
        ("ready", None): 3,
        ("synced", None): 1,
        ("failed", None): 1,
        ("waiting", "contact"): 1,
    }
    raw = ledger._q("SELECT state, count(*) FROM rows GROUP BY state")
    assert {s: n for s, n in raw} == {"ready": 3, "synced": 1, "failed": 1, "waiting": 1}


def test_claim_leases_in_date_then_number_order_and_only_one_tenant_and_kind(
    ledger: SqliteLedger,
) -> None:
    ledger.insert(
        [
            _row(host_id="late", doc_date="2025-02-03", number=1),
            _row(host_id="early2", doc_date="2025-02-01", number=2),
            _row(host_id="early1", doc_date="2025-02-01", number=1),
            _row(host_id="other-tenant", tenant="T2", doc_date="2025-01-01", number=1),
            _row(kind="payment", host_id="p", doc_date="2025-01-01", number=1),
        ]
    )
    assert ledger.tenants_with_ready_work(START) == ["T1", "T2"]
    rows = ledger.claim("T1", "invoice", limit=2, worker_id="w1", now=START)
    assert [r.host_id for r in rows] == ["early1", "early2"]
    assert all(r.state == "sending" and not r.uncertain for r in rows)
    assert rows[0].lease_until == START + timedelta(seconds=120)
    again = ledger.claim("T1", "invoice", worker_id="w2", now=START)
    assert [r.host_id for r in again] == ["late"]


def test_an_expired_lease_is_reclaimed_and_an_unknown_outcome_is_flagged(
    ledger: SqliteLedger,
) -> None:
    row_id = _one(ledger)
    [row] = ledger.claim("T1", "invoice", lease_seconds=60, worker_id="w1", now=START)
    ledger.mark_sent([row.id], "attempt-1")
    assert ledger.claim("T1", "invoice", worker_id="w2", now=START + timedelta(seconds=59)) == []
    later = START + timedelta(seconds=61)
    assert ledger.tenants_with_ready_work(later) == ["T1"]
    [again] = ledger.claim("T1", "invoice", worker_id="w2", now=later)
    assert again.id == row_id
    assert again.uncertain
    assert again.attempts == 1


def test_retrying_rows_come_back_when_due(ledger: SqliteLedger) -> None:
    _one(ledger)
    [row] = ledger.claim("T1", "invoice", worker_id="w", now=START)
    ledger.mark_retrying(
        row.id, START + timedelta(minutes=5), "503 Service Unavailable", outcome_known=True
    )
    assert ledger.tenants_with_ready_work(START) == []
    assert ledger.claim("T1", "invoice", worker_id="w", now=START) == []
    due = START + timedelta(minutes=5)
    [back] = ledger.claim("T1", "invoice", worker_id="w", now=due)
    assert back.id == row.id
    assert not back.uncertain


def test_release_gives_rows_back_without_counting_an_attempt(ledger: SqliteLedger) -> None:
    _one(ledger)
    [row] = ledger.claim("T1", "invoice", worker_id="w", now=START)
    ledger.release([row.id])
    [back] = ledger.claim("T1", "invoice", worker_id="w", now=START)
    assert back.attempts == 0


def test_marking_a_contact_synced_promotes_its_documents_in_the_same_transaction(
    ledger: SqliteLedger,
) -> None:
    ledger.insert(
        [
            _row(kind="contact", host_id="c1"),
            _row(host_id="i1", state="waiting", gate="contact", dep_contact="c1"),
            _row(
                kind="payment", host_id="p1:i1", state="waiting", gate="invoice", dep_invoice="i1"
            ),
        ]
    )
    [contact] = ledger.claim("T1", "contact", worker_id="w", now=START)
    ledger.mark_synced(contact.id, "XC1")
    assert ledger.find("invoice", "i1", "T1").state == "ready"  # type: ignore[union-attr]
    assert ledger.find("payment", "p1:i1", "T1").gate == "invoice"  # type: ignore[union-attr]
    [inv] = ledger.claim("T1", "invoice", worker_id="w", now=START)
    ledger.mark_synced(inv.id, "XI1", {"Status": "OK"})
    assert ledger.find("payment", "p1:i1", "T1").state == "ready"  # type: ignore[union-attr]
    assert ledger.xero_id("invoice", "i1", "T1") == "XI1"
    assert ledger.xero_id("contact", "c1", "T1") == "XC1"


def test_mark_waiting_holds_a_row_behind_a_lock_date_until_reopened(ledger: SqliteLedger) -> None:
    _one(ledger)
    [row] = ledger.claim("T1", "invoice", worker_id="w", now=START)
    ledger.mark_waiting(row.id, "lock_date", "waiting for the period to be unlocked (30-Jun-2024)")
    got = ledger.get(row.id)
    assert got is not None
    assert (got.state, got.gate) == ("waiting", "lock_date")
    assert ledger.reopen_gate("lock_date", "T1") == 1
    assert ledger.get(row.id).state == "ready"  # type: ignore[union-attr]


def test_the_log_keeps_what_was_sent_and_what_xero_replied(ledger: SqliteLedger) -> None:
    _one(ledger)
    [row] = ledger.claim("T1", "invoice", worker_id="w", now=START)
    ledger.mark_sent([row.id], "k1")
    ledger.mark_retrying(row.id, START, "timeout")
    [row] = ledger.claim("T1", "invoice", worker_id="w", now=START)
    ledger.mark_sent([row.id], "k2")
    ledger.mark_failed(
        row.id,
        "Account code '999' is not a valid code for this document.",
        field="LineItems",
        status_code=400,
    )
    events = [(e["event"], e["status_code"]) for e in ledger.log(row.id)]
    assert events == [("sent", None), ("retrying", None), ("sent", None), ("failed", 400)]
    assert ledger.get(row.id).attempts == 2  # type: ignore[union-attr]


def test_the_schema_is_versioned_and_reopening_does_not_migrate_again(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite3"
    SqliteLedger(path).close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    again = SqliteLedger(path)
    assert again.schema_version == len(MIGRATIONS)
    again.close()


def test_a_file_from_a_newer_plugin_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(RuntimeError, match="newer"):
        SqliteLedger(path)


def test_dashboard_queries_use_indexes_not_table_scans(ledger: SqliteLedger) -> None:
    for sql in (
        "SELECT id FROM rows WHERE state IN ('failed', 'rejected') ORDER BY id DESC LIMIT 5",
        "SELECT id FROM rows WHERE state = 'waiting' AND gate IN ('invoice_before_start') "
        "ORDER BY id DESC LIMIT 5",
        "SELECT id FROM rows WHERE tenant_id = 'T1' AND kind = 'invoice' AND state = 'ready' "
        "ORDER BY doc_date, number, id LIMIT 50",
        "SELECT tenant_id FROM rows WHERE state = 'retrying' AND next_at <= 0",
        "SELECT tenant_id FROM rows WHERE state = 'sending' AND lease_until <= 0",
    ):
        steps = [str(r[3]) for r in ledger._q("EXPLAIN QUERY PLAN " + sql)]
        assert any(s.startswith("SEARCH rows USING") for s in steps), (sql, steps)
        assert not any(s.startswith("SCAN rows") for s in steps), (sql, steps)


def _vm_steps(ledger: SqliteLedger, call: Callable[[], object]) -> int:
    """SQLite virtual-machine steps (in thousands) a call costs: a table scan shows."""
    steps = [0]

    def tick() -> int:
        steps[0] += 1
        return 0

    ledger._conn.set_progress_handler(tick, 1000)
    try:
        call()
    finally:
        ledger._conn.set_progress_handler(None, 1000)
    return steps[0]


def test_worker_polls_and_the_dashboard_do_not_scan_the_ledger(ledger: SqliteLedger) -> None:
    states = ["synced"] * 6 + ["failed", "retrying", "waiting", "ready"]
    with ledger.transaction():
        ledger._conn.executemany(
            "INSERT INTO rows (kind, host_id, tenant_id, location_id, state, gate, payload, "
            "payload_hash, created_at, updated_at, next_at, lease_until) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    "invoice",
                    f"h{i}",
                    f"T{i % 3}",
                    "syd",
                    states[i % 10],
                    "contact" if states[i % 10] == "waiting" else None,
                    "{}",
                    "h",
                    0,
                    0,
                    4e9 if states[i % 10] == "retrying" else None,
                    None,
                )
                for i in range(30_000)
            ],
        )
    full_scan = _vm_steps(
        ledger, lambda: ledger._q("SELECT count(*) FROM rows WHERE payload_hash = 'x'")
    )
    assert full_scan > 50
    assert _vm_steps(ledger, lambda: ledger.tenants_with_ready_work(START)) < full_scan / 10
    assert _vm_steps(ledger, lambda: ledger.counts()) < full_scan / 10
    assert _vm_steps(ledger, lambda: ledger.problems(limit=200)) < full_scan / 2
    claim = _vm_steps(ledger, lambda: ledger.claim("T1", "invoice", worker_id="w", now=START))
    assert claim < full_scan / 3  # it writes 50 rows and their indexes; a scan reads all


def test_what_a_change_added_and_which_of_it_settled(ledger: SqliteLedger) -> None:
    assert ledger.max_row_id() == 0
    _one(ledger, host_id="old")
    before = ledger.max_row_id()
    ledger.insert([_row(host_id="a"), _row(host_id="b")])
    added = ledger.row_ids_after(before)
    assert len(added) == 2
    [row] = ledger.claim("T1", "invoice", limit=1, worker_id="w", now=START)
    ledger.mark_synced(row.id, "X")
    assert ledger.settled_among([*added, row.id]) == {row.id}
