"""Whether a payout may go: every card payment and card refund it settles must be in Xero, and
the processor's numbers must add up.

A payout moves money *out of* the clearing account the card payments were received into. Sent
before one of its payments, it would leave the clearing account below zero until that payment
arrives (and the bank deposit would match nothing the payments explain); sent with a payment
missing for ever (dated before the start date, excluded, failed), the clearing account never
returns to zero. So the payout waits behind the ``payments`` gate, saying which of its
payments are not in Xero yet and why, and is looked at again whenever a payment or refund of its
organisation settles (:class:`pm_xero_plugin.core.gates.DependantGates`).

Numbers that do not add up (its payments total 512.00 while gross says 510.00; gross minus fees
is not what reached the bank) are the host's or the processor's to correct: sent as they are,
Xero would take them and the clearing account would be off by the difference for ever.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pm_xero_plugin.core.rules import dependency_satisfied
from pm_xero_plugin.ledger import Ledger, Row, State
from pm_xero_plugin.xero.kinds import REFUND_KINDS

__all__ = ["PayoutCheck", "PayoutRefused", "PayoutWaits", "check_payout"]

_SHOWN = 5
"""How many of the waited-for records a payout's wait names."""

_STUCK_GATES = frozenset({"before_start_date", "invoice_before_start", "credit_before_start"})
"""Gates a payment or refund never leaves by itself (an admin widens the date or includes)."""


class PayoutWaits(Exception):
    """The payout must wait behind the ``payments`` gate. ``detail`` names what will not come
    by itself (held, or unknown to the add-on) – the dashboard lists the payout with the
    problems then – and is ``None`` while its payments are simply on their way."""

    def __init__(self, detail: str | None, waiting_for: str) -> None:
        super().__init__(waiting_for)
        self.detail = detail
        self.waiting_for = waiting_for


class PayoutRefused(Exception):
    """The payout's numbers do not add up: an admin (or the host) must correct them."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass
class PayoutCheck:
    """What was found of a payout's payments and refunds in one organisation."""

    pending: list[str] = field(default_factory=list)
    """Records on their way to Xero (by number)."""
    held: list[str] = field(default_factory=list)
    """Records that will not reach Xero by themselves, with why."""
    missing: list[str] = field(default_factory=list)
    """Records the ledger has no row of in this organisation."""
    total_in: Decimal = Decimal(0)
    total_out: Decimal = Decimal(0)
    wrong_method: list[str] = field(default_factory=list)


def check_payout(ledger: Ledger, tenant_id: str, payout: Mapping[str, Any]) -> None:
    """Raise :class:`PayoutWaits` or :class:`PayoutRefused` unless the payout may go now."""
    found = PayoutCheck()
    method = str(payout.get("method") or "")
    for payment_id in payout.get("payment_ids") or ():
        parts = [r for r in ledger.payment_parts(str(payment_id)) if r.tenant_id == tenant_id]
        _judge(found, "payment", str(payment_id), parts, method, incoming=True)
    for refund_id in payout.get("refund_ids") or ():
        rows = [
            r
            for kind in REFUND_KINDS
            for r in ledger.rows_for(kind, str(refund_id))
            if r.tenant_id == tenant_id
        ]
        _judge(found, "refund", str(refund_id), rows, method, incoming=False)
    _raise_wait(found)
    _check_sums(found, payout)


def _label(what: str, host_id: str, rows: Sequence[Row]) -> str:
    number = rows[0].number if rows else None
    return f"{what} {number if number is not None else host_id}"


def _judge(
    found: PayoutCheck,
    what: str,
    host_id: str,
    rows: Sequence[Row],
    method: str,
    *,
    incoming: bool,
) -> None:
    label = _label(what, host_id, rows)
    # a part taken off the payment in the host (excluded) is not the payout's to wait for
    live = [r for r in rows if r.state not in (State.EXCLUDED, State.REJECTED)]
    if not rows:
        found.missing.append(label)
        return
    if not live:
        found.held.append(f"{label} (excluded)")
        return
    rows = live
    payload = max(rows, key=lambda r: r.id).payload  # its newest version
    if str(payload.get("method") or "") != method:
        found.wrong_method.append(f"{label} ({payload.get('method')})")
    amount = Decimal(str(payload.get("amount") or "0"))
    if incoming:
        found.total_in += amount
    else:
        found.total_out += amount
    states = [(r.kind, r.state, r.xero_id, r.gate) for r in rows]
    if all(dependency_satisfied(kind, state, xero_id) for kind, state, xero_id, _ in states):
        return
    stuck = [
        (state, gate)
        for _, state, xero_id, gate in states
        if xero_id is None
        and (state == State.FAILED or (state == State.WAITING and gate in _STUCK_GATES))
    ]
    if stuck:
        state, gate = stuck[0]
        why = "before the start date" if gate in _STUCK_GATES else str(state)
        found.held.append(f"{label} ({why})")
    else:
        found.pending.append(label)


def _names(labels: list[str]) -> str:
    shown = ", ".join(labels[:_SHOWN])
    return shown + (f" and {len(labels) - _SHOWN} more" if len(labels) > _SHOWN else "")


def _raise_wait(found: PayoutCheck) -> None:
    if found.wrong_method:
        raise PayoutRefused(
            "the payout names records that were not paid by its method, so they never "
            f"reached its clearing account: {_names(found.wrong_method)}",
            "Correct the payout (or those records) in Pet Manager, then retry.",
        )
    parts: list[str] = []
    if found.held:
        parts.append(
            f"{_names(found.held)} will not reach Xero by itself: widen the start date, "
            "include it, or retry or resolve its failure"
        )
    if found.missing:
        parts.append(f"{_names(found.missing)} not known to the add-on yet")
    detail = "; ".join(parts) or None
    if found.pending:
        parts.append(f"{_names(found.pending)} on its way")
    if parts:
        raise PayoutWaits(detail, "; ".join(parts))


def _check_sums(found: PayoutCheck, payout: Mapping[str, Any]) -> None:
    gross = Decimal(str(payout.get("gross") or "0"))
    fees = Decimal(str(payout.get("fees") or "0"))
    amount = Decimal(str(payout.get("amount") or "0"))
    settled = found.total_in - found.total_out
    if settled != gross:
        raise PayoutRefused(
            f"its payments total {found.total_in:.2f}"
            + (f" less {found.total_out:.2f} refunded" if found.total_out else "")
            + f" = {settled:.2f}, but the payout's gross is {gross:.2f}: the clearing account "
            f"would be left at {settled - gross:.2f}",
            "Check the payout against the processor's report and correct it (or its list of "
            "payments) in Pet Manager, then retry.",
        )
    if gross - fees != amount:
        raise PayoutRefused(
            f"gross {gross:.2f} less fees {fees:.2f} is {gross - fees:.2f}, but the payout "
            f"says {amount:.2f} reached the bank",
            "Correct the payout in Pet Manager (the bank statement shows what arrived), then "
            "retry.",
        )
