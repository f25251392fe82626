"""Writing what Xero did back to the ledger: one row's refusal, or a whole request's failure.

Settling is where "at least once" stays safe: a row whose earlier send may be in Xero is never
failed on a refused look-up (failing clears the doubt, and an admin's retry would then create it
a second time); it backs off instead, and the next attempt looks it up first.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence, Set
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from pm_xero_plugin.ledger import Ledger
from pm_xero_plugin.ledger.types import XeroCopy
from pm_xero_plugin.mapping.xero_copies import summarise
from pm_xero_plugin.xero.client import ElementResult
from pm_xero_plugin.xero.errors import (
    NotFound,
    OutcomeUnknown,
    RateLimited,
    ReconnectRequired,
    TransientError,
    ValidationFailed,
    XeroError,
)
from pm_xero_plugin.xero.hints import Diagnosis, diagnose
from pm_xero_plugin.xero.retry import backoff_delay

__all__ = [
    "COPIED_KINDS",
    "MAX_ATTEMPTS",
    "BatchOutcome",
    "RowToSend",
    "Settler",
    "StopBatch",
    "copies_of",
    "reply_of",
]

COPIED_KINDS = frozenset({"contact", "invoice", "credit_note", "payment"})
"""The kinds whose write answers are Xero's version of the very document a reconciliation
compares (an overpayment is answered as its bank transaction, an allocation as the allocation:
neither is the document read back, so those copies come from the reads)."""

log = logging.getLogger("pm_xero_plugin.sync.settle")

MAX_ATTEMPTS = 12
"""Attempts after which a row that keeps failing the same way stops retrying and asks an admin
(rows whose earlier send may have reached Xero keep retrying: failing would drop the doubt)."""


class RowToSend(Protocol):
    """What the sender reads of a claimed ledger row (read-only: the ledger's rows are frozen)."""

    @property
    def id(self) -> int:
        """The row's id in the ledger."""
        ...

    @property
    def kind(self) -> str:
        """``contact``, ``invoice`` …"""
        ...

    @property
    def host_id(self) -> str:
        """The host record's id."""
        ...

    @property
    def tenant_id(self) -> str:
        """The organisation it goes to."""
        ...

    @property
    def location_id(self) -> str:
        """The location it belongs to."""
        ...

    @property
    def payload(self) -> dict[str, Any]:
        """The validated host record."""
        ...

    @property
    def xero_id(self) -> str | None:
        """Its id in Xero, once known."""
        ...

    @property
    def attempts(self) -> int:
        """Sends tried so far."""
        ...

    @property
    def operation(self) -> str:
        """``create``, ``update`` or ``void``."""
        ...

    @property
    def uncertain(self) -> bool:
        """A request went out with an unknown outcome: look it up first."""
        ...

    @property
    def xero_name(self) -> str | None:
        """The name an admin chose for a contact whose own name Xero gives another contact."""
        ...


@dataclass
class BatchOutcome:
    """What one batch did: the worker uses it for scheduling and the demo for its counters."""

    synced: int = 0
    failed: int = 0
    retrying: int = 0
    waiting: int = 0
    released: int = 0
    api_calls: int = 0
    blocked_for: float = 0.0
    """Seconds this tenant must wait (429 ``Retry-After``), 0 when it may go on."""


class StopBatch(Exception):
    """The whole request failed and every row in it has been settled: the batch ends here."""


def reply_of(result: ElementResult | None) -> dict[str, Any]:
    """What the ledger keeps of Xero's answer for one element."""
    return {
        "ok": bool(result.ok) if result is not None else False,
        "errors": list(result.errors) if result is not None else [],
        "warnings": list(result.warnings) if result is not None else [],
    }


def copies_of(
    tenant_id: str, kind: str, results: Sequence[ElementResult], read_at: datetime
) -> list[XeroCopy]:
    """Xero's versions of what it took from one write, as a reconciliation keeps them: the
    answer to the add-on's own write is the newest version there is, so keeping it costs no call
    and makes the webhook event the write causes known as the add-on's own."""
    if kind not in COPIED_KINDS:
        return []
    copies = []
    for result in results:
        if not result.ok or not result.xero_id:
            continue
        try:
            summary, updated = summarise(kind, result.element)
        except (ValueError, TypeError, ArithmeticError):
            continue  # a copy is a help, never a reason to fail a send
        copies.append(XeroCopy(tenant_id, kind, result.xero_id.lower(), summary, updated, read_at))
    return copies


class Settler:
    """Settles rows Xero did not take.

    :param ledger: where each row's outcome is written.
    :param now: the host clock (when a retry is due).
    :param on_reconnect_required: told when a tenant's connection is gone, so the engine pauses
        it.
    :param rng: the backoff's jitter.
    """

    def __init__(
        self,
        ledger: Ledger,
        *,
        now: Callable[[], datetime],
        on_reconnect_required: Callable[[str, str], None],
        rng: random.Random,
    ) -> None:
        self.ledger = ledger
        self._now = now
        self._on_reconnect_required = on_reconnect_required
        self._rng = rng

    def keep_copies(self, tenant_id: str, kind: str, results: Sequence[ElementResult]) -> int:
        """Keep Xero's versions of the elements it took (see :func:`copies_of`); how many.
        A ledger that cannot take them now loses nothing but the copy (the next read has it)."""
        copies = copies_of(tenant_id, kind, results, self._now())
        if not copies:
            return 0
        try:
            self.ledger.store_xero_copies(copies)
        except Exception:  # the send itself succeeded: its settling must go on
            log.warning("xero: Xero's copies of a %s batch not kept", kind, exc_info=True)
            return 0
        return len(copies)

    def element_error(
        self,
        row: RowToSend,
        message: str,
        diagnosis: Diagnosis,
        reply: dict[str, Any] | None,
        outcome: BatchOutcome,
    ) -> None:
        """One element Xero refused: it waits when the fix is elsewhere (a gate), else fails
        with Xero's words and a hint."""
        if diagnosis.gate:
            self.ledger.mark_waiting(row.id, diagnosis.gate, message)
            outcome.waiting += 1
        else:
            self.ledger.mark_failed(row.id, message, field=None, hint=diagnosis.hint, reply=reply)
            outcome.failed += 1

    def request_error(
        self,
        tenant_id: str,
        rows: Sequence[RowToSend],
        exc: XeroError,
        outcome: BatchOutcome,
        *,
        in_doubt: Set[int] = frozenset(),
    ) -> None:
        """Settle every row of a request that failed as a whole.

        :param in_doubt: rows whose earlier create may be in Xero and that were not looked up
            (the failed request was the look-up): whatever the error, they keep "uncertain".
        """
        if isinstance(exc, RateLimited):
            self._rate_limited(rows, exc, outcome, in_doubt)
            return
        if isinstance(exc, ReconnectRequired):
            self.ledger.release([r.id for r in rows])
            outcome.released += len(rows)
            self._on_reconnect_required(tenant_id, str(exc))
            return
        left = list(rows)
        if isinstance(exc, ValidationFailed):
            left = self._refused(left, exc, outcome, in_doubt)
        if isinstance(exc, NotFound):
            left = self._not_found(left, exc, outcome, in_doubt)
        left = self._worn_out(left, exc, outcome, in_doubt)
        if left:
            self._back_off(left, exc, outcome)

    def _rate_limited(
        self,
        rows: Sequence[RowToSend],
        exc: RateLimited,
        outcome: BatchOutcome,
        in_doubt: Set[int],
    ) -> None:
        """Xero refused this request without processing it: the rows wait for the tenant's
        window. Rows of a refused *create* are known not to be in Xero (any earlier unknown
        outcome was looked up first); rows whose look-up was refused are not."""
        wait = exc.retry_after or 1.0
        next_at = self._now() + timedelta(seconds=wait)
        for row in rows:
            self.ledger.mark_retrying(
                row.id,
                next_at,
                f"rate limited by Xero ({exc.problem})",
                outcome_known=row.id not in in_doubt,
            )
        outcome.retrying += len(rows)
        outcome.blocked_for = max(outcome.blocked_for, wait)

    def _refused(
        self,
        rows: list[RowToSend],
        exc: ValidationFailed,
        outcome: BatchOutcome,
        in_doubt: Set[int],
    ) -> list[RowToSend]:
        """A 400 fails the rows – but a row in doubt is never failed on a refused look-up:
        failing clears the doubt, and the admin's retry would then create it a second time.
        Those are returned, to back off instead."""
        refused = [r for r in rows if r.id not in in_doubt]
        for row in refused:
            self.ledger.mark_failed(row.id, str(exc), hint=diagnose(str(exc), row.kind).hint)
        outcome.failed += len(refused)
        return [r for r in rows if r.id in in_doubt]

    def _not_found(
        self,
        rows: list[RowToSend],
        exc: NotFound,
        outcome: BatchOutcome,
        in_doubt: Set[int],
    ) -> list[RowToSend]:
        """A 404 fails the rows surely not in doubt; the others are returned."""
        sure = [r for r in rows if r.id not in in_doubt and not r.uncertain]
        for row in sure:
            self.ledger.mark_failed(
                row.id,
                f"Xero has no such document ({exc})",
                hint="It was probably deleted in Xero. Resolve this if that was intended, or "
                "exclude it; retry sends it again.",
            )
        outcome.failed += len(sure)
        return [r for r in rows if r not in sure]

    def _worn_out(
        self,
        rows: list[RowToSend],
        exc: XeroError,
        outcome: BatchOutcome,
        in_doubt: Set[int],
    ) -> list[RowToSend]:
        """Rows that used up :data:`MAX_ATTEMPTS` (and are in no doubt) ask an admin; the
        others are returned."""
        worn = [
            r
            for r in rows
            if r.attempts >= MAX_ATTEMPTS
            and r.id not in in_doubt
            and not r.uncertain
            and not isinstance(exc, OutcomeUnknown)
        ]
        for row in worn:
            self.ledger.mark_failed(
                row.id,
                f"gave up after {row.attempts} attempts: {exc}",
                hint="Xero keeps refusing or failing this request. Check Xero's status and the "
                "message, then retry.",
            )
        outcome.failed += len(worn)
        return [r for r in rows if r not in worn]

    def _back_off(self, rows: list[RowToSend], exc: XeroError, outcome: BatchOutcome) -> None:
        """Transient, OutcomeUnknown and anything else: back off and try again later. Rows that
        went out with an unknown outcome keep their "uncertain" mark from mark_sent, so the next
        attempt looks them up in Xero before re-sending."""
        attempts = max((r.attempts for r in rows), default=0)
        delay = backoff_delay(attempts + 1, rng=self._rng)
        next_at = self._now() + timedelta(seconds=delay)
        kind = "unknown outcome" if isinstance(exc, OutcomeUnknown) else "temporary error"
        if not isinstance(exc, TransientError | OutcomeUnknown):
            kind = "error"
        for row in rows:
            self.ledger.mark_retrying(row.id, next_at, f"{kind}: {exc}")
        outcome.retrying += len(rows)
