"""What PostgreSQL stores differently from SQLite, read back as the interface says."""

from __future__ import annotations

import json

from support.ledger_helpers import START, new_row

from pm_xero_plugin.ledger.postgres import PostgresLedger


def test_a_row_says_when_it_was_recorded(p1: PostgresLedger) -> None:
    p1.insert([new_row(host_id="i1")])
    [row] = p1.claim("T1", "invoice", worker_id="w", now=START)
    assert row.recorded_at == START


def test_a_nul_in_host_text_is_kept_as_a_replacement_character_not_an_error(
    p1: PostgresLedger,
) -> None:
    """PostgreSQL's text holds no NUL; SQLite's does: a host record carrying one still lands."""
    payload = json.dumps({"id": "i1", "name": "Ann\x00Lee"}, ensure_ascii=False)
    row = new_row(host_id="i1", state="rejected", message="bad\x00input")
    row.payload = payload
    p1.insert([row])
    found = p1.find("invoice", "i1", "T1")
    assert found is not None
    assert found.payload["name"] == "Ann\x00Lee"  # JSON escapes it: kept exactly
    assert found.message == "bad\ufffdinput"
    p1.set_fields(found.id, detail="still\x00here")
    assert p1.get(found.id).detail == "still\ufffdhere"  # type: ignore[union-attr]


def test_counts_are_plain_ints_a_status_page_can_serialise(p1: PostgresLedger) -> None:
    p1.insert([new_row(host_id="i1"), new_row(host_id="i2")])
    [count] = p1.counts()
    assert type(count["n"]) is int  # PostgreSQL's sum() is numeric: Decimal in Python
    assert json.loads(json.dumps(p1.counts())) == p1.counts()
