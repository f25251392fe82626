"""The rule for when a row's dependants may go is defined once in core (Python); the SQLite
ledger's SQL form of it (to climb a live record's dependencies in the database) must agree on
every kind, state and Xero id."""

from __future__ import annotations

import itertools
import sqlite3

from pm_xero_plugin.core import rules
from pm_xero_plugin.ledger.sqlite import SATISFIED_SQL
from pm_xero_plugin.ledger.states import STATES


def test_the_python_rule_and_its_sql_form_agree_everywhere() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE rows (kind TEXT, state TEXT, xero_id TEXT)")
    cases = list(itertools.product(("contact", "invoice", "credit_note"), STATES, (None, "X1")))
    conn.executemany("INSERT INTO rows VALUES (?, ?, ?)", cases)
    sql = SATISFIED_SQL
    for kind, state, xero_id, satisfied in conn.execute(
        f"SELECT kind, state, xero_id, {sql} FROM rows"
    ):
        assert bool(satisfied) == rules.dependency_satisfied(kind, state, xero_id), (
            kind,
            state,
            xero_id,
        )


def test_an_invoice_with_an_edit_on_its_way_holds_its_payments_a_contact_does_not() -> None:
    assert not rules.dependency_satisfied("invoice", "ready", "X1")
    assert not rules.dependency_satisfied("credit_note", "sending", "X1")
    assert rules.dependency_satisfied("contact", "ready", "X1")
    assert rules.dependency_satisfied("invoice", "failed", "X1")
    assert not rules.dependency_satisfied("invoice", "failed", None)
