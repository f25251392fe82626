"""The ledger contract: the named selections the engine re-gates through (no SQL crosses)."""

from __future__ import annotations

from support.ledger_helpers import START, new_row, one, put_in

from pm_xero_plugin.ledger import Gate, Ledger, Parent


def _ids(facts: list) -> list[str]:  # type: ignore[type-arg]
    return [f.host_id for f in facts]


def test_waiting_behind_selects_by_gate_organisation_and_location(ledger: Ledger) -> None:
    ledger.insert(
        [
            new_row(host_id="a", state="waiting", gate="start_date_future"),
            new_row(host_id="b", state="waiting", gate="start_date_future", tenant="T2"),
            new_row(host_id="c", state="waiting", gate="contact"),
            new_row(host_id="d", state="ready"),
        ]
    )
    assert _ids(ledger.waiting_behind((Gate.START_DATE_FUTURE,))) == ["a", "b"]
    assert _ids(ledger.waiting_behind(("start_date_future",), tenant_id="T2")) == ["b"]
    assert _ids(ledger.waiting_behind((Gate.START_DATE_FUTURE,), location_id="lon")) == []
    assert _ids(ledger.waiting_behind((Gate.CONTACT, Gate.START_DATE_FUTURE))) == ["a", "b", "c"]
    assert ledger.waiting_behind(()) == []


def test_selections_page_by_id(ledger: Ledger) -> None:
    ledger.insert([new_row(host_id=f"i{n}", state="waiting", gate="contact") for n in range(5)])
    first = ledger.waiting_behind((Gate.CONTACT,), limit=2)
    assert _ids(first) == ["i0", "i1"]
    rest = ledger.waiting_behind((Gate.CONTACT,), after_id=first[-1].id, limit=10)
    assert _ids(rest) == ["i2", "i3", "i4"]


def test_on_their_way_is_what_is_cleared_or_waits_behind_the_given_gates(ledger: Ledger) -> None:
    retrying = put_in(ledger, "retrying", host_id="r")
    ledger.insert(
        [
            new_row(host_id="ready"),
            new_row(host_id="rule", state="waiting", gate="contact"),
            new_row(host_id="lock", state="waiting", gate="lock_date"),
            new_row(host_id="other", state="ready", tenant="T2"),
        ]
    )
    ledger.transition(one(ledger, host_id="gone"), "excluded")
    found = ledger.on_their_way((Gate.CONTACT,), tenant_id="T1")
    assert sorted(_ids(found)) == ["r", "ready", "rule"]
    assert retrying in {f.id for f in found}
    assert sorted(_ids(ledger.on_their_way((Gate.CONTACT,)))) == ["other", "r", "ready", "rule"]


def test_waiting_on_selects_the_rows_waiting_for_one_parent(ledger: Ledger) -> None:
    ledger.insert(
        [
            new_row(host_id="i1", state="waiting", gate="contact", dep_contact="c1"),
            new_row(host_id="i2", state="waiting", gate="contact", dep_contact="c2"),
            new_row(
                kind="payment", host_id="p1", state="waiting", gate="invoice", dep_invoice="i1"
            ),
            new_row(
                kind="payment",
                host_id="p2",
                state="waiting",
                gate="invoice_before_start",
                dep_invoice="i1",
            ),
            new_row(
                kind="allocation",
                host_id="n1",
                state="waiting",
                gate="credit_note",
                dep_credit_note="cn1",
                dep_invoice="i1",
            ),
        ]
    )
    assert _ids(ledger.waiting_on("contact", "c1", "T1", (Gate.CONTACT,))) == ["i1"]
    invoice_gates = (Gate.INVOICE, Gate.INVOICE_BEFORE_START)
    assert _ids(ledger.waiting_on("invoice", "i1", "T1", invoice_gates)) == ["p1", "p2"]
    assert _ids(ledger.waiting_on("credit_note", "cn1", "T1", (Gate.CREDIT_NOTE,))) == ["n1"]
    assert ledger.waiting_on("invoice", "i1", "T2", invoice_gates) == []


def test_cleared_against_selects_money_already_cleared_to_go_against_a_document(
    ledger: Ledger,
) -> None:
    ledger.insert(
        [
            new_row(kind="payment", host_id="p1", dep_invoice="i1"),
            new_row(
                kind="payment", host_id="p2", dep_invoice="i1", state="waiting", gate="invoice"
            ),
            new_row(kind="allocation", host_id="a1", dep_invoice="i9", dep_credit_note="cn1"),
            new_row(kind="payment", host_id="p3", dep_invoice="i2"),
        ]
    )
    kinds = ("payment", "allocation", "overpayment")
    assert _ids(ledger.cleared_against("invoice", "i1", "T1", kinds)) == ["p1"]
    assert _ids(ledger.cleared_against("credit_note", "cn1", "T1", kinds)) == ["a1"]
    assert ledger.cleared_against("invoice", "i1", "T1", ("allocation",)) == []


def test_invoice_with_dependants_is_the_invoice_and_what_names_it_while_on_its_way(
    ledger: Ledger,
) -> None:
    ledger.insert(
        [
            new_row(host_id="i1", state="waiting", gate="before_start_date"),
            new_row(
                kind="payment",
                host_id="p1",
                state="waiting",
                gate="invoice_before_start",
                dep_invoice="i1",
            ),
            new_row(kind="payment", host_id="p2", dep_invoice="i2"),
        ]
    )
    assert _ids(ledger.invoice_with_dependants("i1", "T1")) == ["i1", "p1"]


def test_retryable_is_failed_rows_and_rows_held_behind_the_given_gates(ledger: Ledger) -> None:
    failed = put_in(ledger, "failed", host_id="f")
    ledger.insert(
        [
            new_row(host_id="lock", state="waiting", gate="lock_date"),
            new_row(host_id="rule", state="waiting", gate="contact"),
            new_row(kind="payment", host_id="p", state="waiting", gate="lock_date"),
        ]
    )
    assert _ids(ledger.retryable((Gate.LOCK_DATE,))) == ["f", "lock", "p"]
    assert _ids(ledger.retryable((Gate.LOCK_DATE,), kind="invoice")) == ["f", "lock"]
    assert ledger.retryable((Gate.LOCK_DATE,), tenant_id="T2") == []
    assert ledger.get(failed).state == "failed"  # type: ignore[union-attr]


def test_in_xero_against_an_invoice_means_a_payment_xero_has(ledger: Ledger) -> None:
    ledger.insert([new_row(kind="payment", host_id="p1", dep_invoice="i1")])
    assert ledger.in_xero_against("i1", "T1", ("payment", "allocation")) is False
    [payment] = ledger.claim("T1", "payment", worker_id="w", now=START)
    ledger.mark_synced(payment.id, "XP1")
    assert ledger.in_xero_against("i1", "T1", ("payment", "allocation")) is True
    assert ledger.in_xero_against("i1", "T1", ("allocation",)) is False


def test_dep_reads_a_parent_as_the_rules_need_it(ledger: Ledger) -> None:
    ledger.insert([new_row(host_id="i1", doc_date="2025-01-05", include_before_start=True)])
    assert ledger.dep("invoice", "i1", "T1") == Parent(
        "invoice", "ready", None, None, "2025-01-05", True
    )
    assert ledger.dep("invoice", "i9", "T1") is None


def test_a_row_keeps_the_date_of_an_invoice_the_ledger_never_saw(ledger: Ledger) -> None:
    ledger.insert(
        [
            new_row(
                kind="payment",
                host_id="p1",
                state="waiting",
                gate="contact_sync",
                dep_invoice="i0",
                dep_invoice_date="2024-12-30",
            )
        ]
    )
    [found] = ledger.waiting_behind((Gate.CONTACT_SYNC,))
    assert found.dep_invoice_date == "2024-12-30"
