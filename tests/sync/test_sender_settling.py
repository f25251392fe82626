"""How the sender settles rows Xero cannot or will not take: pinned with a recording ledger and
a scripted client (the loopback end-to-end runs live in tests/e2e)."""

from __future__ import annotations

import contextlib
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

    def meta(self, key: str) -> None:
        return None  # never reconciled: no Xero-side change holds an update

    def pending_xero_events(self, limit: int = 500) -> list[Any]:
        return []  # no webhook event waits to be looked at

    def xero_copies(self, tenant_id: str, kind: str, xero_ids: Any = None) -> dict[str, Any]:
        return {}  # no version of Xero's kept: an update has nothing to be read against

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


@dataclass
class TransactionalLedger(Ledger):
    """The recording ledger, with the reads and the transaction an adoption in doubt uses."""

    def transaction(self) -> Any:
        return contextlib.nullcontext()

    def get(self, row_id: int) -> None:
        return None

    def set_fields(self, row_id: int, **changes: Any) -> None:
        self.calls.append(("set_fields", ((row_id,), changes)))


def test_a_payment_in_doubt_changed_since_is_adopted_then_refused_never_paid_twice() -> None:
    """Its create's answer was lost and it changed before the retry: Xero's payment of our
    invoice under our reference is ours. Xero cannot edit a payment, so the row fails by the
    edit-refusal rule (with Xero's id kept) instead of going out again as a second payment."""
    row = Row(1, "payment", "p-1:i-1", dict(PAYMENT, amount="12.00"), uncertain=True, attempts=1)
    row.payload["allocations"] = [{"invoice_id": "i-1", "amount": "12.00"}]
    ledger, client = TransactionalLedger(), Client()
    in_xero = {
        "PaymentID": "PX",
        "Invoice": {"InvoiceID": "invoice-i-1-xero"},
        "Amount": 10.0,
        "Date": "2025-03-01",
        "Reference": "PAY12",
        "Status": "AUTHORISED",
    }
    client.find_payments_by_reference = lambda *a, **k: {"PAY12": [in_xero]}  # type: ignore[attr-defined]

    sender(ledger, client).send(TENANT, "payment", [row])

    assert client.sent == [], "a second PUT would pay the invoice twice"
    assert ledger.states() == ["mark_synced", "mark_failed"]
    synced = next(args for name, (args, _) in ledger.calls if name == "mark_synced")
    assert synced[:2] == (1, "PX")
    assert synced[2]["differs"] == ["Amount"]
    (args, kwargs) = next(a for name, a in ledger.calls if name == "mark_failed")
    assert "does not allow editing a payment" in args[1]
    assert "Delete it in Xero" in kwargs["hint"]
    [logged] = [args[2] for name, (args, _) in ledger.calls if name == "add_log"]
    assert "ours by Invoice, Date, Reference; differs in Amount" in logged


INVOICE = {
    "id": "i-1",
    "number": 5,
    "location_id": "syd",
    "client_id": "c-1",
    "date": "2025-03-01",
    "due_date": "2025-03-15",
    "currency": "AUD",
    "line_amount_types": "no_tax",
    "lines": [LINE, LINE],
    "total": "20.00",
    "status": "open",
    "updated_at": "2025-03-01T09:00:00+11:00",
}
OLDER_INVOICE_IN_XERO = {
    "InvoiceID": "IX",
    "InvoiceNumber": "INV5",
    "Contact": {"ContactID": "contact-c-1-xero"},
    "Total": 10.0,
    "DateString": "2025-03-01T00:00:00",
    "Status": "AUTHORISED",
}
"""Our INV5 as first sent (10.00): the host's version (:data:`INVOICE`, 20.00) is an edit."""


def test_an_invoice_in_doubt_changed_since_is_adopted_and_its_edit_queued_as_an_update() -> None:
    """Its create's answer was lost and staff changed its total before the retry: Xero's
    INV5 for our contact is our older version, not a clash telling the admin to void it."""
    row = Row(1, "invoice", "i-1", INVOICE, uncertain=True, attempts=1)
    ledger, client = TransactionalLedger(), Client()
    found = {"INV5": OLDER_INVOICE_IN_XERO}
    client.find_invoices_by_number = lambda *a, **k: found  # type: ignore[attr-defined]

    sender(ledger, client).send(TENANT, "invoice", [row])

    assert client.sent == [], "not created a second time"
    assert [name for name, _ in ledger.calls if name != "add_log"] == ["set_fields", "mark_synced"]
    assert ledger.calls[1][1] == ((1,), {"pending_op": "update"}), "the edit follows as an update"
    synced = next(args for name, (args, _) in ledger.calls if name == "mark_synced")
    assert synced[:2] == (1, "IX")
    assert synced[2]["decided_by"] == ["Contact", "Date"]
    assert synced[2]["differs"] == ["Total"]


class Refusing(Client):
    """Xero refuses the create: the number is taken (by what its look-up then shows)."""

    def send_batch(
        self, tenant: str, conn: str, method: str, endpoint: str, elements: list[Any], **_: Any
    ) -> list[ElementResult]:
        self.sent.append((method, endpoint, elements))
        error = "Invoice # must be unique."
        return [
            ElementResult(index=i, ok=False, xero_id=None, element=e, errors=[error], warnings=[])
            for i, e in enumerate(elements)
        ]


@pytest.mark.parametrize("in_doubt", [False, True], ids=["never-sent", "sent-before"])
def test_a_duplicate_number_for_our_contact_with_another_total_is_ours_only_if_sent_before(
    in_doubt: bool,
) -> None:
    """Xero refused the create as a duplicate number, and its INV5 is for our contact with
    another total: ours only when this row may have been sent before (its outcome unknown);
    a row never sent meets a clash, as before."""
    row = Row(1, "invoice", "i-1", INVOICE, uncertain=in_doubt, attempts=int(in_doubt))
    ledger, client = TransactionalLedger(), Refusing()
    looked = iter(
        [{}, {"INV5": OLDER_INVOICE_IN_XERO}] if in_doubt else [{"INV5": OLDER_INVOICE_IN_XERO}]
    )
    client.find_invoices_by_number = lambda *a, **k: next(looked)  # type: ignore[attr-defined]

    sender(ledger, client).send(TENANT, "invoice", [row])

    assert [m for m, _, _ in client.sent] == ["PUT"]
    if in_doubt:
        assert ledger.states() == ["set_fields", "mark_synced"]
    else:
        assert ledger.states() == ["mark_failed"]
        (args, kwargs) = next(a for name, a in ledger.calls if name == "mark_failed")
        assert "differs in Total; not linked" in args[1]
        assert "void (or renumber) the other one" in kwargs["hint"]


REFUND = {
    "id": "r-1",
    "number": 3,
    "location_id": "syd",
    "client_id": "c-1",
    "paid_date": "2025-03-02",
    "amount": "10.00",
    "currency": "AUD",
    "method": "cash",
    "credit_note_id": "cn-1",
    "updated_at": "2025-03-02T09:00:00+11:00",
}


@dataclass
class RefusingExceeds(Client):
    message: str = "Payment amount exceeds the amount outstanding on this document"

    def send_batch(
        self, tenant: str, conn: str, method: str, endpoint: str, elements: list[Any], **_: Any
    ) -> list[ElementResult]:
        self.sent.append((method, endpoint, elements))
        return [
            ElementResult(
                index=i, ok=False, xero_id=None, element=e, errors=[self.message], warnings=[]
            )
            for i, e in enumerate(elements)
        ]


def test_a_refund_xero_refuses_as_exceeding_is_told_about_its_credit_not_an_invoice() -> None:
    ledger, client = Ledger(), RefusingExceeds()
    row = Row(1, "credit_note_refund", "r-1", REFUND)

    sender(ledger, client).send(TENANT, "credit_note_refund", [row])

    [(method, endpoint, [element])] = client.sent
    assert (method, endpoint) == ("PUT", "Payments")
    assert element["CreditNote"] == {"CreditNoteID": "credit_note-cn-1-xero"}
    [(_, (_, kwargs))] = [c for c in ledger.calls if c[0] == "mark_failed"]
    assert "less credit left on the credit note" in kwargs["hint"]
