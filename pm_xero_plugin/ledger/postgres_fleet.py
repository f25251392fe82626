"""The fleet's view of the PostgreSQL ledger: every practice at once, for the fleet worker and
for operators (``pm-xero status`` on a many-practice root, the workers' metrics).

* :meth:`PostgresFleet.ready_tenants` – the organisations (of any practice) with something to
  claim now, **fair**: the least recently served first (``tenant_turns``, which every claim
  stamps), so an organisation with 50,000 rows of history gets one turn like one with 5 new
  invoices, and a new organisation (never served) goes first.
* :meth:`PostgresFleet.queue_depth` and :meth:`PostgresFleet.practice_summaries` read the
  counts (folded totals plus deltas), not the rows.
* :meth:`PostgresFleet.claim_owners` – who holds rows in ``sending`` anywhere (a judge of
  liveness reads it, as ``Ledger.claim_owners`` in one practice), and
  :meth:`PostgresFleet.beat` – a worker's beat for every practice at once.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from pm_xero_plugin.ledger.postgres import FOLD_LOCK, Connections
from pm_xero_plugin.ledger.postgres_schema import counts_sql
from pm_xero_plugin.ledger.states import ADMIN_GATES
from pm_xero_plugin.ledger.types import ClaimOwner

__all__ = ["FOLD_EVERY_S", "PostgresFleet", "PracticeSummary"]

FOLD_EVERY_S: Final = 5.0
"""How often, at most, a fleet view folds the count deltas of every practice."""


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
        self._folded = -FOLD_EVERY_S

    def _q(self, sql: str, params: Collection[Any] = ()) -> list[tuple[Any, ...]]:
        with self.store.reading() as conn:
            return conn.execute(sql, list(params)).fetchall()

    def fold_counts(self, *, every: float = FOLD_EVERY_S) -> bool:
        """Fold every practice's count deltas into the totals, at most once per ``every``
        seconds of this view (the fleet's reads sum the deltas of every practice: folding
        keeps them to a few seconds' worth). Whether it folded now.

        Correct beside a practice's own fold at the same moment: each delta row is deleted by
        exactly one of them (the other skips it once gone) and added to the totals by that one.
        """
        moment = time.monotonic()
        if moment - self._folded < every:
            return False
        self._folded = moment
        with self.store.aside() as conn:
            if conn is None:
                return False
            with conn.transaction():
                (got,) = conn.execute(
                    "SELECT pg_try_advisory_xact_lock(%s, 0)", (FOLD_LOCK,)
                ).fetchone() or (False,)
                if got:
                    conn.execute(
                        "WITH moved AS (DELETE FROM counts_delta RETURNING practice_id, "
                        "tenant_id, location_id, kind, state, gate, n) "
                        "INSERT INTO counts SELECT practice_id, tenant_id, location_id, kind, "
                        "state, gate, sum(n) FROM moved GROUP BY 1, 2, 3, 4, 5, 6 "
                        "ON CONFLICT (practice_id, tenant_id, location_id, kind, state, gate) "
                        "DO UPDATE SET n = counts.n + excluded.n"
                    )
            return bool(got)

    def ready_tenants(
        self,
        now: datetime,
        *,
        take_from: Collection[str] = (),
        limit: int = 200,
        practices: Collection[str] | None = None,
    ) -> list[tuple[str, str]]:
        """(practice, organisation) pairs with something to claim now – ready rows, retries
        due, rows held by an owner in ``take_from`` (judged gone) – least recently served
        first (never served first of all), at most ``limit``.

        :param practices: only these practices (a worker serving some of them: the others'
            organisations, never claimed by it, would otherwise stay at the head of the list
            and push its own past ``limit``); ``None``: every practice.
        """
        self.fold_counts()
        ready = counts_sql("state = 'ready'")
        served = None if practices is None else sorted(practices)
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
                "AND (%s::text[] IS NULL OR d.practice_id = ANY(%s::text[])) "
                "ORDER BY t.last_claim_at NULLS FIRST, d.practice_id, d.tenant_id LIMIT %s",
                [now, sorted(take_from), served, served, limit],
            )
        ]

    def queue_depth(self) -> dict[str, int]:
        """Rows by state, fleet-wide (from the counts: no scan of the rows)."""
        self.fold_counts()
        found = self._q(f"SELECT state, sum(n) FROM ({counts_sql()}) c GROUP BY 1 ORDER BY 1")
        return {state: int(n) for state, n in found if n}

    def practice_summaries(self, now: datetime | None = None) -> list[PracticeSummary]:
        """Every practice the ledger knows: its counts by state, what needs an admin, how long
        the oldest due row has waited (``now``: the server's clock when not given), and its
        disconnected organisations; by practice id."""
        self.fold_counts()
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

    def beat(self, worker_id: str, *, hostname: str, pid: int, lease_until: datetime) -> None:
        """``worker_id`` is alive: one beat on its worker row and its claims renewed in every
        practice, in one transaction (``Ledger.beat`` of each practice's view does the same
        for that practice only: a worker serving a thousand practices beats here once)."""
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO workers (worker_id, hostname, pid, beat, beat_at) "
                "VALUES (%s, %s, %s, 1, now()) ON CONFLICT (worker_id) DO UPDATE SET "
                "beat = workers.beat + 1, hostname = excluded.hostname, pid = excluded.pid, "
                "beat_at = excluded.beat_at",
                (worker_id, hostname, pid),
            )
            conn.execute(
                "UPDATE rows SET lease_until = %s WHERE state = 'sending' AND worker_id = %s",
                (lease_until, worker_id),
            )

    def claim_owners(self) -> list[ClaimOwner]:
        """Every owner of a row in ``sending`` in any practice, with its worker row's host, pid
        and beat counter (``None`` for an owner without one)."""
        found = self._q(
            "SELECT DISTINCT coalesce(r.worker_id, ''), w.hostname, w.pid, w.beat FROM rows r "
            "LEFT JOIN workers w ON w.worker_id = r.worker_id WHERE r.state = 'sending' "
            "ORDER BY 1"
        )
        return [ClaimOwner(o, host, pid, beat) for o, host, pid, beat in found]
