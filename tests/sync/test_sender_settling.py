"""How the sender settles rows Xero cannot or will not take: pinned with a recording ledger and
a scripted client (the loopback end-to-end runs live in tests/e2e)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, get_args

import pytest

from hookspecs.records import PaymentMethod
from pm_xero_plugin.sync.sender import MAX_ATTEMPTS, BatchSender
from pm_xero_plugin.xero.client import ElementResult
from pm_xero_plugin.xero.errors import NotFound, TransientError

TENANT = "0b9f7c58-0d3a-4e0b-9b8e-5d0a7f0c1a11"
NOW = datetime(2025, 3, 2, 9, 0, tzinfo=UTC)

SETTINGS: dict[str, Any] = {
    "enabled": True,
    "prefixes": {"client": "C", "invoice": "INV", "credit_note": "CN", "payment": "PAY"},
    "organisation_mode": "per_location",
    "locations": {"syd": {"tenant_id": TENANT, "connection_enabled": True}},
    "account_codes": {
        TENANT: {
            "income": {"default": "200"},
            "credit_notes": "200",
            "payments": {m: "090" for m in get_args(PaymentMethod)},
            "overpayments": "610",
            "rounding": "860",
            "tax_types": {"10": "OUTPUT", "0": "EXEMPTOUTPUT"},
        }
    },
    "start_date": "2025-01-01",
}

LINE = {"description": "Night", "category": "boarding", "quantity": "1", "unit_price": "10.00"}
CREDIT_NOTE = {
    "id": "cn-1",
    "number": 7,
    "location_id": "syd",
    "client_id": "c-1",
    "date": "2025-03-01",
    "currency": "AUD",
    "line_amount_types": "no_tax",
    "lines": [LINE],
    "total": "10.00",
    "updated_at": "2025-03-01T09:00:00+11:00",
}
PAYMENT = {
    "id": "p-1",
    "number": 12,
    "location_id": "syd",
    "client_id": "c-1",
    "paid_date": "2025-03-01",
    "amount": "10.00",
    "currency": "AUD",
    "method": "cash",
    "allocations": [{"invoice_id": "i-1", "amount": "10.00"}],
    "updated_at": "2025-03-01T09:00:00+11:00",
}


@dataclass
class Row:
    id: int
    kind: str
    host_id: str
    payload: dict[str, Any]
    xero_id: str | None = None
    operation: str = "create"
    attempts: int = 0
    uncertain: bool = False
    tenant_id: str = TENANT
    location_id: str = "syd"
    xero_name: str | None = None


@dataclass
class Ledger:
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def xero_id(self, kind: str, host_id: str, tenant_id: str) -> str:
        return f"{kind}-{host_id}-xero"

    def found_in_xero(self, kind: str, host_ids: Any, tenant_id: str) -> set[str]:
        return set()  # no parent of these rows was found in Xero by a contact sync

    def find(self, kind: str, host_id: str, tenant_id: str) -> None:
        return None  # the customer of a document looked up is not needed by these tests

    def __getattr__(self, name: str) -> Any:
        if not name.startswith(("mark_", "release", "add_log")):
            raise AttributeError(name)

        def record(*args: Any, **kwargs: Any) -> None:
            self.calls.append((name, (args, kwargs)))

        return record

    def states(self) -> list[str]:
        return [name for name, _ in self.calls if name not in ("mark_sent", "add_log")]


@dataclass
class Client:
    raises: Exception | None = None
    sent: list[tuple[str, str, list[dict[str, Any]]]] = field(default_factory=list)

    def send_batch(
        self, tenant: str, conn: str, method: str, endpoint: str, elements: list[Any], **_: Any
    ) -> list[ElementResult]:
        self.sent.append((method, endpoint, elements))
        if self.raises is not None:
            raise self.raises
        return [
            ElementResult(index=i, ok=True, xero_id=f"x-{i}", element=e, errors=[], warnings=[])
            for i, e in enumerate(elements)
        ]


def sender(ledger: Ledger, client: Client) -> BatchSender:
    return BatchSender(
        ledger, client, settings=lambda: SETTINGS, connection_for=lambda t: "syd", now=lambda: NOW
    )


@pytest.mark.parametrize("kind", ["payment", "overpayment"])
def test_a_payment_changed_after_it_reached_xero_is_refused_not_sent_again(kind: str) -> None:
    ledger, client = Ledger(), Client()
    row = Row(1, kind, "p-1:i-1", PAYMENT, xero_id="PX", operation="update")

    sender(ledger, client).send(TENANT, kind, [row])

    assert client.sent == [], "a second PUT would add a second payment in Xero"
    [(name, (args, kwargs))] = ledger.calls
    assert name == "mark_failed"
    assert "cannot edit" in args[1]
    assert "Delete it in Xero" in kwargs["hint"]


def test_a_credit_note_changed_after_sync_is_posted_as_an_update_of_that_credit_note() -> None:
    ledger, client = Ledger(), Client()
    row = Row(1, "credit_note", "cn-1", CREDIT_NOTE, xero_id="CNX", operation="update")

    sender(ledger, client).send(TENANT, "credit_note", [row])

    [(method, endpoint, [element])] = client.sent
    assert (method, endpoint, element["CreditNoteID"]) == ("POST", "CreditNotes", "CNX")
    assert ledger.states() == ["mark_synced"]


def test_a_document_xero_no_longer_has_fails_with_a_hint_instead_of_retrying_for_ever() -> None:
    ledger, client = Ledger(), Client(raises=NotFound("Not Found", tenant_id=TENANT, status=404))
    row = Row(1, "credit_note", "cn-1", CREDIT_NOTE, xero_id="CNX", operation="update")

    sender(ledger, client).send(TENANT, "credit_note", [row])

    assert ledger.states() == ["mark_failed"]
    assert "deleted in Xero" in ledger.calls[-1][1][1]["hint"]


def test_a_row_that_keeps_failing_stops_retrying_after_the_cap_unless_it_is_in_doubt() -> None:
    failure = TransientError("Xero is unavailable", tenant_id=TENANT)
    worn = Row(1, "credit_note", "cn-1", CREDIT_NOTE, attempts=MAX_ATTEMPTS)
    young = Row(2, "credit_note", "cn-2", dict(CREDIT_NOTE, id="cn-2", number=8))
    doubtful = Row(
        3, "credit_note", "cn-3", dict(CREDIT_NOTE, id="cn-3", number=9), attempts=MAX_ATTEMPTS
    )
    doubtful.uncertain = True
    ledger = Ledger()
    client = Client(raises=failure)
    client.find_credit_notes_by_number = lambda *a, **k: {}  # type: ignore[attr-defined]

    sender(ledger, client).send(TENANT, "credit_note", [worn, young, doubtful])

    settled = {args[0]: name for name, (args, _) in ledger.calls if name != "mark_sent"}
    assert settled == {1: "mark_failed", 2: "mark_retrying", 3: "mark_retrying"}


def test_an_overpayment_in_doubt_is_found_by_its_line_when_xero_dropped_the_reference() -> None:
    overpaid = dict(PAYMENT, amount="15.00")
    row = Row(1, "overpayment", "p-1", overpaid, uncertain=True)
    ledger, client = Ledger(), Client()
    client.find_overpayments_by_reference = lambda *a, **k: {}  # type: ignore[attr-defined]
    in_xero = {
        "OverpaymentID": "OP-1",
        "Total": 5.0,
        "LineItems": [{"Description": "Overpayment on payment PAY12", "LineAmount": 5.0}],
    }
    client.find_overpayments_of_contact = lambda *a, **k: [in_xero]  # type: ignore[attr-defined]

    sender(ledger, client).send(TENANT, "overpayment", [row])

    assert client.sent == [], "adopted, not sent a second time"
    [(logged, (noted, _)), (name, (args, _))] = ledger.calls
    assert (name, args[0], args[1]) == ("mark_synced", 1, "OP-1")
    assert args[2]["decided_by"] == ["Contact", "line description", "Total"]
    assert logged == "add_log"
    assert "ours by Contact, line description, Total" in noted[2]
