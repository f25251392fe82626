"""``pm-xero rescan``: what the host committed and the ledger never heard of is recorded
at the operator's word, and says how many; a second run finds nothing."""

from __future__ import annotations

from support.cli_practice import PracticeDir, run_verb

from hookspecs.refhost import RefHost


def test_rescan_records_what_the_ledger_lacks_and_then_finds_nothing(
    practice: PracticeDir,
) -> None:
    def has_it() -> bool:
        ledger = practice.ledger()
        try:
            return ledger.find("invoice", "late", "T1") is not None
        finally:
            ledger.close()

    # The host stores an invoice while no add-on is running: no hook ever told the ledger.
    host = RefHost(practice.root, load_entrypoints=False)
    try:
        host.create_invoice(
            {
                "id": "late",
                "client_id": "c1",
                "location_id": "syd",
                "date": "2025-02-20",
                "lines": [
                    {
                        "description": "Bath",
                        "category": "grooming",
                        "quantity": "1",
                        "unit_price": "45.00",
                        "tax_rate": "10",
                    }
                ],
            }
        )
    finally:
        host.close()
    assert not has_it()

    code, out = run_verb(practice, "rescan", "--full")
    assert code == 0, out
    assert "full pass:" in out
    assert "1 recorded" in out
    assert "late" in out
    assert has_it()

    code, out = run_verb(practice, "rescan", "--full")
    assert code == 0, out
    assert "0 recorded" in out
