"""Send one claimed batch of ledger rows to one organisation, and write every outcome back.

This is where "at least once from the ledger" becomes "exactly once in Xero", in four steps, each
in a module named for it:

1. :mod:`~pm_xero_plugin.sync.prepare` – the rows become Xero elements (a row that cannot be
   mapped fails with a hint and never leaves).
2. :mod:`~pm_xero_plugin.sync.dedupe` – rows whose previous attempt went out with an unknown
   outcome are **looked up in Xero by their number or reference** and adopted if Xero has them;
   contacts are matched by number before they are created.
3. Here: before the request leaves, the ledger durably records "sent, outcome unknown" for its
   rows; then one request per batch (``summarizeErrors=false``).
4. :mod:`~pm_xero_plugin.sync.settle` – Xero's per-element answer is mapped back row by row: one
   bad element fails its row only, with Xero's message and a fix hint; a create refused because
   the number exists is linked to the existing document (dedupe again), not duplicated.

A batch is of one kind, or of several kinds Xero takes at the same endpoint (a deposit, an
overpayment and a payout's fee are all ``BankTransactions``; a payment and the refunds are all
``Payments``): the worker fills small batches of history that way, and each row is prepared,
looked up and settled as its own kind, in one request.

It knows nothing of threads or scheduling: :mod:`pm_xero_plugin.sync.worker` does that.
"""

from __future__ import annotations

import json
import random
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from pm_xero_plugin.ledger import Ledger
from pm_xero_plugin.sync.dedupe import Deduper
from pm_xero_plugin.sync.overwrite_guard import (
    EVENT_WAIT,
    GATE,
    changed_since_known,
    guard_updates,
)
from pm_xero_plugin.sync.prepare import Prepared, Preparer
from pm_xero_plugin.sync.settle import (
    MAX_ATTEMPTS,
    BatchOutcome,
    RowToSend,
    Settler,
    StopBatch,
    reply_of,
)
from pm_xero_plugin.xero.client import ElementResult, XeroClient
from pm_xero_plugin.xero.errors import ReconnectRequired, XeroError
from pm_xero_plugin.xero.hints import diagnose
from pm_xero_plugin.xero.kinds import KINDS

__all__ = ["MAX_ATTEMPTS", "BatchOutcome", "BatchSender"]

_NAME_TAKEN = re.compile(r"contact name .* already assigned to another contact", re.I | re.S)
"""Xero's name clash (its number clash is another message: a duplicate, linked)."""


def _no_reconnect_listener(tenant_id: str, reason: str) -> None:
    """The default: nobody to tell that a tenant's connection is gone."""


class BatchSender:
    """Turns claimed rows into Xero requests and their answers into ledger transitions.

    :param ledger: the worker-facing ledger API (claim/mark_* transitions).
    :param client: the Xero Accounting client.
    :param settings: returns the plugin settings now in force.
    :param connection_for: the token set (connection key) that reaches a tenant.
    :param now: the host clock.
    :param on_reconnect_required: told when a tenant's connection is gone, so the engine pauses it.
    """

    def __init__(
        self,
        ledger: Ledger,
        client: XeroClient,
        *,
        settings: Callable[[], Mapping[str, Any]],
        connection_for: Callable[[str], str | None],
        now: Callable[[], datetime],
        on_reconnect_required: Callable[[str, str], None] = _no_reconnect_listener,
        rng: random.Random | None = None,
    ) -> None:
        self.ledger = ledger
        self.client = client
        self._connection_for = connection_for
        self._settings = settings
        self._now = now
        self.preparer = Preparer(ledger, settings)
        """Rows to elements (a test may stand in for one of its steps)."""
        self._settle = Settler(
            ledger,
            now=now,
            on_reconnect_required=on_reconnect_required,
            rng=rng or random.Random(),
        )
        self._dedupe = Deduper(
            ledger,
            client,
            self._settle,
            client_prefix=lambda tenant, p: (
                self.preparer.mapping_for(tenant, p.row).prefixes.client
            ),
            now=now,
        )

    def send(self, tenant_id: str, kind: str, rows: Sequence[RowToSend]) -> BatchOutcome:
        """Send ``rows`` (one tenant, claimed by the caller) and settle each.

        The rows are of ``kind``, or of batchable kinds sharing its endpoint (each row's own
        ``kind`` says which); a kind that is not batchable comes alone.
        """
        outcome = BatchOutcome()
        if not rows:
            return outcome
        try:
            connection = self._connection_for(tenant_id)
        except ReconnectRequired as exc:  # its stored tokens cannot be read: as if revoked
            self._settle.request_error(tenant_id, rows, exc, outcome)
            return outcome
        if connection is None:
            self.ledger.release([r.id for r in rows])
            outcome.released += len(rows)
            return outcome
        rows = self._not_over_xero_changes(tenant_id, connection, rows, outcome)
        if not rows:
            return outcome
        try:
            prepared = self._prepare(tenant_id, connection, kind, rows, outcome)
            if not prepared:
                return outcome
            if not KINDS[kind].batchable:
                for item in prepared:
                    self._send_allocation(tenant_id, connection, kind, item, outcome)
                return outcome
            for method in ("PUT", "POST"):
                group = [p for p in prepared if p.method == method]
                if group:
                    self._send_group(tenant_id, connection, kind, method, group, outcome)
        except StopBatch:
            pass
        return outcome

    def _not_over_xero_changes(
        self,
        tenant_id: str,
        connection: str,
        rows: Sequence[RowToSend],
        outcome: BatchOutcome,
    ) -> Sequence[RowToSend]:
        """The rows that may go: an update that would overwrite a bookkeeper's change in Xero
        is held for an admin, or waits a moment for a webhook event on it to be looked at; the
        other updates are read first (:mod:`pm_xero_plugin.sync.overwrite_guard`)."""
        guarded = guard_updates(self.ledger, tenant_id, rows, self._settings())
        if guarded.updates:
            aside = set(guarded.held) | guarded.wait
            looked = [r for r in guarded.updates if r.id not in aside]
            try:
                guarded.held.update(
                    changed_since_known(
                        self.ledger, self.client, tenant_id, connection, looked, self._now()
                    )
                )
            except XeroError as exc:  # not read: nothing of the batch goes blind
                self._settle.request_error(tenant_id, list(rows), exc, outcome)
                return []
            finally:
                outcome.api_calls += 1 if looked else 0
        if not guarded.held and not guarded.wait:
            return rows
        for row_id, why in guarded.held.items():
            self.ledger.mark_waiting(row_id, GATE, why)
        if guarded.wait:
            at = self._now() + EVENT_WAIT
            for row_id in guarded.wait:
                self.ledger.mark_retrying(
                    row_id,
                    at,
                    "waiting for Xero's webhook event on this record to be looked at",
                    outcome_known=True,
                )
        return [r for r in rows if r.id not in guarded.held and r.id not in guarded.wait]

    def _prepare(
        self,
        tenant_id: str,
        connection: str,
        kind: str,
        rows: Sequence[RowToSend],
        outcome: BatchOutcome,
    ) -> list[Prepared]:
        """The rows' elements, each kind prepared and looked up in Xero as that kind.

        :raises StopBatch: a look-up failed (its rows are settled); the rows not settled yet
            are given back, to be claimed again.
        """
        by_kind: dict[str, list[RowToSend]] = {}
        for row in rows:
            by_kind.setdefault(row.kind or kind, []).append(row)
        prepared: list[Prepared] = []
        groups = list(by_kind.items())
        for index, (each, group) in enumerate(groups):
            try:
                elements = self.preparer.prepare(tenant_id, each, group, outcome)
                prepared += self._dedupe.look_before_sending(
                    tenant_id, connection, each, elements, outcome
                )
            except StopBatch:
                unsent = [p.row.id for p in prepared]
                unsent += [r.id for _, later in groups[index + 1 :] for r in later]
                if unsent:
                    self.ledger.release(unsent)
                    outcome.released += len(unsent)
                raise
        return prepared

    # -- sending ---------------------------------------------------------------------------------

    def _attempt_key(self, kind: str) -> str:
        """One key per batch attempt, reused by the client's own retries of that attempt."""
        return f"pmx-{kind}-{uuid.uuid4().hex}"

    def _send_group(
        self,
        tenant_id: str,
        connection: str,
        kind: str,
        method: str,
        group: list[Prepared],
        outcome: BatchOutcome,
    ) -> None:
        key = self._attempt_key(kind)
        self.ledger.mark_sent([p.row.id for p in group], key, requests=_bodies(group))
        try:
            outcome.api_calls += 1
            results = self.client.send_batch(
                tenant_id,
                connection,
                method,
                KINDS[kind].endpoint,
                [p.element for p in group],
                idempotency_key=key,
            )
        except XeroError as exc:
            self._settle.request_error(tenant_id, [p.row for p in group], exc, outcome)
            raise StopBatch from exc
        self._keep_copies(tenant_id, kind, group, results)
        duplicates: list[tuple[Prepared, str]] = []
        name_taken: list[tuple[Prepared, str]] = []
        for p, result in zip(group, results, strict=False):
            message = self._settle_result(p, result, outcome)
            if message is None:
                continue
            own = p.row.kind or kind
            if own == "contact" and _NAME_TAKEN.search(message):
                name_taken.append((p, message))
            elif diagnose(message, own).duplicate_number and method == "PUT":
                duplicates.append((p, message))
            else:
                self._settle.element_error(
                    p.row, message, diagnose(message, own), reply_of(result), outcome
                )
        by_kind: dict[str, list[tuple[Prepared, str]]] = {}
        for p, said in duplicates:
            by_kind.setdefault(p.row.kind or kind, []).append((p, said))
        for each, linked in by_kind.items():
            self._dedupe.link_duplicates(tenant_id, connection, each, linked, outcome)
        if name_taken:
            self._dedupe.hold_name_taken(tenant_id, connection, name_taken, outcome)

    def _keep_copies(
        self, tenant_id: str, kind: str, group: list[Prepared], results: list[ElementResult]
    ) -> None:
        """Xero's answer to our own write is its newest version: kept as the reconciliation's
        copy (no call), so the webhook event the write causes is known as ours. Per row's own
        kind: one request may carry several kinds of one endpoint."""
        by_kind: dict[str, list[ElementResult]] = {}
        for p, result in zip(group, results, strict=False):
            by_kind.setdefault(p.row.kind or kind, []).append(result)
        for own, answered in by_kind.items():
            self._settle.keep_copies(tenant_id, own, answered)

    def _settle_result(
        self, p: Prepared, result: ElementResult, outcome: BatchOutcome
    ) -> str | None:
        """A created element is settled as synced (``None``); a refused one's message."""
        if result.ok and result.xero_id:
            self.ledger.mark_synced(p.row.id, result.xero_id, reply_of(result))
            outcome.synced += 1
            return None
        return "; ".join(result.errors) or "Xero refused this element without a message"

    def _send_allocation(
        self, tenant_id: str, connection: str, kind: str, item: Prepared, outcome: BatchOutcome
    ) -> None:
        """One allocation of a credit (a credit note's, a deposit's) to an invoice: Xero takes
        one per request, under the credit's id (``item.dedupe_key``)."""
        key = self._attempt_key(kind)
        self.ledger.mark_sent([item.row.id], key, requests=_bodies([item]))
        try:
            outcome.api_calls += 1
            results = self.client.allocate(
                tenant_id,
                connection,
                KINDS[kind].endpoint,
                item.dedupe_key,
                [item.element],
                idempotency_key=key,
            )
        except XeroError as exc:
            self._settle.request_error(tenant_id, [item.row], exc, outcome)
            raise StopBatch from exc
        result = results[0] if results else None
        if result is not None and not result.ok:
            message = "; ".join(result.errors) or "Xero refused the allocation"
            self._settle.element_error(
                item.row, message, diagnose(message, kind), reply_of(result), outcome
            )
            return
        self.ledger.mark_synced(item.row.id, item.dedupe_key, reply_of(result) if result else None)
        outcome.synced += 1


def _bodies(items: Sequence[Prepared]) -> dict[int, str]:
    """Per row, its element of the request (what the record's history shows as sent)."""
    return {p.row.id: json.dumps(p.element, default=str) for p in items}
