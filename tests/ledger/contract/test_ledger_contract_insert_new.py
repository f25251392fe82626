"""``insert_new``: a backfill batch goes in without a look-up first; rows already in the ledger
are left untouched and reported, and the counts only grow by what went in."""

from __future__ import annotations

from pm_xero_plugin.ledger import Ledger, NewRow, Parent


def _row(host_id: str, state: str = "ready", payload: str = "{}") -> NewRow:
    return NewRow(
        kind="invoice",
        host_id=host_id,
        tenant_id="T1",
        location_id="syd",
        state=state,
        gate="contact" if state == "waiting" else None,
        payload=payload,
        payload_hash=payload,
        doc_date="2025-02-01",
    )


def _counts(ledger: Ledger) -> dict[str, int]:
    return {c["state"]: c["n"] for c in ledger.counts()}


def test_all_new_rows_go_in_and_are_counted(ledger: Ledger) -> None:
    assert ledger.insert_new([_row("i1"), _row("i2", "waiting")]) == [True, True]
    assert _counts(ledger) == {"ready": 1, "waiting": 1}


def test_rows_already_there_are_left_alone_and_not_counted_again(ledger: Ledger) -> None:
    ledger.insert([_row("i2", payload='{"v":1}')])
    flags = ledger.insert_new([_row("i1"), _row("i2", "waiting", '{"v":2}'), _row("i3")])
    assert flags == [True, False, True]
    kept = ledger.find("invoice", "i2", "T1")
    assert kept is not None
    assert kept.state == "ready"
    assert kept.payload == {"v": 1}
    assert _counts(ledger) == {"ready": 3}


def test_a_batch_that_is_all_there_changes_nothing(ledger: Ledger) -> None:
    ledger.insert([_row("i1"), _row("i2")])
    assert ledger.insert_new([_row("i1"), _row("i2")]) == [False, False]
    assert _counts(ledger) == {"ready": 2}


def test_dep_facts_reads_what_dep_reads_for_many_keys(ledger: Ledger) -> None:
    ledger.insert([_row("i1"), _row("i2", "waiting")])
    keys = [("invoice", "i1", "T1"), ("invoice", "i2", "T1"), ("invoice", "i9", "T1")]
    found = ledger.dep_facts(keys)
    assert set(found) == {keys[0], keys[1]}
    for key in keys[:2]:
        assert found[key] == ledger.dep(*key)
        assert isinstance(found[key], Parent)
