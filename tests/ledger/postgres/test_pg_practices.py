"""Practices share one database and see nothing of each other's: rows, ids, claims, counts,
organisations, settings, search."""

from __future__ import annotations

from support.ledger_helpers import START, new_row

from pm_xero_plugin.ledger import RowQuery
from pm_xero_plugin.ledger.postgres import PostgresLedger


def test_one_practice_cannot_read_or_move_another_practices_rows(
    p1: PostgresLedger, p2: PostgresLedger
) -> None:
    p1.insert([new_row(host_id="i1", number=7), new_row(kind="contact", host_id="c1")])
    p2.insert([new_row(host_id="i1", number=7)])  # the same key in another practice
    theirs = p2.find("invoice", "i1", "T1")
    assert theirs is not None
    assert p1.get(theirs.id) is None
    assert p1.claim("T1", "invoice", worker_id="w", now=START)[0].id != theirs.id
    assert p1.settled_among([theirs.id]) == set()
    assert [r.id for r in p1.search_rows(RowQuery(number=7)).rows] != [theirs.id]
    assert p2.search_rows(RowQuery(kinds=("contact",))).rows == []
    assert {c["state"]: c["n"] for c in p2.counts()} == {"ready": 1}
    assert p2.claim_owners() == []
    p2.transition(theirs.id, "excluded")
    assert p1.find("invoice", "i1", "T1").state == "sending"  # type: ignore[union-attr]


def test_organisations_and_settings_are_the_practices_own(
    p1: PostgresLedger, p2: PostgresLedger
) -> None:
    p1.set_tenant("T1", connected=True)
    p1.set_meta("start_date", "2025-01-01")
    assert p2.tenants() == []
    assert p2.meta("start_date") is None
    assert p2.tenant("T1").connected is False
    p1.insert([new_row(host_id="i1")])
    [row] = p1.claim("T1", "invoice", worker_id="w", now=START)
    p1.mark_synced(row.id, "X1")
    assert p1.data_synced()
    assert not p2.data_synced()
    assert p2.meta("locked_start_date") is None
