"""The terminal dashboard draws contact clashes (customers held because Xero gives their name
to a contact that is not ours) once, with the contact Xero has and every way out's command –
from the same data the host's dashboard gets (``sync_status['contact_conflicts']``)."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from pm_xero_plugin.dashboard.render import print_preview, print_status

CONFLICT: dict[str, Any] = {
    "row_id": 3,
    "host_id": "c-13",
    "number": 13,
    "contact_number": "C13",
    "name": "Oliver King (C13)",
    "location_id": "syd",
    "tenant_id": "T1",
    "xero_contact": {"ContactID": "abc-1", "Name": "Oliver King (C13)", "ContactNumber": None},
    "message": "The contact name Oliver King (C13) is already assigned to another contact.",
    "documents_waiting": 4,
    "ways_out": [
        {
            "action": "link_contact",
            "command": "pm-xero resolve 3 --link-contact abc-1",
            "says": "it is this customer: link it",
        },
        {
            "action": "create_distinct",
            "command": "pm-xero retry 3 --distinct-name",
            "says": "it is someone else: create ours as 'Oliver King (C13, Sydney)'",
        },
    ],
}


def _text(draw: Any, data: dict[str, Any]) -> str:
    console = Console(record=True, width=80)
    draw(data, console=console)
    return " ".join(console.export_text().split())


def test_a_held_contact_is_drawn_once_with_the_xero_contact_and_the_ways_out() -> None:
    status = {
        "enabled": True,
        "organisations": [
            {"tenant_id": "T1", "locations": ["syd"], "connected": True, "contact_conflicts": 1}
        ],
        "failures": [
            {
                "row_id": 3,
                "kind": "contact",
                "state": "waiting",
                "gate": "contact_name_taken",
                "actions": ["link_contact"],
            },
            {"row_id": 9, "kind": "invoice", "state": "failed", "actions": ["retry"]},
        ],
        "failures_total": 2,
        "contact_conflicts": [CONFLICT],
        "contact_conflicts_total": 1,
    }
    text = _text(print_status, status)
    assert "contact clashes: 1 customer held" in text
    assert "1 customer held: Xero gives the name to a contact without our contact number" in text
    assert "row 3 contact 'Oliver King (C13)' at syd held – 4 documents waiting" in text
    assert "Xero has 'Oliver King (C13)' (ContactID abc-1, no contact number)" in text
    assert "pm-xero resolve 3 --link-contact abc-1 – it is this customer: link it" in text
    assert "pm-xero retry 3 --distinct-name – it is someone else" in text
    assert text.count("row 3 ") == 1, "listed with the clashes, not again with the failures"
    assert "row 9 invoice failed" in text
    assert "more:" not in text


def test_the_preview_lists_the_held_contacts_of_an_organisation() -> None:
    report = {
        "start_date": "2025-02-01",
        "organisations": [
            {
                "tenant_id": "T1",
                "locations": ["syd"],
                "kinds": {},
                "contact_conflicts": {"count": 1, "records": [CONFLICT]},
            }
        ],
    }
    text = _text(print_preview, report)
    assert "row 3 contact 'Oliver King (C13)' at syd held" in text
    assert "pm-xero resolve 3 --link-contact abc-1" in text
