"""What every part of the engine reads: the host, the ledger, the settings in force, the locations.

The engine's parts (:mod:`~pm_xero_plugin.core.intake`, :mod:`~pm_xero_plugin.core.regate`,
:mod:`~pm_xero_plugin.core.history`, :mod:`~pm_xero_plugin.core.admin`,
:mod:`~pm_xero_plugin.core.configuration`) share one :class:`EngineContext`, built by
:class:`~pm_xero_plugin.core.engine.Engine`: one place holds the settings in force and the
host's locations as last read, so no part keeps a copy that could fall behind. It also builds
what the rules are asked with (:meth:`EngineContext.rule_context`, the dependency look-ups).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from hookspecs.host import HistoryKind, Host
from pm_xero_plugin.core import rules
from pm_xero_plugin.core.doorbell import Doorbell
from pm_xero_plugin.core.gates import dep_facts, dep_keys, rejected_parent_detail, tenant_facts
from pm_xero_plugin.core.items import Item
from pm_xero_plugin.inputs.settings import Settings
from pm_xero_plugin.ledger import Facts, Ledger, Row
from pm_xero_plugin.ledger.states import State

__all__ = ["EngineContext"]


_CREDIT_RECORDS: dict[str, tuple[HistoryKind, str]] = {
    "credit_note": ("credit_notes", "credit note"),
    "overpayment": ("payments", "payment"),
    "deposit": ("deposits", "deposit"),
}
"""The host record each kind of credit is (what an absent one is looked up as)."""


class EngineContext:
    """The host, the ledger and the doorbell, with the settings in force and the locations.

    :param doorbell: rung after a write that made rows ready (the worker waits on it).
    """

    def __init__(self, host: Host, ledger: Ledger, doorbell: Doorbell) -> None:
        self.host = host
        self.ledger = ledger
        self.doorbell = doorbell
        self.settings: Settings | None = None
        """The settings in force (``None`` until valid ones were saved)."""
        self.locations: dict[str, Mapping[str, Any]] = {}
        """The host's locations by id, as last read."""
        self.start_reached: set[str] = set()
        """Locations whose local date reached the start date (their gate is open)."""
        self.enabled_seen = False
        """What :meth:`enabled` said last (what a tick on the worker's thread goes by)."""

    def put_in_force(self, settings: Settings) -> None:
        """Make ``settings`` the ones in force: which locations reached the start date is asked
        again (it may have moved)."""
        self.settings = settings
        self.start_reached.clear()

    def iso_now(self) -> str:
        """The host clock's time, ISO-formatted (for what the dashboard shows)."""
        return str(self.host.now().isoformat())

    def refresh_locations(self) -> None:
        """Read the host's locations again."""
        self.locations = {str(loc["id"]): loc for loc in self.host.locations()}

    def location_ids(self) -> list[str]:
        """The ids of the host's locations, as last read."""
        return list(self.locations)

    def known_location(self, location_id: str) -> bool:
        """Whether the host has this location (read again when it is new to us: a location
        added after start-up is fine)."""
        if location_id not in self.locations:
            self.refresh_locations()
        return location_id in self.locations

    def target_locations(self, location_id: str | None) -> list[str]:
        """One location (if the host has it) or, for ``None``, every one (read afresh)."""
        self.refresh_locations()
        if location_id is None:
            return self.location_ids()
        return [location_id] if location_id in self.locations else []

    def today(self, location_id: str) -> date:
        """The host clock's business date in a location's time zone."""
        zone = str(self.locations.get(location_id, {}).get("timezone") or "UTC")
        return rules.local_today(self.host.now(), zone)

    def enabled(self) -> bool:
        """Whether records may flow: the add-on is switched on in the host and in its settings."""
        if self.settings is None or not self.settings.enabled:
            self.enabled_seen = False
            return False
        try:
            self.enabled_seen = bool(self.host.is_enabled("xero"))
        except Exception:  # a host without the toggle: the plugin's own switch decides
            self.enabled_seen = True
        return self.enabled_seen

    def tenant_for(self, location_id: str) -> str:
        """The organisation a location's records go to (``""``: none linked)."""
        if self.settings is None:
            return ""
        return self.settings.tenant_for(location_id) or ""

    def row(self, row_id: int) -> Row:
        """The ledger row ``row_id`` (:class:`KeyError` when there is none)."""
        row = self.ledger.get(row_id)
        if row is None:
            raise KeyError(f"no ledger row {row_id}")
        return row

    def make_ready(self, row_ids: Sequence[int], **changes: Any) -> None:
        """Move rows to ``ready`` and ring the doorbell (the worker may be waiting)."""
        if row_ids:
            self.ledger.transition_many(row_ids, State.READY, **changes)
            self.doorbell.ring()

    # -- what the rules are asked with ---------------------------------------------------------

    def rule_context(
        self, dep: rules.DepLookup | None = None, *, ask_host: bool = True
    ) -> rules.RuleContext:
        """The facts the rules decide by; without ``ask_host`` (the worker's thread) the
        add-on switch is taken as last seen."""
        settings = self.settings
        tenants = {t.tenant_id: tenant_facts(t) for t in self.ledger.tenants()}
        return rules.RuleContext(
            enabled=self.enabled() if ask_host else self.enabled_seen,
            start_date=settings.start_date if settings else None,
            location_enabled={
                loc: bool(settings and settings.connection_enabled(loc)) for loc in self.locations
            },
            today={loc: self.today(loc) for loc in self.locations},
            tenants=tenants,
            dep=dep or self.dep,
        )

    def missing_invoice(self, kind: str, host_id: str, tenant_id: str) -> rules.DepFacts | None:
        """A parent the ledger has no row for: an invoice dated before the window is looked up
        in the host, so a payment to it is told *why* it waits."""
        held = rejected_parent_detail(self.ledger, kind, host_id)  # never sendable: say so
        if kind == "invoice":
            record = self.host.get_record("invoices", host_id)
            if record is not None:
                return rules.DepFacts(False, str(record.get("date") or "") or None, held=held)
        if kind in _CREDIT_RECORDS and held is None:
            held = self._absent_credit(kind, host_id, tenant_id)
        return rules.DepFacts(False, held=held) if held else None

    def _absent_credit(self, kind: str, host_id: str, tenant_id: str) -> str | None:
        """Why a credit a refund (or allocation) draws on has no row in this organisation,
        when it never will: the host has no such record, it belongs to another organisation's
        location, or (an overpayment) the payment left nothing over. ``None``: it may still
        come (written with its dependant, or a hook on its way)."""
        history, noun = _CREDIT_RECORDS[kind]
        record = self.host.get_record(history, host_id)
        if record is None:
            return f"its {noun} {host_id} is not in Pet Manager"
        location = str(record.get("location_id") or "")
        if self.tenant_for(location) != tenant_id:
            return (
                f"its {noun} {record.get('number', host_id)} belongs to location {location}, "
                "which syncs to another Xero organisation: a refund is paid out of the credit "
                "where the credit is; record it at that location"
            )
        if kind == "overpayment" and _left_over(record) == 0:
            return (
                f"payment {record.get('number', host_id)} left nothing over (all of it was "
                "applied to invoices), so there is no overpayment to refund: refund its credit "
                "note, or correct the refund in Pet Manager"
            )
        return None

    def dep(self, kind: str, host_id: str, tenant_id: str) -> rules.DepFacts | None:
        """A dependency from the ledger; an invoice the ledger never saw (dated before the
        window) is looked up in the host, so a payment to it is told *why* it waits."""
        found = self.ledger.dep(kind, host_id, tenant_id)
        if found is None:
            return self.missing_invoice(kind, host_id, tenant_id)
        return dep_facts(found)

    def batch_dep(
        self, facts: Iterable[Facts | Row], extra: Iterable[Item] = (), *, ask_host: bool = True
    ) -> rules.DepLookup:
        """A dependency look-up for a page of rows: one query, not one per row. Without
        ``ask_host``, an invoice the ledger never saw is known by the date its payments
        recorded at intake (``dep_invoice_date``) instead of asking the host."""
        facts = list(facts)
        keys = dep_keys(facts)
        known: dict[tuple[str, str, str], rules.DepFacts] = {
            key: rules.DepFacts(False, item.doc_date, item.include_before_start)
            for item in extra
            for key in [item.key]
        }
        for key, parent in self.ledger.dep_facts(keys).items():
            known[key] = dep_facts(parent)  # with why it is held, when it is

        if not ask_host:
            for f in facts:
                key = ("invoice", f.dep_invoice or "", f.tenant_id)
                if f.dep_invoice and f.dep_invoice_date and key not in known:
                    known[key] = rules.DepFacts(False, f.dep_invoice_date)
            return lambda kind, host_id, tenant_id: known.get((kind, host_id, tenant_id))

        def lookup(kind: str, host_id: str, tenant_id: str) -> rules.DepFacts | None:
            hit = known.get((kind, host_id, tenant_id))
            return hit if hit is not None else self.dep(kind, host_id, tenant_id)

        return lookup

    def dep_lookup(
        self,
        found: Mapping[tuple[str, str, str], rules.DepFacts],
        batch: Mapping[tuple[str, str, str], Item],
    ) -> rules.DepLookup:
        """:meth:`batch_dep` over dependencies already fetched (``found``); a row of the
        ``batch`` being written counts as not yet in Xero unless ``found`` knows it; anything else
        is asked of the ledger (and the host) one by one."""

        def lookup(kind: str, host_id: str, tenant_id: str) -> rules.DepFacts | None:
            key = (kind, host_id, tenant_id)
            hit = found.get(key)
            if hit is not None:
                return hit
            item = batch.get(key)
            if item is not None:
                return rules.DepFacts(False, item.doc_date, item.include_before_start)
            return self.dep(kind, host_id, tenant_id)

        return lookup


def _left_over(payment: Mapping[str, Any]) -> Decimal | None:
    """What a host payment leaves over after its allocations (``None``: unreadable)."""
    try:
        allocated = sum(
            (Decimal(str(a["amount"])) for a in payment.get("allocations") or []), Decimal(0)
        )
        return Decimal(str(payment["amount"])) - allocated
    except (InvalidOperation, KeyError, TypeError):
        return None
