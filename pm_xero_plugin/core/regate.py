"""Re-gating: the rules run again over rows already in the ledger, a page per transaction.

When what a gate depends on changes – settings saved, an organisation (dis)connected, a future
start date reached, a contact sync started, an admin's choice – the rows waiting behind it are
read a page at a time and each gets the gate the rules give it now (``ready`` when none).

A gate that says "contact" for a customer the ledger has no row for needs the host (the record
is read there); :meth:`Regater.regate` hands those back to its caller instead of writing them,
so this module asks the host nothing and can run on the worker's thread (:meth:`Regater.tick`):
what the worker's thread finds is kept in :attr:`Regater.contacts_wanted` for the next hook.
"""

from __future__ import annotations

from collections.abc import Callable

from pm_xero_plugin.core import rules
from pm_xero_plugin.core.context import EngineContext
from pm_xero_plugin.ledger import Facts
from pm_xero_plugin.ledger.states import RULE_GATES, Gate, State

__all__ = ["PAGE", "ContactWanted", "Regater"]

PAGE = 500
"""Rows the engine re-gates (or an admin retries) per transaction; the re-check of dependants
when a row settles pages by :data:`pm_xero_plugin.core.gates.PAGE`."""

ContactWanted = tuple[str, str, str]
"""A customer (host id) the ledger needs a contact row for, in an organisation, at a location."""


class Regater:
    """Recomputes the gates of rows on their way, through the rules, from the ledger."""

    def __init__(self, ctx: EngineContext) -> None:
        self.ctx = ctx
        self.contacts_wanted: list[ContactWanted] = []
        """Contacts a tick on the worker's thread found missing: written on the host's."""

    def tick(self) -> None:
        """Open the start-date gate of locations whose local date reached a future start date.

        Cheap when nothing changed. Asks the host nothing but the time (the worker's thread
        calls it): a contact it finds missing is kept in :attr:`contacts_wanted`."""
        ctx = self.ctx
        settings = ctx.settings
        if settings is None or settings.start_date is None:
            return
        for location_id in ctx.locations:
            if location_id in ctx.start_reached:
                continue
            if ctx.today(location_id) >= settings.start_date:
                ctx.start_reached.add(location_id)
                self.contacts_wanted += self.regate(
                    self.waiting_behind(Gate.START_DATE_FUTURE, location_id=location_id),
                    ask_host=False,
                )

    def on_their_way(self, tenant_id: str | None = None) -> Callable[[int], list[Facts]]:
        """Pages of every row still on its way (of one organisation, or all)."""
        ledger = self.ctx.ledger
        return lambda after: ledger.on_their_way(
            RULE_GATES, tenant_id=tenant_id, after_id=after, limit=PAGE
        )

    def waiting_behind(
        self, gate: Gate, *, tenant_id: str | None = None, location_id: str | None = None
    ) -> Callable[[int], list[Facts]]:
        """Pages of the rows waiting behind ``gate`` (of an organisation or a location)."""
        ledger = self.ctx.ledger
        return lambda after: ledger.waiting_behind(
            (gate,), tenant_id=tenant_id, location_id=location_id, after_id=after, limit=PAGE
        )

    def regate(
        self, page_of: Callable[[int], list[Facts]], *, ask_host: bool = True
    ) -> list[ContactWanted]:
        """Recompute the gates of rows, a page per transaction (``page_of(after_id)``); returns
        the contacts that gates wait for and the ledger has no row of.

        Each page is read and written in one write transaction, so a worker cannot claim a row
        between the read and the write (it would otherwise be pulled out from under it).
        Without ``ask_host`` (the worker's thread) it reads the ledger only: the switch as last
        seen, dependencies from their rows."""
        ctx = self.ctx
        after = 0
        wanted: list[ContactWanted] = []
        while True:
            with ctx.ledger.transaction():
                page = page_of(after)
                if not page:
                    break
                after = page[-1].id
                rule_ctx = ctx.rule_context(
                    ctx.batch_dep(page, ask_host=ask_host), ask_host=ask_host
                )
                wanted += self._regate_page(page, rule_ctx)
        return wanted

    def _regate_page(self, page: list[Facts], rule_ctx: rules.RuleContext) -> list[ContactWanted]:
        to_ready: list[int] = []
        to_wait: dict[tuple[str, str | None], list[int]] = {}
        wanted: list[ContactWanted] = []
        for f in page:
            gate = rules.gates_for(f, rule_ctx)
            if gate is None:
                if f.state == State.WAITING:
                    to_ready.append(f.id)
            elif f.state != State.WAITING or f.gate != gate.name:
                to_wait.setdefault((gate.name, gate.detail), []).append(f.id)
            if (
                gate is not None
                and gate.name == "contact"
                and f.dep_contact
                and rule_ctx.dep("contact", f.dep_contact, f.tenant_id) is None
            ):
                wanted.append((f.dep_contact, f.tenant_id, f.location_id))
        self.ctx.make_ready(to_ready)
        for (name, detail), ids in to_wait.items():
            self.ctx.ledger.transition_many(ids, State.WAITING, gate=name, detail=detail)
        return wanted
