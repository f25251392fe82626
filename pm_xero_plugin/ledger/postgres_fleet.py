"""The fleet's view of the PostgreSQL ledger: every practice at once, for the fleet worker and
for operators (``pm-xero status --all-practices``, the workers' metrics).

* :meth:`PostgresFleet.ready_tenants` – the organisations (of any practice) with something to
  claim now, **fair**: the least recently served first (``tenant_turns``, which every claim
  stamps), so an organisation with 50,000 rows of history gets one turn like one with 5 new
  invoices, and a new organisation (never served) goes first.
* :meth:`PostgresFleet.queue_depth` and :meth:`PostgresFleet.practice_summaries` read the
  counts (folded totals plus deltas), not the rows.
* :meth:`PostgresFleet.claim_owners` – who holds rows in ``sending`` anywhere (a judge of
  liveness reads it, as ``Ledger.claim_owners`` in one practice).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pm_xero_plugin.ledger.postgres import FOLD_AT, Connections, PostgresLedger
from pm_xero_plugin.ledger.postgres_schema import counts_sql
from pm_xero_plugin.ledger.states import ADMIN_GATES
from pm_xero_plugin.ledger.types import ClaimOwner

__all__ = ["PostgresFleet", "PracticeSummary"]


@dataclass(frozen=True)
class PracticeSummary:
    """One practice at a glance, for an operator."""

    practice_id: str
    by_state: dict[str, int] = field(default_factory=dict)
    """Rows by state (every organisation of the practice)."""
    needs_attention: int = 0
    """Rows an admin has to act on: failed, rejected, and held for an admin's decision."""
    oldest_due_seconds: float | None = None
    """How long the oldest row due now (ready, or a retry that is due) has waited; ``None``
    when nothing is due."""
    disconnected: list[str] = field(default_factory=list)
    """The practice's organisations whose Xero connection is down."""


class PostgresFleet:
    """Fleet-wide reads of a :class:`~.postgres_store.PgStore` (see the module's docstring)."""

    def __init__(self, store: Connections) -> None:
        self.store = store

    def _q(self, sql: str, params: Collection[Any] = ()) -> list[tuple[Any, ...]]:
        with self.store.reading() as conn:
            return conn.execute(sql, list(params)).fetchall()

    def fold_counts(self) -> int:
        """Fold the count deltas of every practice that has many; returns how many it folded."""
        busy = self._q(
            "SELECT practice_id FROM counts_delta GROUP BY 1 HAVING count(*) > %s", [FOLD_AT]
        )
        return sum(
            PostgresLedger(self.store, p, clock=lambda: datetime.now(UTC)).fold_counts()
            for (p,) in busy
        )

    def ready_tenants(
        self, now: datetime, *, take_from: Collection[str] = (), limit: int = 200
    ) -> list[tuple[str, str]]:
        """(practice, organisation) pairs with something to claim now – ready rows, retries
        due, rows held by an owner in ``take_from`` (judged gone) – least recently served
        first (never served first of all), at most ``limit``."""
        self.fold_counts()
        ready = counts_sql("state = 'ready'")
        return [
            (p, t)
            for p, t in self._q(
                "WITH due AS ("
                f"SELECT practice_id, tenant_id FROM ({ready}) c "
                "GROUP BY 1, 2 HAVING sum(n) > 0 "
                "UNION SELECT practice_id, tenant_id FROM rows "
                "WHERE state = 'retrying' AND next_at <= %s "
                "UNION SELECT practice_id, tenant_id FROM rows "
                "WHERE state = 'sending' AND coalesce(worker_id, '') = ANY(%s::text[])) "
                "SELECT d.practice_id, d.tenant_id FROM due d LEFT JOIN tenant_turns t "
                "ON t.practice_id = d.practice_id AND t.tenant_id = d.tenant_id "
                "WHERE d.tenant_id != '' "
                "ORDER BY t.last_claim_at NULLS FIRST, d.practice_id, d.tenant_id LIMIT %s",
                [now, sorted(take_from), limit],
            )
        ]

    def queue_depth(self) -> dict[str, int]:
        """Rows by state, fleet-wide (from the counts: no scan of the rows)."""
        found = self._q(f"SELECT state, sum(n) FROM ({counts_sql()}) c GROUP BY 1 ORDER BY 1")
        return {state: int(n) for state, n in found if n}

    def practice_summaries(self, now: datetime | None = None) -> list[PracticeSummary]:
        """Every practice the ledger knows: its counts by state, what needs an admin, how long
        the oldest due row has waited (``now``: the server's clock when not given), and its
        disconnected organisations; by practice id."""
        by_state: dict[str, dict[str, int]] = {}
        attention: dict[str, int] = {}
        for practice, state, gate, n in self._q(
            f"SELECT practice_id, state, gate, sum(n) FROM ({counts_sql()}) c GROUP BY 1, 2, 3"
        ):
            if not n:
                continue
            states = by_state.setdefault(practice, {})
            states[state] = states.get(state, 0) + int(n)
            if state in ("failed", "rejected") or (state == "waiting" and gate in ADMIN_GATES):
                attention[practice] = attention.get(practice, 0) + int(n)
        oldest = dict(
            self._q(
                "SELECT practice_id, extract(epoch FROM coalesce(%s, now()) - min(since)) "
                "FROM (SELECT practice_id, updated_at AS since FROM rows WHERE state = 'ready' "
                "UNION ALL SELECT practice_id, next_at FROM rows WHERE state = 'retrying' "
                "AND next_at <= coalesce(%s, now())) AS due GROUP BY 1",
                [now, now],
            )
        )
        disconnected: dict[str, list[str]] = {}
        for practice, tenant, connected in self._q(
            "SELECT practice_id, tenant_id, connected FROM tenants ORDER BY 1, 2"
        ):
            by_state.setdefault(practice, {})
            if not connected:
                disconnected.setdefault(practice, []).append(tenant)
        return [
            PracticeSummary(
                practice_id=p,
                by_state=dict(sorted(by_state[p].items())),
                needs_attention=attention.get(p, 0),
                oldest_due_seconds=float(oldest[p]) if oldest.get(p) is not None else None,
                disconnected=disconnected.get(p, []),
            )
            for p in sorted(by_state)
        ]

    def claim_owners(self) -> list[ClaimOwner]:
        """Every owner of a row in ``sending`` in any practice, with its worker row's host, pid
        and beat counter (``None`` for an owner without one)."""
        found = self._q(
            "SELECT DISTINCT coalesce(r.worker_id, ''), w.hostname, w.pid, w.beat FROM rows r "
            "LEFT JOIN workers w ON w.worker_id = r.worker_id WHERE r.state = 'sending' "
            "ORDER BY 1"
        )
        return [ClaimOwner(o, host, pid, beat) for o, host, pid, beat in found]
