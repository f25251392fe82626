"""What the demo shows while records travel to Xero – and when it stops waiting.

Three rules, each from a run that misled a person:

* a bar counts what **reached Xero** (rows ``synced``), never rows merely recorded: a back-sync
  bar that filled in three seconds and then sat still for a minute said the opposite of the truth;
* a wait on Xero's limits is **shown as a wait** ("waiting 41 s for Xero's minute limit on Sandbox
  Pets Ltd 1"), on its own line as well as in the bar, so a screen never looks frozen;
* when **nothing can move** – no row ready, sending or retrying while some are failed or waiting
  behind a gate only an admin (or another failed row) can open – the wait stops at once with a
  line saying why, instead of sitting there until a timeout.

The counting is the same for the bars, the stop rule and the demo's summary (:class:`Tally`).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from pm_xero_plugin.ledger import Ledger, Row
    from pm_xero_plugin.xero.ratelimit import Wait

__all__ = [
    "HELD_BY_RULES",
    "HELD_FOR_ADMIN",
    "PAYMENTS_BEFORE_START",
    "Limits",
    "Reporter",
    "Tally",
    "WaitOutcome",
    "ledger_counts",
    "limit_waits",
    "stalled_lines",
    "tally",
    "wait_until_settled",
]


class Limits(Protocol):
    """What the screen asks of Xero's limits: how long an organisation must wait, and why
    (:class:`~pm_xero_plugin.xero.ratelimit.RateLimiter`)."""

    def wait_for(self, tenant_id: str) -> Wait:
        """The organisation's wait now (``seconds`` and ``reason``)."""
        ...


HELD_BY_RULES = frozenset(
    {
        "before_start_date",
        "invoice_before_start",
        "credit_before_start",
        "start_date_future",
        "start_date_unset",
        "payments_before_start",
    }
)
"""Gates that hold a record by the admin's own choice of start date: not due now, not counted
(the dashboard lists them with the ways out)."""

HELD_FOR_ADMIN = frozenset({"lock_date", "contact_name_taken", "xero_changed"})
"""Gates only an admin's decision opens (Xero's lock date; a same-name contact in Xero that is not
provably ours): due, but they will not move by themselves."""

MOVING = frozenset({"ready", "sending", "retrying"})
NOT_DUE = frozenset({"excluded", "rejected"})

_KIND_WORDS = {
    "contact": ("contact", "contacts"),
    "invoice": ("invoice", "invoices"),
    "credit_note": ("credit note", "credit notes"),
    "allocation": ("credit allocation", "credit allocations"),
    "payment": ("payment", "payments"),
    "overpayment": ("overpayment", "overpayments"),
    "deposit": ("deposit", "deposits"),
    "deposit_allocation": ("deposit allocation", "deposit allocations"),
    "credit_note_refund": ("refund of a credit note", "refunds of credit notes"),
    "overpayment_refund": ("refund of an overpayment", "refunds of overpayments"),
    "deposit_refund": ("refund of a deposit", "refunds of deposits"),
    "payout_fee": ("payout's fees", "payouts' fees"),
    "payout": ("payout", "payouts"),
}


def kind_words(kind: str, n: int) -> str:
    """``"1 invoice"``, ``"240 contacts"``."""
    one, many = _KIND_WORDS.get(kind, (kind, kind + "s"))
    return f"{n} {one if n == 1 else many}"


@dataclass
class Tally:
    """Due rows of one phase, by what became of them."""

    total: int = 0
    """Due now: everything but excluded/rejected rows and rows the start date holds."""
    synced: int = 0
    """Reached Xero."""
    failed: Counter[str] = field(default_factory=Counter)
    """Xero refused them (by kind)."""
    moving: Counter[str] = field(default_factory=Counter)
    """Ready, sending or retrying (by tenant): something is under way."""
    retrying: int = 0
    held: Counter[tuple[str, str]] = field(default_factory=Counter)
    """Waiting for an admin's decision, by (kind, gate)."""
    behind: Counter[tuple[str, str]] = field(default_factory=Counter)
    """Waiting behind another gate (its contact, its invoice …), by (kind, gate)."""

    def add(self, tenant_id: str, kind: str, state: str, gate: str | None, n: int) -> None:
        """Count ``n`` rows of one (organisation, kind, state, gate); rows not due are left out."""
        if state in NOT_DUE or (state == "waiting" and gate in HELD_BY_RULES):
            return
        self.total += n
        if state == "synced":
            self.synced += n
        elif state == "failed":
            self.failed[kind] += n
        elif state in MOVING:
            self.moving[tenant_id] += n
            if state == "retrying":
                self.retrying += n
        elif gate in HELD_FOR_ADMIN:
            self.held[(kind, gate or "")] += n
        else:
            self.behind[(kind, gate or "")] += n

    @property
    def failed_total(self) -> int:
        """Rows Xero refused (or that failed for good)."""
        return sum(self.failed.values())

    @property
    def held_total(self) -> int:
        """Rows waiting for an admin's decision."""
        return sum(self.held.values())

    @property
    def settled(self) -> bool:
        """Nothing left that can still reach Xero by itself."""
        return self.synced + self.failed_total + self.held_total >= self.total

    @property
    def stalled(self) -> bool:
        """Rows still due, yet none is under way: they wait on something that will not happen."""
        return not self.settled and not self.moving


PAYMENTS_BEFORE_START = "payments_before_start"
"""The demo's own name for a payout (or its fees) waiting at the ``payments`` gate for a card
payment or refund the start date holds: held by the admin's choice of date, like a payment whose
invoice is before it – the ledger's counts cannot tell it from a payout whose payments are on
their way (:func:`ledger_counts` does)."""


def _held_by_start(ledger: Ledger, row: Row) -> bool:
    """Whether a payout row waits for a card payment or refund that the start date holds."""
    from pm_xero_plugin.xero.kinds import REFUND_KINDS

    payout = row.payload
    parts = [p for i in payout.get("payment_ids") or () for p in ledger.payment_parts(str(i))]
    parts += [
        r
        for i in payout.get("refund_ids") or ()
        for k in REFUND_KINDS
        for r in ledger.rows_for(k, str(i))
    ]
    return any(
        p.tenant_id == row.tenant_id and p.state == "waiting" and p.gate in HELD_BY_RULES
        for p in parts
    )


def ledger_counts(ledger: Ledger) -> list[dict[str, Any]]:
    """The ledger's count groups (``Ledger.counts()``), with the payouts held behind records
    before the start date counted at :data:`PAYMENTS_BEFORE_START` instead of ``payments``."""
    counts = [dict(group) for group in ledger.counts()]
    if not any(g.get("gate") == "payments" for g in counts):
        return counts
    rows, _ = ledger.find_rows(held_gates=("payments",), limit=None)
    held = Counter(
        (r.tenant_id, r.location_id, r.kind)
        for r in rows
        if r.state == "waiting" and _held_by_start(ledger, r)
    )
    moved: list[dict[str, Any]] = []
    for group in counts:
        key = (str(group.get("tenant_id") or ""), str(group.get("location_id")), group["kind"])
        if group.get("gate") != "payments" or not held[key]:
            continue
        n = min(held[key], group["n"])
        held[key] -= n
        group["n"] -= n
        moved.append({**group, "gate": PAYMENTS_BEFORE_START, "n": n})
    return [g for g in counts + moved if g["n"]]


def tally(counts: Iterable[Mapping[str, Any]], kinds: tuple[str, ...] | None = None) -> Tally:
    """A :class:`Tally` of the ledger's count groups (``Ledger.counts()``), for ``kinds``."""
    found = Tally()
    for row in counts:
        if kinds and row["kind"] not in kinds:
            continue
        found.add(
            str(row.get("tenant_id") or ""), row["kind"], row["state"], row.get("gate"), row["n"]
        )
    return found


# -- words ---------------------------------------------------------------------------------------


def limit_waits(
    limiter: Limits, tenants: Iterable[str], names: Mapping[str, str], at_least: float = 1.0
) -> list[str]:
    """One phrase per organisation that must wait for one of Xero's limits (``at_least`` s)."""
    from pm_xero_plugin.dashboard.worker_progress import describe_wait

    waits = []
    for tenant_id in sorted(set(tenants)):
        wait = limiter.wait_for(tenant_id)
        limit = describe_wait(wait.reason)
        if limit is None or wait.seconds < at_least:
            continue
        waits.append(
            f"waiting {wait.seconds:.0f} s for {limit} on {names.get(tenant_id, tenant_id)}"
        )
    return waits


def stalled_lines(found: Tally, status: Mapping[str, Any], see: str) -> list[str]:
    """Why rows are still due while nothing moves: failures with Xero's first message, then the
    gates they wait behind (``status`` is the dashboard data, for the messages)."""
    from pm_xero_plugin.core.rules import gate_reason

    first_message: dict[str, str] = {}
    for failure in reversed(list(status.get("failures") or [])):  # newest first: take the oldest
        if failure.get("state") == "failed" and failure.get("message"):
            first_message[str(failure["kind"])] = str(failure["message"])
    lines = []
    for kind, n in found.failed.most_common():
        message = first_message.get(kind, "see the dashboard")
        more = f" (and {n - 1} more)" if n > 1 else ""
        lines.append(f"{kind_words(kind, n)} failed{more}: {message}")
    for (kind, gate), n in found.held.most_common():
        lines.append(f"{kind_words(kind, n)} held for an admin: {gate_reason(gate)}")
    for (kind, gate), n in found.behind.most_common():
        lines.append(f"{kind_words(kind, n)} waiting: {gate_reason(gate)}")
    if lines:
        lines[-1] += f" – see {see}"
    return lines


# -- the screen ----------------------------------------------------------------------------------


class Bar:
    """One phase's bar: ``update`` with what reached Xero, out of what is due, and a note."""

    def __init__(self, progress: Progress, task: TaskID, label: str) -> None:
        self._progress, self._task, self._label = progress, task, label

    def update(self, reached: int, total: int, note: str = "") -> None:
        from rich.markup import escape

        label = f"{self._label} [dim]{escape(note)}[/]" if note else self._label
        self._progress.update(self._task, completed=reached, total=total or None, description=label)


class Reporter:
    """Steps, lines and bars on stderr (rich), or nothing with ``quiet`` (``--json``)."""

    def __init__(self, quiet: bool) -> None:
        from rich.console import Console

        self.quiet = quiet
        self.console = Console(stderr=True, quiet=quiet)

    def step(self, text: str) -> None:
        """A step of the run (``text`` is plain: brackets in it are shown, not read as markup)."""
        from rich.markup import escape

        self.console.print(f"[bold cyan]›[/] {escape(text)}", highlight=False)

    def line(self, text: str, *, label: str = "") -> None:
        """A line under the current step, after an optional (yellow) ``label``; plain text."""
        from rich.markup import escape

        head = f"[yellow]{escape(label)}[/] " if label else ""
        self.console.print(f"  {head}{escape(text)}", highlight=False)

    @contextmanager
    def bar(self, label: str, total: int) -> Iterator[Bar]:
        """A progress bar of what reached Xero in one phase (not drawn when quiet)."""
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            "in Xero",
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
            disable=self.quiet,
        ) as progress:
            # Nothing recorded yet shows as "0/?" (a pulsing bar), not a made-up "0/1".
            yield Bar(progress, progress.add_task(label, total=total or None), label)


# -- waiting -------------------------------------------------------------------------------------


@dataclass
class WaitOutcome:
    """How a wait ended: everything settled, stalled (``why`` says on what), or out of time."""

    tally: Tally
    why: list[str] = field(default_factory=list)
    timed_out: bool = False

    @property
    def complete(self) -> bool:
        """Everything reached Xero: nothing left, nothing to explain, no time-out."""
        return self.tally.settled and not self.why and not self.timed_out


def _blocked_beyond(limiter: Limits, moving: Mapping[str, int], left: float) -> float | None:
    """The shortest limit wait among the organisations with work under way, when every one of
    them must wait longer than ``left`` seconds (and at least a few minutes); else ``None``."""
    if not moving:
        return None
    waits = [limiter.wait_for(tenant_id).seconds for tenant_id in moving]
    shortest = min(waits)
    return shortest if shortest > max(left, LONG_WAIT_SECONDS) else None


LONG_WAIT_SECONDS = 300.0
"""A limit wait longer than this (and than the phase has left) ends the phase with a line."""

STALL_GRACE_SECONDS = 1.0
"""How long "nothing under way" must last before the wait gives up: a dependant is promoted in
the same transaction its dependency is settled in, so this only covers a tick or a settings
save between two looks."""


def wait_until_settled(
    look: Callable[[], Tally],
    *,
    report: Reporter,
    label: str,
    timeout: float,
    limiter: Limits,
    names: Mapping[str, str],
    explain: Callable[[Tally], list[str]],
    busy: Callable[[], bool] = lambda: False,
    poll: float = 0.2,
    on_poll: Callable[[], None] | None = None,
) -> WaitOutcome:
    """Show a bar of what reached Xero until nothing more can; stop early when nothing can move.

    :param look: the phase's current :class:`Tally`.
    :param explain: the lines saying why a stalled tally cannot move.
    :param busy: whether more rows are still coming (background jobs recording, live rounds
        still to make): no verdict while it says so.
    :param on_poll: called before every look (the live rounds make their records here).
    """
    deadline = time.monotonic() + timeout
    stalled_since: float | None = None
    waiting_on: set[str] = set()
    found = look()
    with report.bar(label, found.total) as bar:
        while True:
            if on_poll is not None:
                on_poll()
            found = look()
            waits = limit_waits(limiter, found.moving, names) if found.moving else []
            orgs = {w.rsplit(" on ", 1)[-1]: w for w in waits}
            for org in sorted(set(orgs) - waiting_on):
                report.line(orgs[org])  # a new wait: said once, on its own line
            waiting_on = set(orgs)
            note = "; ".join(waits)
            if not note and found.retrying and found.retrying == sum(found.moving.values()):
                note = f"{found.retrying} retrying after a temporary error"
            bar.update(found.synced, found.total, note)
            blocked = _blocked_beyond(limiter, found.moving, deadline - time.monotonic())
            if blocked is not None and not busy():
                # Every organisation with work left waits on a limit that ends after this phase
                # could (Xero's day limit: hours): say so now rather than sit on it.
                return WaitOutcome(
                    found,
                    why=[
                        f"{note or f'waiting {blocked:.0f} s for Xero'}: the rest is kept and "
                        "reaches Xero once the limit resets "
                        "(run this command again then, or a worker)"
                    ],
                    timed_out=True,
                )
            if busy():
                stalled_since = None
            elif found.settled:
                # Settled, but not all in Xero: refused or held records are said, not implied.
                stuck = found.failed_total or found.held_total
                return WaitOutcome(found, why=explain(found) if stuck else [])
            elif found.stalled:
                now = time.monotonic()
                stalled_since = now if stalled_since is None else stalled_since
                if now - stalled_since >= STALL_GRACE_SECONDS:
                    return WaitOutcome(found, why=explain(found))
            else:
                stalled_since = None
            if time.monotonic() > deadline:
                left = found.total - found.synced - found.failed_total - found.held_total
                return WaitOutcome(
                    found,
                    why=[f"{left} records still on their way to Xero after {timeout:.0f} s"],
                    timed_out=True,
                )
            time.sleep(poll)
