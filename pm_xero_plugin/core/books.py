"""The reconciliation with Xero's books: its vocabulary and its report (docs/reconciliation.md).

After the sync, bookkeepers keep working in Xero: they void, delete, edit, allocate by hand. A
reconciliation puts the host's totals beside Xero's – per organisation, location, day and kind –
and lists the records that differ, each with the actions that fit and what to fix where. The
pieces:

* :mod:`pm_xero_plugin.sync.books_read` reads Xero's side within its limits (paged, with
  ``If-Modified-Since``, within a share of the day's call budget) and on each webhook event,
  keeping Xero's versions as :class:`~pm_xero_plugin.ledger.types.XeroCopy`;
* :mod:`pm_xero_plugin.core.differences` compares them with the ledger (pure: rows and copies
  in, :class:`DayTotal` and :class:`Difference` out);
* :mod:`pm_xero_plugin.core.books_actions` applies an admin's choice (re-send, re-link,
  accept Xero's version and mark it);
* :mod:`pm_xero_plugin.sync.books` runs a pass and keeps its :class:`BooksReport` in the
  ledger's meta (:data:`REPORT_META_KEY`), where the dashboard, ``pm-xero reconcile`` and the
  pages read it without a call to Xero.

This module holds only the shared values, so every layer can read a report.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Final

from pm_xero_plugin.inputs.settings import XERO_CHANGES as SETTING_CHOICES

__all__ = [
    "ACTIONS",
    "DIFFERENCE_KINDS",
    "REPORT_META_KEY",
    "XERO_CHANGES",
    "BooksReport",
    "DayTotal",
    "Difference",
    "TenantBooks",
    "load_report",
]

REPORT_META_KEY: Final = "books_report"
"""Ledger meta: the last reconciliation's :class:`BooksReport` (JSON)."""

DIFFERENCE_KINDS: Final = (
    "missing_in_xero",
    "deleted_in_xero",
    "voided_in_xero",
    "amount_changed",
    "contact_changed",
    "details_changed",
    "paid_in_xero",
    "allocated_in_xero",
)
"""What can differ, in the order a report lists them:

* ``missing_in_xero`` – the ledger says it reached Xero, Xero has no such document;
* ``deleted_in_xero`` – deleted there (a payment, a draft) or archived (a contact);
* ``voided_in_xero`` – an invoice or credit note voided there, live in the host;
* ``amount_changed`` – its total differs beyond the rounding tolerance;
* ``contact_changed`` – the document is on another contact in Xero;
* ``details_changed`` – a contact's name or email was edited in Xero;
* ``paid_in_xero`` – an invoice paid or credited in Xero by something the host does not have;
* ``allocated_in_xero`` – one of our credit notes applied to an invoice in Xero by hand.
"""

ACTIONS: Final = ("resend", "relink", "accept")
"""What an admin may choose for a difference (each lists those that fit, best first):
``resend`` the host's version to Xero, ``relink`` the record to the Xero document that is provably
the same, ``accept`` Xero's version and mark it (not reported again until either side changes).
Every difference also says in words what to fix where (``fix``)."""

XERO_CHANGES: Final = SETTING_CHOICES
"""The ``xero_changes`` setting: what the add-on does with a Xero-side change by itself.
``report`` (the default) lists it and changes nothing; ``resend`` re-sends the host's version
where that fits (the rest is reported); ``accept`` marks Xero's version accepted."""


@dataclass(frozen=True)
class DayTotal:
    """One organisation's, location's, day's and kind's totals on both sides."""

    tenant_id: str
    location_id: str
    day: str
    """The business date (ISO)."""
    kind: str
    host_count: int
    host_total: str
    """The host's amount (a decimal string, 2 places)."""
    xero_count: int
    xero_total: str
    """What Xero holds for the same records (voided or deleted count as 0)."""
    pending: int = 0
    """The host's records of the day not in Xero yet and still on their way (not differences)."""
    not_read: int = 0
    """The host's records the ledger has in Xero whose Xero version is not read yet: on the
    host's side only, until a read brings their copies (not differences)."""
    checked: bool = True
    """``False`` for a kind whose Xero side is not read back (deposits, refunds, payouts): its
    ``xero_count`` and ``xero_total`` stay 0 and say nothing."""


@dataclass(frozen=True)
class Difference:
    """One record whose two sides differ, with what fits."""

    tenant_id: str
    location_id: str
    kind: str
    """The ledger kind (``invoice``, ``payment`` …)."""
    host_id: str
    row_id: int
    difference: str
    """One of :data:`DIFFERENCE_KINDS`."""
    label: str
    """The record as the admin knows it (``INV-12 Ann Lee``)."""
    day: str | None
    host: str
    """The host's side in words (``total 120.00``)."""
    xero: str
    """Xero's side in words (``VOIDED``, ``total 100.00``, ``email ann@new.example``)."""
    actions: tuple[str, ...]
    """The :data:`ACTIONS` that fit, best first (may be empty: only ``fix`` helps)."""
    fix: str
    """What to fix where, in the admin's words."""
    xero_id: str | None = None
    xero_fingerprint: str = ""
    """Identifies Xero's version (an accepted difference comes back when it changes)."""
    host_hash: str = ""
    """The ledger's payload hash (an accepted difference comes back when the host's changes)."""
    host_amount: str | None = None
    xero_amount: str | None = None
    decided: str | None = None
    """``accepted``, ``resent`` or ``relinked`` when an admin (or the setting) decided already;
    ``None``: open."""
    decided_by: str | None = None
    decided_at: str | None = None
    relink_to: str | None = None
    """For ``relink``: the Xero id of the document that is provably this record (same number,
    contact, total and date; or the contact Xero merged it into)."""

    @property
    def key(self) -> str:
        """What names it for an action: ``<row id>:<difference>``."""
        return f"{self.row_id}:{self.difference}"


@dataclass
class TenantBooks:
    """One organisation's reconciliation."""

    tenant_id: str
    name: str | None = None
    checked: int = 0
    """The host's records compared."""
    not_read: int = 0
    """The host's records the ledger has in Xero whose Xero version is not read yet (not
    compared, no difference)."""
    read_at: str | None = None
    """When Xero's side was last read in full or incrementally (ISO); ``None``: never."""
    full_read_at: str | None = None
    calls_today: int = 0
    """Calls the reconciliation made to this organisation today (webhook re-reads included)."""
    call_budget: int = 0
    """Its share of the organisation's day limit."""
    events_pending: int = 0
    incomplete: str | None = None
    """Why Xero's side is not all read (the budget spent, Xero unreachable …), or ``None``."""
    kinds_not_checked: list[str] = field(default_factory=list)
    """Ledger kinds present whose Xero side is not read back (their host totals still show)."""
    totals: list[DayTotal] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)
    """Open differences first, then decided ones."""
    differences_total: int = 0
    """Open differences in all (``differences`` may be capped)."""


@dataclass
class BooksReport:
    """A reconciliation pass over every organisation."""

    generated_at: str
    tenants: list[TenantBooks] = field(default_factory=list)

    @property
    def open(self) -> list[Difference]:
        """Every open difference (not decided)."""
        return [d for t in self.tenants for d in t.differences if d.decided is None]

    @property
    def clean(self) -> bool:
        """No open difference, and Xero's side was read completely."""
        return not self.open and all(t.incomplete is None for t in self.tenants)

    def to_json(self) -> str:
        """As kept in the ledger's meta."""
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> BooksReport:
        """A report read back from :meth:`to_json`."""
        data = json.loads(text)
        tenants = []
        for t in data.get("tenants", []):
            totals = [DayTotal(**d) for d in t.pop("totals", [])]
            diffs = [
                Difference(**{**d, "actions": tuple(d.get("actions", ()))})
                for d in t.pop("differences", [])
            ]
            tenants.append(TenantBooks(**t, totals=totals, differences=diffs))
        return cls(generated_at=data["generated_at"], tenants=tenants)


def load_report(meta: Any) -> BooksReport | None:
    """The last report kept in a ledger (``meta`` is the ledger's ``meta`` method), or ``None``."""
    text = meta(REPORT_META_KEY)
    if not text:
        return None
    try:
        return BooksReport.from_json(text)
    except (ValueError, TypeError, KeyError):
        return None
