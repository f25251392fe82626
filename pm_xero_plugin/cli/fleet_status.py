"""``pm-xero status`` on a many-practice host's root: which practices need attention, and why.

An operator running the add-on for thousands of practices does not open each practice's
dashboard to find the few that need someone. On a fleet root (``fleet.json``,
``practices/<id>/``) ``pm-xero status`` lists every practice with what it holds, worst first:
failures and rejected records an admin must act on, organisations whose Xero connection is down,
and work that has waited long for a worker (a stopped or overloaded fleet). ``--practice ID``
shows that practice's own dashboard, as on a one-practice host.

On the PostgreSQL ledger (``PM_XERO_LEDGER``) the whole picture is one read of the counts the
ledger keeps (:meth:`~pm_xero_plugin.ledger.postgres_fleet.PostgresFleet.practice_summaries`),
never a scan of the rows; on SQLite files each practice's ledger is read in turn (its counts and
organisations: how long work has waited is not known there).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = ["FleetLine", "fleet_json", "fleet_lines", "print_fleet", "reasons"]

STALE_SECONDS = 15 * 60.0
"""Work due longer than this says the fleet is not keeping up (or not running)."""


@dataclass
class FleetLine:
    """One practice on the operator's list."""

    practice_id: str
    by_state: dict[str, int] = field(default_factory=dict)
    needs_attention: int = 0
    oldest_due_seconds: float | None = None
    disconnected: list[str] = field(default_factory=list)
    why: list[str] = field(default_factory=list)
    """What needs someone, in words (empty: nothing)."""

    @property
    def attention(self) -> bool:
        """Whether someone has to look at this practice."""
        return bool(self.why)


def reasons(line: FleetLine) -> list[str]:
    """What needs someone in a practice, in an operator's words (worst first)."""
    found: list[str] = []
    if line.disconnected:
        orgs = ", ".join(line.disconnected)
        found.append(f"Xero disconnected for {orgs}: the practice's admin must connect again")
    failed = line.by_state.get("failed", 0)
    rejected = line.by_state.get("rejected", 0)
    held = max(0, line.needs_attention - failed - rejected)
    if failed:
        found.append(f"{failed} failed (Xero refused them: the admin's dashboard says why)")
    if rejected:
        found.append(f"{rejected} rejected (host data the add-on could not read)")
    if held:
        found.append(f"{held} held for an admin's decision")
    if line.oldest_due_seconds is not None and line.oldest_due_seconds > STALE_SECONDS:
        minutes = line.oldest_due_seconds / 60
        found.append(f"work due for {minutes:.0f} min: are the pm-xero workers running?")
    return found


def _sqlite_lines(root: Path, ids: list[str], now: datetime) -> list[FleetLine]:
    """Each practice's SQLite ledger read in turn (only those that have one)."""
    from pm_xero_plugin.ledger import SqliteLedger
    from pm_xero_plugin.ledger.states import ADMIN_GATES

    lines = []
    for practice_id in ids:
        path = root / "practices" / practice_id / "plugins" / "xero" / "ledger.sqlite3"
        line = FleetLine(practice_id)
        if path.is_file():
            ledger = SqliteLedger(path, clock=lambda: now)
            try:
                for count in ledger.counts():
                    state, n = str(count["state"]), int(count["n"])
                    line.by_state[state] = line.by_state.get(state, 0) + n
                    gate = count.get("gate")
                    if state in ("failed", "rejected") or (
                        state == "waiting" and gate in ADMIN_GATES
                    ):
                        line.needs_attention += n
                line.disconnected = [t.tenant_id for t in ledger.tenants() if not t.connected]
            finally:
                ledger.close()
        lines.append(line)
    return lines


def _postgres_lines(url: str, ids: list[str], now: datetime) -> list[FleetLine]:
    """One read of the PostgreSQL ledger's counts for every practice."""
    from pm_xero_plugin.ledger.postgres_store import PgStore

    store = PgStore.open(url, max_size=2)
    try:
        found = {s.practice_id: s for s in store.fleet().practice_summaries(now)}
    finally:
        store.close()
    lines = []
    for practice_id in sorted(ids):  # this root's practices: another's may share the database
        summary = found.get(practice_id)
        if summary is None:
            lines.append(FleetLine(practice_id))
            continue
        lines.append(
            FleetLine(
                practice_id,
                by_state=dict(summary.by_state),
                needs_attention=summary.needs_attention,
                oldest_due_seconds=summary.oldest_due_seconds,
                disconnected=list(summary.disconnected),
            )
        )
    return lines


def fleet_lines(root: Path, url: str | None, ids: list[str], now: datetime) -> list[FleetLine]:
    """Every practice's line, those needing attention first (most to act on first)."""
    lines = _postgres_lines(url, ids, now) if url is not None else _sqlite_lines(root, ids, now)
    for line in lines:
        line.why = reasons(line)
    return sorted(
        lines,
        key=lambda x: (not x.attention, -len(x.disconnected), -x.needs_attention, x.practice_id),
    )


def fleet_json(lines: list[FleetLine]) -> dict[str, Any]:
    """The operator's list as ``--json`` prints it."""
    return {
        "practices": [asdict(line) | {"attention": line.attention} for line in lines],
        "practices_total": len(lines),
        "needing_attention": sum(1 for line in lines if line.attention),
    }


def print_fleet(lines: list[FleetLine], root: Path) -> None:
    """The operator's list as a table."""
    from rich.console import Console
    from rich.table import Table

    attention = [line for line in lines if line.attention]
    console = Console(highlight=False)
    console.print(
        f"{len(lines)} practices; {len(attention)} need attention"
        + ("" if attention else " – every practice is syncing")
    )
    table = Table(show_edge=False)
    for column in ("practice", "synced", "on its way", "needs attention"):
        table.add_column(column, justify="right" if column in ("synced", "on its way") else "left")
    for line in lines:
        on_way = sum(line.by_state.get(s, 0) for s in ("waiting", "ready", "sending", "retrying"))
        table.add_row(
            line.practice_id,
            str(line.by_state.get("synced", 0)),
            str(on_way),
            "; ".join(line.why) or "–",
        )
    console.print(table)
    if attention:
        from pm_xero_plugin.invocation import program

        console.print(
            f"One practice's dashboard: {program()} status --data-dir {root} "
            f"--practice {attention[0].practice_id}"
        )
