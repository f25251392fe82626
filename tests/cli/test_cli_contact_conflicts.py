"""The ways out of a contact Xero gives to someone else's name, from a terminal (issue 9, item 3):
``pm-xero status`` lists the held contacts with the one in Xero and the commands;
``pm-xero resolve ROW --link-contact`` links it; ``pm-xero retry ROW --distinct-name`` creates
ours under a distinct name. Run against a real host data directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.cli_practice import PracticeDir, contact_synced_host, run_verb

THEIRS = "3f2a9c1e-5b7d-4e21-9a0c-1d2e3f4a5b6c"
"""The ContactID of the contact someone typed into Xero by hand with Ann Lee2's name."""


def _held_practice(root: Path) -> PracticeDir:
    """Contact sync ran; Xero refused customers c2 (T1) and c3 (T2) for their names, the one
    in T1 found in Xero without our number; everything else reached Xero."""
    with contact_synced_host(root) as (host, engine):
        led = engine.ledger
        rows = {}
        for tenant in ("T1", "T2"):
            for row in led.claim(tenant, "contact", worker_id="test", now=host.now()):
                led.mark_sent([row.id], f"k{row.id}")
                rows[row.host_id] = row.id
                said = f"The contact name Ann Lee{row.number} (C{row.number}) is already assigned"
                if row.host_id == "c2":
                    match = {"ContactID": THEIRS, "Name": "Ann Lee2 (C2)"}
                    led.hold_contact(row.id, said + " to another contact.", match)
                elif row.host_id == "c3":
                    led.hold_contact(row.id, said + " to another contact.", None)
                else:
                    led.mark_synced(row.id, f"X-contact-{row.host_id}")
        host.backfill(None, None)
        return PracticeDir(root, rows["c2"], rows["c3"], rows["c1"], rows)


@pytest.fixture
def held(tmp_path: Path) -> PracticeDir:
    return _held_practice(tmp_path / "pm")


def test_status_lists_held_contacts_with_the_one_in_xero_and_the_ways_out(
    held: PracticeDir,
) -> None:
    code, out = run_verb(held, "status", "--json")
    assert code == 0, out
    status = json.loads(out)
    assert status["contact_conflicts_total"] == 2
    conflicts = {c["row_id"]: c for c in status["contact_conflicts"]}
    linked = conflicts[held.rows["c2"]]
    assert linked["xero_contact"] == {"ContactID": THEIRS, "Name": "Ann Lee2 (C2)"}
    assert (linked["contact_number"], linked["name"]) == ("C2", "Ann Lee2 (C2)")
    assert linked["documents_waiting"] >= 1  # invoice #3 waits for its customer
    commands = {w["action"]: w["command"] for w in linked["ways_out"]}
    assert commands["link_contact"].endswith(f"resolve {held.rows['c2']} --link-contact {THEIRS}")
    assert commands["create_distinct"].endswith(f"retry {held.rows['c2']} --distinct-name")
    assert conflicts[held.rows["c3"]]["xero_contact"] is None


def test_link_contact_links_the_held_contact_and_its_documents_go(held: PracticeDir) -> None:
    invoice = held.ledger().find("invoice", "i3", "T1")
    assert invoice is not None
    assert (invoice.state, invoice.gate) == ("waiting", "contact")
    assert "name is taken in Xero" in str(invoice.detail)

    code, out = run_verb(held, "resolve", str(held.rows["c2"]), "--link-contact")
    assert code == 0, out
    assert f"row {held.rows['c2']} (contact #2 in T1): waiting (contact_name_taken) -> ready" in out
    contact = held.row(held.rows["c2"])
    assert (contact.xero_id, contact.operation) == (THEIRS, "update")  # our number goes onto it
    invoice = held.ledger().find("invoice", "i3", "T1")
    assert invoice is not None
    assert invoice.state == "ready"


def test_distinct_name_creates_ours_under_the_location_added(held: PracticeDir) -> None:
    code, out = run_verb(held, "retry", str(held.rows["c3"]), "--distinct-name")
    assert code == 0, out
    assert "to be created as 'Ann Lee3 (C3, London)'" in out
    contact = held.row(held.rows["c3"])
    assert (contact.state, contact.xero_name) == ("ready", "Ann Lee3 (C3, London)")

    code, out = run_verb(held, "retry", str(held.rows["c2"]), "--distinct-name", "Ann Lee (Bondi)")
    assert code == 0, out
    assert held.row(held.rows["c2"]).xero_name == "Ann Lee (Bondi)"


def test_the_ways_out_refuse_what_they_cannot_do_in_one_line(held: PracticeDir) -> None:
    code, out = run_verb(held, "resolve", str(held.rows["c3"]), "--link-contact")
    assert code != 0
    assert "give the ContactID" in out
    assert "Traceback" not in out
    code, out = run_verb(held, "resolve", str(held.rows["c2"]), "--link-contact", "not-a-guid")
    assert code != 0
    assert "is not a Xero ContactID" in out
    code, out = run_verb(held, "retry", str(held.rows["c1"]), "--distinct-name")
    assert code != 0
    assert "only a held or failed one is renamed" in out
    code, out = run_verb(held, "retry", "--all-failed", "--distinct-name")
    assert code == 2
    assert "--distinct-name needs the ROW_ID" in out
