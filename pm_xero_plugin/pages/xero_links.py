"""Where a synced record is, in Xero's web app and in the sandbox's own view of it.

Xero's deep links are the ones its own tools use (the XeroAPI MCP server's ``deeplinks``):
``https://go.xero.com/AccountsReceivable/View.aspx?InvoiceID=…`` opens the invoice in the
organisation the admin is signed in to. With the organisation's ShortCode (``!xkY2p``, from
``GET /Organisation``) the link goes through ``organisationlogin`` first, so it opens in *that*
organisation even when the admin last looked at another.

When Xero is the sandbox (``Pages.sandbox_url()`` is set) a record is also linked to the
sandbox's own read-only page of it (``/sandbox/view/<collection>/<id>``): the sandbox has no
Xero web app to open.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import quote

__all__ = ["SANDBOX_COLLECTIONS", "sandbox_link", "xero_link"]

_GO: Final = "https://go.xero.com"
_PATHS: Final = {
    "invoice": "/AccountsReceivable/View.aspx?InvoiceID={id}",
    "credit_note": "/AccountsReceivable/ViewCreditNote.aspx?creditNoteID={id}",
    "contact": "/Contacts/View/{id}",
    "payment": "/Bank/ViewTransaction.aspx?bankTransactionID={id}",
    "overpayment": "/Bank/ViewTransaction.aspx?bankTransactionID={id}",
    "payout_fee": "/Bank/ViewTransaction.aspx?bankTransactionID={id}",
    "credit_note_refund": "/Bank/ViewTransaction.aspx?bankTransactionID={id}",
    "overpayment_refund": "/Bank/ViewTransaction.aspx?bankTransactionID={id}",
    "deposit_refund": "/Bank/ViewTransaction.aspx?bankTransactionID={id}",
}
"""The page of each kind in Xero's web app. An allocation has none of its own (it lives on the
credit note), and its ledger id is not a Xero id; nor has a deposit's allocation. A deposit (kept
by its PrepaymentID) and a payout (a BankTransferID) are not linked: the web app's pages for
them are not known to take those ids."""

SANDBOX_COLLECTIONS: Final = {
    "invoice": "invoices",
    "credit_note": "creditnotes",
    "contact": "contacts",
    "payment": "payments",
    "overpayment": "overpayments",
    "deposit": "prepayments",
    "credit_note_refund": "payments",
    "overpayment_refund": "payments",
    "deposit_refund": "payments",
    "payout_fee": "banktransactions",
    "payout": "banktransfers",
}
"""The sandbox's view of each kind: ``/sandbox/view/<collection>/<id>``."""

_XERO_ID: Final = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
"""Xero's ids are GUIDs; anything else in ``xero_id`` (an allocation's key) has no page."""


def xero_link(kind: str, xero_id: str | None, short_code: str | None = None) -> str | None:
    """The record's page in Xero's web app, or ``None`` when it has none (not in Xero yet, or a
    kind without a page)."""
    path = _PATHS.get(kind)
    if path is None or not xero_id or not _XERO_ID.match(xero_id):
        return None
    target = path.format(id=xero_id)
    if not short_code:
        return _GO + target
    return (
        f"{_GO}/organisationlogin/default.aspx?shortcode={quote(short_code, safe='')}"
        f"&redirecturl={quote(target, safe='')}"
    )


def sandbox_link(root: str | None, kind: str, xero_id: str | None) -> str | None:
    """The sandbox's page of the record, or ``None`` (no sandbox, not there, no such page)."""
    collection = SANDBOX_COLLECTIONS.get(kind)
    if not root or collection is None or not xero_id or not _XERO_ID.match(xero_id):
        return None
    return f"{root.rstrip('/')}/sandbox/view/{collection}/{xero_id}"
