"""The sandbox's own read-only page of one document: ``GET /sandbox/view/<collection>/<id>``.

The real Xero has a web app to open an invoice in; the sandbox has none, so the add-on's
dashboard links a record synced to the sandbox here instead: the organisation, the document's
main fields and everything stored, as Xero's API would answer it. Every value is escaped (a
customer's name is whatever the host sent); nothing here changes anything.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from .dates import render
from .web import Response, text_response

if TYPE_CHECKING:
    from .orgs import Org

__all__ = ["COLLECTIONS", "PREFIX", "document_page"]

PREFIX: Final = "/sandbox/view/"

COLLECTIONS: Final = {
    "invoices": ("invoices", "Invoice", ("InvoiceNumber", "Type", "Status", "Date", "Total")),
    "creditnotes": (
        "credit_notes",
        "Credit note",
        ("CreditNoteNumber", "Type", "Status", "Date", "Total", "RemainingCredit"),
    ),
    "contacts": ("contacts", "Contact", ("Name", "ContactNumber", "ContactStatus", "EmailAddress")),
    "payments": ("payments", "Payment", ("Reference", "Status", "Date", "Amount")),
    "overpayments": ("overpayments", "Overpayment", ("Status", "Date", "Total", "RemainingCredit")),
    "prepayments": ("prepayments", "Prepayment", ("Status", "Date", "Total", "RemainingCredit")),
    "banktransactions": (
        "bank_transactions",
        "Bank transaction",
        ("Type", "Reference", "Status", "Date", "Total"),
    ),
    "banktransfers": ("bank_transfers", "Bank transfer", ("Reference", "Date", "Amount")),
}
"""URL segment -> (the organisation's store, what it is called, the fields shown first)."""


def _page(status: int, title: str, body: str) -> Response:
    page = (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)} · pm-xero sandbox</title>"
        "<style>body{font:15px/1.45 system-ui,sans-serif;margin:24px;max-width:960px}"
        "th{text-align:left;padding-right:16px;color:#616e7c}"
        "pre{background:#f0f4f8;padding:8px;overflow:auto}</style></head>"
        f"<body><p><a href='/'>pm-xero sandbox</a></p>{body}</body></html>"
    )
    response = text_response(status, page, "text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response


def _contact_name(document: Mapping[str, Any]) -> str | None:
    contact = document.get("Contact")
    if isinstance(contact, Mapping):
        return str(contact.get("Name") or contact.get("ContactID") or "") or None
    return None


def document_page(orgs: Mapping[str, Org], path: str) -> Response:
    """The page of the document ``path`` names (``/sandbox/view/invoices/<id>``), in whichever
    organisation holds it; 404 in words when none does."""
    parts = path[len(PREFIX) :].strip("/").split("/")
    if len(parts) != 2 or parts[0] not in COLLECTIONS:
        known = ", ".join(sorted(COLLECTIONS))
        return _page(404, "Not found", f"<h1>No such page</h1><p>The views are: {known}.</p>")
    collection, doc_id = parts
    store, label, first = COLLECTIONS[collection]
    for org in orgs.values():
        document = getattr(org, store).get(doc_id)
        if document is None:
            document = getattr(org, store).get(doc_id.lower())
        if document is None:
            continue
        shown = render(document)
        rows = "".join(
            f"<tr><th>{html.escape(key)}</th><td>{html.escape(str(shown[key]))}</td></tr>"
            for key in first
            if shown.get(key) not in (None, "")
        )
        customer = _contact_name(shown)
        if customer:
            rows += f"<tr><th>Contact</th><td>{html.escape(customer)}</td></tr>"
        body = (
            f"<h1>{html.escape(label)} {html.escape(doc_id)}</h1>"
            f"<p>In <strong>{html.escape(org.name)}</strong> "
            f"(<code>{html.escape(org.tenant_id)}</code>) – read-only.</p>"
            f"<table>{rows}</table><h2>As the API answers it</h2>"
            f"<pre>{html.escape(json.dumps(shown, indent=2, default=str))}</pre>"
        )
        return _page(200, f"{label} {doc_id}", body)
    return _page(
        404,
        "Not found",
        f"<h1>No {html.escape(label.lower())} {html.escape(doc_id)}</h1>"
        "<p>No organisation in this sandbox holds it.</p>",
    )
