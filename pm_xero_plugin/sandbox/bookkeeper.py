"""The bookkeeper API: what a person does in Xero's web app, for tests and the demo to script.

After a sync, bookkeepers keep working in Xero – they void an invoice, delete a payment, edit a
contact, apply a credit note by hand – and the add-on must notice. ``POST|PUT
/sandbox/xero/{tenant}/{Accounting path}`` runs the very operation ``/api.xro/2.0/{path}`` runs
for that organisation (the same rules, validation and answers, and the same webhooks) but as that
person: no token, no rate limits, not counted as the app's calls, and recorded in
``/sandbox/requests`` with ``"by": "bookkeeper"`` – so a test can change the books behind the
add-on's back without spending the add-on's budget or disturbing what it measures. ``GET`` reads
the same way (no events, nothing counted).
"""

from __future__ import annotations

__all__ = ["EXAMPLES", "METHODS", "PREFIX", "parse"]

PREFIX = "/sandbox/xero/"
METHODS = ("GET", "POST", "PUT")

#: What the sandbox's home page lists (method, path after the tenant, body, what it does).
EXAMPLES = (
    ("POST", "Invoices/{id}", '{"Status": "VOIDED"}', "void an invoice"),
    ("POST", "Payments/{id}", '{"Status": "DELETED"}', "delete a payment"),
    ("POST", "Contacts/{id}", '{"EmailAddress": "new@example.com"}', "edit a contact"),
    ("PUT", "CreditNotes", '{"CreditNotes": [ … ]}', "create a credit note"),
    (
        "PUT",
        "CreditNotes/{id}/Allocations",
        '{"Allocations": [{"Invoice": {"InvoiceID": …}, "Amount": 5}]}',
        "apply it to an invoice",
    ),
    ("POST", "Invoices/{id}", '{"LineItems": [ … ]}', "change an invoice's lines (its total)"),
)


def parse(path: str) -> tuple[str, str] | None:
    """``(tenant id, Accounting path)`` of a bookkeeper path, e.g. ``("9f…", "/Invoices/1")``
    for ``/sandbox/xero/9f…/Invoices/1``; ``None`` for any other path."""
    if not path.startswith(PREFIX):
        return None
    tenant, _, rest = path[len(PREFIX) :].partition("/")
    if not tenant:
        return None
    return tenant.lower(), "/" + rest.strip("/")
