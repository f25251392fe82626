"""A ledger row as the pages show it: its number as Xero sees it, its customer, amount, state in
words, why it waits, its links (its own page, Xero, the sandbox) and the buttons it allows.

Shared by the dashboard's lists and a record's own page, so both say the same thing the same way
(the entry fields are :func:`pm_xero_plugin.dashboard.rows.row_entry`'s: the CLI's words).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from pm_xero_plugin.dashboard.rows import row_entry
from pm_xero_plugin.pages.xero_links import sandbox_link, xero_link

if TYPE_CHECKING:
    from pm_xero_plugin.core.engine import Engine
    from pm_xero_plugin.inputs.settings import Prefixes
    from pm_xero_plugin.ledger import Row

__all__ = [
    "BUTTONS",
    "KIND_WORDS",
    "STATE_WORDS",
    "Button",
    "Views",
    "number_label",
    "pretty_body",
]

KIND_WORDS: Final = {
    "contact": "Contact",
    "invoice": "Invoice",
    "credit_note": "Credit note",
    "allocation": "Credit allocation",
    "payment": "Payment",
    "overpayment": "Overpayment",
    "deposit": "Deposit",
    "deposit_allocation": "Deposit allocation",
    "credit_note_refund": "Refund of a credit note",
    "overpayment_refund": "Refund of an overpayment",
    "deposit_refund": "Refund of a deposit",
    "payout_fee": "Card payout fees",
    "payout": "Card payout",
}
STATE_WORDS: Final = {
    "waiting": "Waiting",
    "ready": "Queued",
    "sending": "Sending",
    "synced": "Synced",
    "retrying": "Retrying",
    "failed": "Failed",
    "excluded": "Excluded",
    "rejected": "Rejected",
}

BUTTONS: Final = {
    "retry": ("retry", "Retry"),
    "resolve": ("resolve", "Resolve"),
    "exclude": ("exclude", "Exclude"),
    "include_parent_invoice": ("include_parent", "Include parent invoice"),
}
"""A failure's way out -> (the actions route's action, the button's label). The other ways out
are links: ``widen_start_date`` to the start-date page, ``link_contact`` and ``create_distinct``
to the contact sync page (where the clashing Xero contact is shown beside ours)."""

_LINKS: Final = {
    "widen_start_date": ("start", "Widen the start date"),
    "link_contact": ("contacts", "Link or rename on the contact sync page"),
}

_SECRET_KEYS: Final = ("token", "secret", "password", "authorization", "api_key", "apikey")
"""Keys whose values never reach a page, whatever a request body holds (none should)."""


@dataclass(frozen=True)
class Button:
    """One way out of a row: a form posting to the actions route, or a link to another page."""

    label: str
    action: str | None = None
    """The actions route's action (a button), or ``None`` for a link."""
    href: str | None = None
    """Where the button posts (``action``) or the link goes."""


def number_label(kind: str, number: int | None, prefixes: Prefixes | None) -> str:
    """The record's number as Xero shows it (``INV121``, ``C42``), or ``—`` without one."""
    if number is None:
        return "—"
    if prefixes is None:
        return str(number)
    prefix = {
        "contact": prefixes.client,
        "invoice": prefixes.invoice,
        "credit_note": prefixes.credit_note,
        "allocation": prefixes.credit_note,
        "deposit": prefixes.deposit,
        "deposit_allocation": prefixes.deposit,
        "credit_note_refund": prefixes.refund,
        "overpayment_refund": prefixes.refund,
        "deposit_refund": prefixes.refund,
        "payout_fee": prefixes.payout,
        "payout": prefixes.payout,
    }.get(kind, prefixes.payment)
    return f"{prefix}{number}"


def _redacted(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {
            k: "[hidden]" if any(s in str(k).lower() for s in _SECRET_KEYS) else _redacted(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    return value


def pretty_body(text: str | None) -> str | None:
    """What was sent, indented for reading, with any secret-looking field hidden (a body that
    is not JSON – an older attempt's key – is shown as it is)."""
    if not text:
        return None
    try:
        parsed = json.loads(text)
    except ValueError:
        return text
    return json.dumps(_redacted(parsed), indent=2, ensure_ascii=False, default=str)


def _customer_name(payload: Mapping[str, Any]) -> str | None:
    parts = [str(payload.get(k) or "").strip() for k in ("first_name", "last_name")]
    name = " ".join(p for p in parts if p)
    return name or None


def _customer_key(row: Row) -> tuple[str, str]:
    """(organisation, the customer's host id) of a row: its own for a contact, the one it names
    for a document (a payment names its invoice; its record carries the customer)."""
    if row.kind == "contact":
        return row.tenant_id, row.host_id
    client = row.dep_contact or row.payload.get("client_id")
    return row.tenant_id, str(client) if client else ""


def _amount(row: Row) -> str | None:
    payload = row.payload
    value = payload.get("total", payload.get("amount"))
    if value is None:
        return None
    currency = payload.get("currency")
    return f"{value} {currency}" if currency else str(value)


class Views:
    """Rows into what a template shows, for one request (the customers' names looked up once
    per page, the links built from the settings and the sandbox in force)."""

    def __init__(
        self,
        engine: Engine,
        *,
        url_for: Any,
        sandbox_url: str | None,
        actions_route: bool,
    ) -> None:
        self.engine = engine
        self.url_for = url_for
        self.sandbox_url = sandbox_url
        self.actions_route = actions_route
        settings = engine.settings
        self.prefixes = settings.prefixes if settings is not None else None
        self._names: dict[tuple[str, str], str | None] = {}
        self._short_codes: dict[str, str | None] = {}
        self._urls: dict[tuple[str, str], str] = {}
        self._locations: dict[str, str] | None = None
        # A page lists hundreds of rows: the router is asked once per route, not once per row
        # (each url_for walks every route).
        self._record_base = str(url_for("record", row_id=0))[: -len("0")]

    def location_name(self, location_id: str) -> str:
        """The location as the host names it (its id when the host has no name for it)."""
        if self._locations is None:
            self._locations = {
                loc: str(info.get("name") or loc) for loc, info in self.engine.locations().items()
            }
        return self._locations.get(location_id, location_id)

    def record_url(self, row_id: int) -> str:
        """The record's own page."""
        return f"{self._record_base}{row_id}"

    def _url(self, route: str, action: str = "") -> str:
        key = (route, action)
        if key not in self._urls:
            url = self.url_for(route, action=action) if action else self.url_for(route)
            self._urls[key] = str(url)
        return self._urls[key]

    def customers(self, rows: Iterable[Row]) -> None:
        """Look up the customers' names of ``rows`` (one look-up per customer on the page)."""
        for row in rows:
            key = _customer_key(row)
            if key in self._names or not key[1]:
                continue
            if row.kind == "contact":
                self._names[key] = _customer_name(row.payload)
                continue
            contact = self.engine.ledger.find("contact", key[1], row.tenant_id)
            self._names[key] = _customer_name(contact.payload) if contact else None

    def short_code(self, tenant_id: str) -> str | None:
        """The organisation's ShortCode when the add-on has read its ``Organisation`` (kept in
        the chart cache as ``organisation``), else ``None`` (the plain deep link is used)."""
        if tenant_id not in self._short_codes:
            cached = (
                self.engine.ledger.cached_chart(tenant_id, "organisation") if tenant_id else None
            )
            code = cached[1][0].get("ShortCode") if cached and cached[1] else None
            self._short_codes[tenant_id] = str(code) if code else None
        return self._short_codes[tenant_id]

    def buttons(self, actions: Iterable[str]) -> list[Button]:
        """The buttons and links for a row's ways out, in the order the dashboard gives them."""
        out = []
        for name in actions:
            if name in BUTTONS and self.actions_route:
                action, label = BUTTONS[name]
                out.append(Button(label=label, action=action, href=self._url("action", action)))
            elif name in _LINKS:
                route, label = _LINKS[name]
                out.append(Button(label=label, href=self._url(route)))
        return out

    def row(self, row: Row) -> dict[str, Any]:
        """Everything a list or a record page shows of ``row``."""
        entry = row_entry(row)
        key = _customer_key(row)
        if key not in self._names:
            self.customers([row])
        xero_id = row.xero_id
        return {
            **entry,
            "kind_words": KIND_WORDS.get(row.kind, row.kind),
            "state_words": STATE_WORDS.get(row.state, row.state),
            "number_label": number_label(row.kind, row.number, self.prefixes),
            "customer": self._names.get(key),
            "amount": _amount(row),
            "href": self.record_url(row.id),
            "location_name": self.location_name(row.location_id),
            "xero_link": xero_link(row.kind, xero_id, self.short_code(row.tenant_id)),
            "sandbox_link": sandbox_link(self.sandbox_url, row.kind, xero_id),
            "buttons": self.buttons(entry["actions"]),
        }
