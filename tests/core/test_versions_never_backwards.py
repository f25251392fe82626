"""An older version of a record arriving after a newer one (a spooled record replayed after the
reconciliation wrote the newer one, a kept hook overtaken by the next) is never written over it:
the host's ``updated_at`` decides, on every way into the ledger."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from support.ledger_helpers import Practice, client, invoice

from pm_xero_plugin import plugin


def _total_in_ledger(practice: Practice, invoice_id: str) -> str:
    row = practice.ledger.find("invoice", invoice_id, "T1")
    assert row is not None
    return str(row.payload["total"])


def _version(stored: dict[str, Any], total: str, minutes: int) -> dict[str, Any]:
    """The stored invoice as it was (or will be) ``minutes`` from its stored version."""
    moment = datetime.fromisoformat(stored["updated_at"]) + timedelta(minutes=minutes)
    return {**stored, "total": total, "updated_at": moment.isoformat()}


def test_an_older_version_arriving_late_is_not_written_over_the_newer(
    practice: Practice,
) -> None:
    practice.setup()
    practice.host.save_client(client("c1", 1))
    stored = dict(practice.host.create_invoice(invoice("i1", 1, "c1", "2025-02-10")))
    newest = stored["total"]

    plugin.on_invoice_updated(
        invoice=_version(stored, "55.00", -30), practice_id=None
    )  # late: overtaken
    assert _total_in_ledger(practice, "i1") == newest

    plugin.on_invoice_updated(invoice=_version(stored, "99.00", 30), practice_id=None)
    assert _total_in_ledger(practice, "i1") == "99.00"  # a newer one is still written
