"""The settings in force and the organisations' connections, and what changing them re-gates.

Saved settings are checked before they are put in force (:meth:`Configuration.validate`): each
organisation's account codes against its chart of accounts, a start date that may only move
earlier once data has synced, a location whose records are in one organisation that may not be
pointed at another. In force (:meth:`Configuration.apply`) they re-home the unsent rows of a
moved location, record each organisation and whether it is reachable, verify its codes and
re-evaluate every gate; a widened window is then caught up. A (dis)connected organisation
(:meth:`Configuration.set_connection`) re-evaluates its own rows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from pm_xero_plugin.core.chart import Chart
from pm_xero_plugin.core.context import EngineContext
from pm_xero_plugin.core.history import History
from pm_xero_plugin.core.intake import Intake
from pm_xero_plugin.inputs.settings import Settings, parse_settings
from pm_xero_plugin.ledger.states import State

__all__ = ["Configuration", "ConnectionProbe"]

log = logging.getLogger("pm_xero_plugin")

ConnectionProbe = Callable[[str], tuple[bool, str | None]]
"""Whether an organisation is reachable now (and why not)."""

_MAY_BE_SENT = (State.WAITING, State.READY, State.SENDING, State.RETRYING, State.FAILED)
"""States of a row that a send may have reached Xero from (``uncertain``, or in flight)."""


class Configuration:
    """Settings checked and put in force; connections recorded.

    :param chart: the charts of accounts the codes are verified against.
    :param intake: re-evaluates the gates (and writes the contacts they open for).
    :param history: catches up a widened window.
    """

    def __init__(self, ctx: EngineContext, chart: Chart, intake: Intake, history: History) -> None:
        self.ctx = ctx
        self.ledger = ctx.ledger
        self.chart = chart
        self.intake = intake
        self.history = history

    def validate(self, raw: Mapping[str, Any]) -> list[str]:
        """Every problem with ``raw`` an admin can act on (empty: fine)."""
        self.ctx.refresh_locations()
        settings, errors = parse_settings(raw, self.ctx.location_ids())
        if settings is None:
            return errors
        for tenant_id, codes in sorted(settings.account_codes.items()):
            errors += self.chart.check(tenant_id, codes)
        errors += self._start_date_lock_errors(settings)
        errors += self._move_errors(settings)
        return errors

    def _move_errors(self, new: Settings) -> list[str]:
        """A location whose records already reached one organisation cannot be pointed at
        another: its books would be split, and its unsent records would follow the old one.
        Nor while any of its records *may* be in the old one (a request in flight, an answer
        lost): moved, they would be looked up – and created – in the new one, and be in both."""
        current = self.ctx.settings
        if current is None:
            return []
        errors = []
        for location_id in self.ctx.location_ids():
            old, moved = current.tenant_for(location_id), new.tenant_for(location_id)
            if not old or not moved or old == moved:
                continue
            synced = sum(
                c["n"]
                for c in self.ledger.counts(tenant_id=old, location_id=location_id)
                if c["state"] == State.SYNCED
            )
            if synced:
                errors.append(
                    f"locations.{location_id}.tenant_id: {synced} records of this location are "
                    f"already in organisation {old}; it cannot move to {moved} (set up a new "
                    "location for the new organisation, or move it back)"
                )
                continue
            errors += self._in_doubt_errors(location_id, old, moved)
        return errors

    def _in_doubt_errors(self, location_id: str, old: str, moved: str) -> list[str]:
        """The refusal of a move while records of the location may be in ``old``: sent with
        the answer lost (or still in flight), whether the worker will look them up or an admin
        must (failed after a lost answer)."""
        rows, _ = self.ledger.find_rows(states=_MAY_BE_SENT, location_id=location_id, limit=None)
        doubtful = [
            r for r in rows if r.tenant_id == old and (r.uncertain or r.state == State.SENDING)
        ]
        if not doubtful:
            return []
        failed = sum(1 for r in doubtful if r.state == State.FAILED)
        name = str(self.ctx.locations.get(location_id, {}).get("name") or location_id)
        error = (
            f"locations.{location_id}.tenant_id: {len(doubtful)} records of {name} may already "
            f"be in organisation {old} (their answers were lost, or they are being sent); "
            f"moving the location to {moved} now could put them in both. "
        )
        if failed < len(doubtful):
            error += (
                "They are being looked up in Xero – save again once the dashboard shows none "
                "in doubt"
            )
        if failed:
            error += (
                f"{'; ' if failed < len(doubtful) else ''}{failed} of them failed after a lost "
                "answer: retry them (a retry looks them up in Xero first) or resolve them, then "
                "save again"
            )
        return [error]

    def start_date_locked(self) -> date | None:
        """The start date in force once data has synced (it may then only move earlier)."""
        if not self.ledger.data_synced():
            return None
        current = self.ctx.settings.start_date if self.ctx.settings else None
        locked = self.ledger.meta("locked_start_date")
        return current or (date.fromisoformat(locked) if locked else None)

    def _start_date_lock_errors(self, new: Settings) -> list[str]:
        locked = self.start_date_locked()
        if locked is None:
            return []
        if new.start_date is None or new.start_date > locked:
            return [
                f"start_date: data has already synced to Xero from {locked.isoformat()}; the "
                f"start date cannot move later or be cleared (choose {locked.isoformat()} or "
                "earlier: an earlier date back-syncs the extra history)"
            ]
        return []

    def apply(
        self,
        raw: Mapping[str, Any],
        *,
        catch_up: bool = True,
        probe: ConnectionProbe | None = None,
    ) -> None:
        """Put saved settings in force and re-evaluate every gate they affect.

        :param catch_up: replay the window once a backfill has run (see
            :meth:`History.catch_up`); off at start-up, where nothing can have been missed.
        :param probe: asked whether each organisation is reachable now.
        """
        self.ctx.refresh_locations()
        settings, errors = parse_settings(raw, self.ctx.location_ids())
        if settings is None:
            log.error("xero: saved settings are not valid, keeping the previous ones: %s", errors)
            return
        # What validate refuses is refused here too: a host that saves without asking (or a
        # save racing the first sync) must not move the start date later or split books.
        refused = self._start_date_lock_errors(settings) + self._move_errors(settings)
        if refused:
            log.error("xero: saved settings refused, keeping the previous ones: %s", refused)
            return
        previous = self.ctx.settings
        self.ctx.put_in_force(settings)
        if previous is not None:
            for location_id in self.ctx.locations:
                old, moved = previous.tenant_for(location_id), settings.tenant_for(location_id)
                if old and moved and old != moved:
                    self.ledger.rehome(location_id, old, moved)
        self.ledger.set_meta(
            "start_date", settings.start_date.isoformat() if settings.start_date else None
        )
        self._record_tenants(settings, probe)
        self.intake.reevaluate()

        if catch_up and self.ledger.meta("backfill_started") is not None:
            # A start date moved earlier back-syncs the widened window; a plugin switched back
            # on finds what was created while it was off. Both are the same idempotent replay.
            self.history.catch_up()

    def _record_tenants(self, settings: Settings, probe: ConnectionProbe | None) -> None:
        """Each location's organisation, whether it is reachable, and its codes' verdict."""
        for location_id in self.ctx.locations:
            tenant = settings.tenant_for(location_id)
            if tenant:
                self.ledger.assign_tenant(location_id, tenant)
        for tenant in sorted(settings.tenants(self.ctx.location_ids())):
            self.ledger.set_tenant(tenant)
            if probe is not None:
                connected, reason = probe(tenant)
                self.ledger.set_tenant(
                    tenant,
                    connected=int(connected),
                    connection_reason=None if connected else reason,
                )
            self._verify_codes(tenant)

    def _verify_codes(self, tenant_id: str, refresh: bool = False) -> None:
        settings = self.ctx.settings
        codes = settings.account_codes.get(tenant_id) if settings else None
        self.chart.verify(tenant_id, codes, refresh=refresh)

    def set_connection(
        self,
        location_id: str | None,
        tenant_id: str,
        connected: bool,
        reason: str | None = None,
    ) -> None:
        """The auth code reports an organisation (dis)connected; gates are re-evaluated.

        ``location_id`` is informational (connections are per organisation)."""
        self.ledger.set_tenant(
            tenant_id,
            connected=int(connected),
            connection_reason=None if connected else (reason or "not connected to Xero"),
        )
        if connected:
            self._verify_codes(tenant_id, refresh=True)
        self.intake.reevaluate(tenant_id=tenant_id)
