"""The ledger's row columns, as every backend stores them (one list, not a copy per backend).

The names are the interface's own (:class:`~pm_xero_plugin.ledger.types.Row`,
:class:`~pm_xero_plugin.ledger.types.Facts`); a backend reads them in this order and lets a
``transition``/``set_fields`` change only :data:`UPDATABLE`.
"""

from __future__ import annotations

__all__ = ["DEP_COLUMN", "FACT_COLUMNS", "MAX_TEXT", "ROW_COLUMNS", "UPDATABLE"]

DEP_COLUMN = {
    "contact": "dep_contact",
    "invoice": "dep_invoice",
    "credit_note": "dep_credit_note",
    "overpayment": "dep_credit_note",
    "deposit": "dep_credit_note",
}
"""The column a dependant names a parent of each kind in. ``dep_credit_note`` holds the credit a
row draws on: a credit note, an overpayment (a refund of it) or a deposit (its allocations and
refunds); a credit note and a deposit sharing a host id only costs a needless re-gate."""

MAX_TEXT = 16_384
"""Cap on a stored reply or message: the log is for people, not a copy of Xero's database."""

ROW_COLUMNS = (
    "id, kind, host_id, tenant_id, location_id, state, gate, detail, doc_date, number, "
    "dep_contact, dep_invoice, dep_credit_note, include_before_start, payload, payload_hash, "
    "operation, pending_op, xero_id, attempts, next_at, lease_until, uncertain, message, field, "
    "hint, updated_at, priority, xero_match, xero_name, dep_invoice_date, claim_token, created_at"
)
FACT_COLUMNS = (
    "id, kind, host_id, tenant_id, location_id, state, gate, doc_date, dep_contact, dep_invoice, "
    "dep_credit_note, include_before_start, xero_id, payload_hash, operation, number, "
    "dep_invoice_date"
)
UPDATABLE = frozenset(
    {
        "state",
        "gate",
        "detail",
        "tenant_id",
        "payload",
        "payload_hash",
        "operation",
        "pending_op",
        "xero_id",
        "include_before_start",
        "message",
        "field",
        "hint",
        "reply",
        "next_at",
        "lease_until",
        "worker_id",
        "uncertain",
        "doc_date",
        "number",
        "dep_contact",
        "dep_invoice",
        "dep_credit_note",
        "dep_invoice_date",
        "priority",
        "xero_match",
        "xero_name",
    }
)
