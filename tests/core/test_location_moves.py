"""A location pointed at another organisation: its unsent records follow it; once any of them is
in Xero, the move is refused (by validate_settings, and by apply_settings for hosts that skip
validation) so books are never split."""

from __future__ import annotations

from support.ledger_helpers import Practice, client, invoice, settings


def recount(practice: Practice) -> dict[tuple[str, str, str], int]:
    out: dict[tuple[str, str, str], int] = {}
    for row in practice.ledger.counts():
        key = (row["tenant_id"], row["kind"], row["state"])
        out[key] = out.get(key, 0) + row["n"]
    return out


def test_unsent_records_follow_their_location_to_its_new_organisation(
    practice: Practice,
) -> None:
    practice.setup()
    practice.host.save_client(client("c1", 1))
    practice.host.create_invoice(invoice("i1", 1, "c1", "2025-03-01"))
    assert practice.ledger.find("invoice", "i1", "T1") is not None

    moved = settings(locations={"syd": "T2", "lon": "T2"})
    assert practice.host.save_plugin_settings("xero", moved) == []

    assert practice.ledger.find("invoice", "i1", "T1") is None
    assert practice.ledger.find("invoice", "i1", "T2") is not None
    assert practice.ledger.find("contact", "c1", "T2") is not None
    assert not any(tenant == "T1" for tenant, _, _ in recount(practice)), "counts follow too"


def test_a_location_with_records_in_xero_cannot_move_to_another_organisation(
    practice: Practice,
) -> None:
    practice.setup()
    practice.host.start_contact_sync(None)
    practice.host.save_client(client("c1", 1))
    practice.host.create_invoice(invoice("i1", 1, "c1", "2025-03-01"))
    practice.drain()
    assert practice.state("invoice", "i1")[0] == "synced"

    moved = settings(locations={"syd": "T2", "lon": "T2"})
    errors = practice.host.save_plugin_settings("xero", moved)
    assert any("locations.syd.tenant_id" in e and "already in organisation T1" in e for e in errors)

    practice.engine.apply_settings(moved)  # a host that saves without validating
    assert practice.engine.settings is not None
    assert practice.engine.settings.tenant_for("syd") == "T1"


def test_a_location_with_a_record_that_failed_after_a_lost_answer_cannot_move(
    practice: Practice,
) -> None:
    practice.setup()
    practice.host.start_contact_sync(None)
    practice.host.save_client(client("c1", 1))
    [row] = practice.ledger.claim("T1", "contact", worker_id="w", now=practice.host.now())
    practice.ledger.mark_sent([row.id], "k1")  # the create went out; its answer was lost
    practice.ledger.mark_failed(row.id, "could not be mapped", outcome_known=False)

    moved = settings(locations={"syd": "T2", "lon": "T2"})
    errors = practice.host.save_plugin_settings("xero", moved)

    [error] = [e for e in errors if "locations.syd.tenant_id" in e]
    assert "1 records of Sydney may already be in organisation T1" in error
    assert "1 of them failed after a lost answer: retry them" in error
    assert practice.ledger.find("contact", "c1", "T1") is not None, "nothing moved"
