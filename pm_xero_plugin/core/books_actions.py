"""What an admin (or the ``xero_changes`` setting) does about a difference with Xero's books.

Three actions (:data:`~pm_xero_plugin.core.books.ACTIONS`), each on one difference named by its
key (``<row id>:<difference>``, as the last kept report lists it):

* ``resend`` – the host's version goes to Xero again, through the worker and the sync rules like
  any other row (the rules may hold it: an organisation disconnected waits). A document or
  contact Xero has in another version goes as an ``update`` of the Xero id the row keeps; a
  payment deleted in Xero, or anything Xero no longer has (a contact too), goes as a ``create``
  with the Xero id cleared – Xero cannot un-delete a payment, and the old id names nothing any
  more. (An archived contact, a deleted document and a voided one are not re-sent: an update
  would not restore them, and Xero keeps a deleted document's number – see
  :mod:`pm_xero_plugin.core.differences`);
* ``relink`` – the row's Xero id becomes the one the difference names (the document Xero
  provably holds for it, or the contact Xero merged it into): nothing is sent;
* ``accept`` – Xero's version stands: a :class:`~pm_xero_plugin.ledger.types.BooksMark` keeps the
  decision, and the difference is listed as decided until either side changes again.

Each keeps its mark (``resent``, ``relinked``, ``accepted``) and writes a line to the row's log.
An action that does not fit – an unknown key, one the difference does not list, a row that
changed since the report was made – is refused with :class:`BooksActionRefused`, in the admin's
words, and changes nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Protocol

from pm_xero_plugin.core import rules
from pm_xero_plugin.core.books import (
    ACTIONS,
    REPORT_META_KEY,
    XERO_CHANGES,
    BooksReport,
    Difference,
    TenantBooks,
    load_report,
)
from pm_xero_plugin.core.context import EngineContext
from pm_xero_plugin.ledger import Row
from pm_xero_plugin.ledger.states import Gate, State
from pm_xero_plugin.ledger.types import BooksMark

__all__ = [
    "MARK_OF",
    "BooksActionRefused",
    "BooksActions",
    "HasBooksActions",
    "apply_setting",
    "decided",
    "find_difference",
]

MARK_OF = {"resend": "resent", "relink": "relinked", "accept": "accepted"}
"""The mark each action keeps (:attr:`BooksMark.action`)."""

_RECREATED = frozenset({"missing_in_xero", "deleted_in_xero"})
"""Differences whose re-send is a new create: the Xero id kept names nothing live."""

_WORDS = {
    "missing_in_xero": "not in Xero",
    "deleted_in_xero": "deleted in Xero",
    "voided_in_xero": "voided in Xero",
    "amount_changed": "its amount changed in Xero",
    "contact_changed": "moved to another contact in Xero",
    "details_changed": "its details changed in Xero",
    "paid_in_xero": "paid in Xero",
    "allocated_in_xero": "applied by hand in Xero",
}


class BooksActionRefused(ValueError):
    """An action on a difference that cannot be taken; the message says why, to the admin."""


class BooksActions:
    """The admin's actions on the differences of the kept report (see the module docstring)."""

    def __init__(self, ctx: EngineContext) -> None:
        self.ctx = ctx
        self.ledger = ctx.ledger

    def act(self, key: str, action: str, *, by: str | None) -> str:
        """Apply ``action`` to the difference ``key`` of the kept report; the admin's sentence.

        :raises BooksActionRefused: for an unknown key or an action that does not fit.
        """
        report = load_report(self.ledger.meta)
        difference = find_difference(report, key)
        said, mark = self.apply(difference, action, by=by)
        if report is not None:  # the pages show the decision before the next pass
            decided(report.tenants, difference, mark)
            self.ledger.set_meta(REPORT_META_KEY, report.to_json())
        return said

    def apply(self, d: Difference, action: str, *, by: str | None) -> tuple[str, BooksMark]:
        """Apply ``action`` to one difference (from the kept report, or a pass not kept yet):
        the admin's sentence and the mark kept.

        :raises BooksActionRefused: for an action that does not fit."""
        if action not in ACTIONS:
            raise BooksActionRefused(
                f"{action!r} is not an action on a difference; choose one of {', '.join(ACTIONS)}"
            )
        if action not in d.actions:
            fits = ", ".join(d.actions) or "none: only the fix helps"
            raise BooksActionRefused(
                f"{d.label}: '{action}' does not fit a record {_WORDS[d.difference]} "
                f"(what fits: {fits}). {d.fix}"
            )
        row = self._row_as_reported(d, action)
        with self.ledger.transaction():
            if action == "resend":
                said = self._resend(row, d)
            elif action == "relink":
                said = self._relink(row, d)
            else:
                said = (
                    f"Accepted Xero's version of {d.label} ({_WORDS[d.difference]}); it is not "
                    "reported again until either side changes"
                )
            mark = BooksMark(
                tenant_id=d.tenant_id,
                kind=d.kind,
                host_id=d.host_id,
                difference=d.difference,
                action=MARK_OF[action],
                xero_fingerprint=d.xero_fingerprint,
                host_hash=d.host_hash,
                at=self.ctx.host.now(),
                by=by,
            )
            self.ledger.set_books_mark(mark)
            who = f" (by {by})" if by else ""
            self.ledger.add_log(row.id, f"books_{action}", f"{said}{who}")
        return said, mark

    def _row_as_reported(self, d: Difference, action: str) -> Row:
        """The difference's row, as the report saw it: an action on a record that changed
        since (edited in the host, sent again, excluded) would decide on something else."""
        row = self.ledger.get(d.row_id)
        if row is None or (row.kind, row.host_id, row.tenant_id) != (
            d.kind,
            d.host_id,
            d.tenant_id,
        ):
            raise BooksActionRefused(
                f"{d.label} is no longer in the add-on's ledger; run a reconciliation again"
            )
        if row.payload_hash != d.host_hash:
            raise BooksActionRefused(
                f"{d.label} changed in Pet Manager since the last reconciliation; run it again "
                "before deciding"
            )
        held = row.state == State.WAITING and row.gate == Gate.XERO_CHANGED  # its edit waits
        if action != "accept" and (
            (row.state != State.SYNCED and not held) or row.xero_id != d.xero_id
        ):
            raise BooksActionRefused(
                f"{d.label} is {row.state} now, not as the last reconciliation saw it; run it "
                "again before deciding"
            )
        return row

    def _resend(self, row: Row, d: Difference) -> str:
        """Back on its way, through the rules (never past a state-machine move): an update of
        what Xero has, or a create when Xero's copy is deleted or gone."""
        create = d.difference in _RECREATED
        changes: dict[str, object] = (
            {"operation": "create", "xero_id": None} if create else {"operation": "update"}
        )
        facts = dataclasses.replace(row, **changes)  # type: ignore[arg-type]
        gate = rules.gates_for(facts, self.ctx.rule_context(self.ctx.batch_dep([facts])))
        if gate is None:
            self.ctx.make_ready([row.id], message=None, hint=None, **changes)
            where = "goes to Xero again"
        else:
            self.ledger.transition(
                row.id, State.WAITING, gate=gate.name, detail=gate.detail, message=None, **changes
            )
            where = f"waits to go to Xero again ({rules.gate_reason(gate.name, gate.detail)})"
        how = "as a new record" if create else "as an update"
        return f"Re-sent {d.label}: Pet Manager's version {where}, {how}"

    def _relink(self, row: Row, d: Difference) -> str:
        """The row's Xero id becomes the provably same document's."""
        target = d.relink_to
        if not target:
            raise BooksActionRefused(f"{d.label}: no Xero record to re-link to")
        self.ledger.mark_synced(row.id, target, {"relinked_by_admin": True, "was": row.xero_id})
        return f"Re-linked {d.label} to Xero's {target} (was {row.xero_id})"


def find_difference(report: BooksReport | None, key: str) -> Difference:
    """The difference named ``key`` (``<row id>:<difference>``) in ``report``.

    :raises BooksActionRefused: for a malformed or unknown key."""
    row_id, _, difference = key.partition(":")
    if not row_id.strip().isdigit() or not difference:
        raise BooksActionRefused(
            f"{key!r} is not a difference's key: it reads <row id>:<difference>, such as "
            "12:voided_in_xero (pm-xero reconcile lists them)"
        )
    for tenant in report.tenants if report is not None else ():
        for d in tenant.differences:
            if d.key == f"{int(row_id)}:{difference}":
                return d
    raise BooksActionRefused(
        f"no difference {key} in the last reconciliation"
        + ("" if report is not None else " (none has run yet)")
        + "; run pm-xero reconcile to see the current ones"
    )


def decided(tenants: Iterable[TenantBooks], d: Difference, mark: BooksMark) -> None:
    """Show ``mark`` on the difference it decides in ``tenants`` (decided ones listed after the
    open, ``differences_total`` counting the open)."""
    for t in tenants:
        if t.tenant_id != d.tenant_id:
            continue
        t.differences = [
            dataclasses.replace(
                x,
                decided=mark.action,
                decided_by=mark.by,
                decided_at=mark.at.isoformat(),
            )
            if x.key == d.key
            else x
            for x in t.differences
        ]
        t.differences.sort(key=lambda x: x.decided is not None)  # stable: the order stands
        t.differences_total = sum(1 for x in t.differences if x.decided is None)


class HasBooksActions(Protocol):
    """What :func:`apply_setting` needs of the engine (its actions; no import of the engine,
    which imports this module)."""

    @property
    def books_actions(self) -> BooksActions:
        """The engine's :class:`BooksActions`."""
        ...


def apply_setting(
    engine: HasBooksActions,
    books: TenantBooks | BooksReport,
    setting: str,
    *,
    by: str = "setting",
) -> list[str]:
    """The ``xero_changes`` setting on every open difference of ``books``: ``resend`` re-sends
    each one whose actions include it (and do not put ``relink`` first: a provable twin in
    Xero is the admin's to link, not the add-on's to duplicate), ``accept`` accepts each one
    that may be accepted, ``report`` changes nothing. ``books`` shows the decisions at once.
    Returns the sentences said (one per difference decided)."""
    if setting not in XERO_CHANGES:
        raise BooksActionRefused(
            f"xero_changes: {setting!r} is not one of {', '.join(XERO_CHANGES)}"
        )
    if setting == "report":
        return []
    tenants = books.tenants if isinstance(books, BooksReport) else [books]
    actions = engine.books_actions
    said: list[str] = []
    for t in tenants:
        for d in [x for x in t.differences if x.decided is None]:
            if setting not in d.actions or (setting == "resend" and d.actions[0] == "relink"):
                continue
            try:
                sentence, mark = actions.apply(d, setting, by=by)
            except BooksActionRefused:
                continue  # the row moved since the comparison: the next pass sees it anew
            said.append(sentence)
            decided([t], d, mark)
    return said
